"""The dashboard's charts: server-side SVG with the right bars, an accessible name, and the data as a table."""
import re

import pytest

from secretsadmin.charts import scale_top
from tests.foundation.dashboard_data import (
    WEEKLY_FAILED,
    WEEKLY_FAILED_VAULT,
    WEEKLY_SUCCEEDED,
    WEEKLY_SUCCEEDED_VAULT,
)
from tests.foundation.dashboard_page import get_home, read

pytestmark = pytest.mark.django_db


def charts(client, user):
    return read(get_home(client, user)).charts


def column(chart, index):
    return [int(row[index][0]) for row in chart.rows]


def test_rotations_per_week_counts_succeeded_and_failed_runs_over_twelve_weeks(client, role_users, scenario):
    chart = charts(client, role_users["alice"])["chart-rotations"]
    assert len(chart.rows) == 12 and chart.rows[-1][0][0].startswith("7 days to ")
    assert column(chart, 1) == WEEKLY_SUCCEEDED and column(chart, 2) == WEEKLY_FAILED


def test_rotations_per_week_draws_one_bar_segment_per_nonzero_figure(client, role_users, scenario):
    chart = charts(client, role_users["alice"])["chart-rotations"]
    drawn = {(series, label): value for series, label, value in chart.bars}
    weeks = [row[0][0] for row in chart.rows]
    wanted = {(series, week): value for series, column_ in (("succeeded", WEEKLY_SUCCEEDED), ("failed", WEEKLY_FAILED))
              for week, value in zip(weeks, column_, strict=True) if value}
    assert drawn == wanted


def test_rotations_per_week_of_a_one_provider_grant_counts_that_providers_runs(client, vault_viewer):
    chart = charts(client, vault_viewer)["chart-rotations"]
    assert column(chart, 1) == WEEKLY_SUCCEEDED_VAULT and column(chart, 2) == WEEKLY_FAILED_VAULT


def test_secret_age_is_bucketed_against_each_secrets_policy(client, role_users, scenario):
    chart = charts(client, role_users["alice"])["chart-age"]
    assert [[cell[0] for cell in row] for row in chart.rows] == [
        ["Under half", "3 (38%)"], ["Half to full", "2 (25%)"], ["Overdue", "3 (38%)"]]
    assert [(series, value) for series, _, value in chart.bars] == [("fresh", 3), ("aging", 2), ("overdue", 3)]
    assert chart.rows[2][0][1] == "/inventory/?rotation=overdue&status=active"


def test_overdue_by_provider_ranks_providers_and_links_to_their_overdue_secrets(client, role_users, scenario):
    chart = charts(client, role_users["alice"])["chart-overdue-provider"]
    assert [(row[0][0], row[1][0]) for row in chart.rows] == [("aws-prod", "2 of 5"), ("vault-dev", "1 of 3")]
    assert [(label, value) for _, label, value in chart.bars] == [("aws-prod", 2), ("vault-dev", 1)]
    assert chart.rows[0][0][1] == "/inventory/?provider=aws-prod&rotation=overdue&status=active"


def test_overdue_by_environment_ignores_case_and_names_secrets_without_one(client, role_users, scenario):
    chart = charts(client, role_users["alice"])["chart-overdue-environment"]
    assert [(row[0][0], row[1][0]) for row in chart.rows] == [
        ("prod", "2 of 4"), ("dev", "1 of 2"), ("(none)", "0 of 1"), ("staging", "0 of 1")]
    links = {row[0][0]: row[0][1] for row in chart.rows}
    assert links["(none)"] == "" and links["prod"] == "/inventory/?environment=prod&rotation=overdue&status=active"


def test_each_chart_row_links_to_a_list_of_exactly_its_overdue_secrets(client, role_users, scenario):
    page = charts(client, role_users["alice"])
    for chart_id in ("chart-overdue-provider", "chart-overdue-environment"):
        for (label, href), (figure, _) in (row for row in page[chart_id].rows):
            if href:
                assert client.get(href).context["page"].paginator.count == int(figure.split()[0]), label


def test_a_one_provider_grants_charts_show_that_provider_only(client, vault_viewer):
    page = charts(client, vault_viewer)
    assert [row[0][0] for row in page["chart-overdue-provider"].rows] == ["vault-dev"]
    assert [(row[0][0], row[1][0]) for row in page["chart-overdue-environment"].rows] == [
        ("dev", "1 of 2"), ("(none)", "0 of 1")]


def test_every_chart_is_an_image_named_by_its_title_and_described_by_its_data(client, role_users, scenario):
    page = charts(client, role_users["alice"])
    assert len(page) == 4
    for chart_id, chart in page.items():
        assert chart.svg["role"] == "img"
        assert chart.svg["aria-labelledby"] == f"{chart_id}-title" and chart.title
        assert chart.svg["aria-describedby"] == f"{chart_id}-desc" and chart.desc
        assert chart.tables == 2  # one behind "Show the data as a table", one that only prints
    assert page["chart-rotations"].desc.endswith("in the last 7 days 2 succeeded and 1 failed.")


def test_charts_use_classes_not_inline_styles(client, role_users, scenario):
    client.force_login(role_users["alice"])
    html = client.get("/").content.decode()
    assert " style=" not in html and "<style" not in html
    assert len(re.findall(r'<rect class="chart-series-', html)) >= 8


def test_the_data_tables_head_their_rows_and_columns(client, role_users, scenario):
    client.force_login(role_users["alice"])
    html = client.get("/").content.decode()
    assert html.count('data-chart-table="chart-age"') == 2
    table = html.split('data-chart-table="chart-age"', 1)[1].split("</table>", 1)[0]
    assert table.count('<th scope="col">') == 2 and table.count('<th scope="row">') == 3


@pytest.mark.parametrize(("largest", "top", "step"), [(0, 1, 1), (1, 1, 1), (3, 3, 1), (7, 8, 2), (9, 10, 5),
                                                      (2058, 3000, 1000), (63648, 80000, 20000)])
def test_the_value_axis_ends_on_a_round_number(largest, top, step):
    assert scale_top(largest) == (top, step)
