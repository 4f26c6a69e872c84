"""Planner settings for aggregate-heavy transactions: set for that transaction only, and only on PostgreSQL."""
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from secretsadmin.db_tuning import tune_for_aggregates

pytestmark = pytest.mark.django_db(transaction=True)


def show(name):
    with connection.cursor() as cursor:
        cursor.execute(f"SHOW {name}")
        return cursor.fetchone()[0]


def test_settings_last_for_the_transaction_only_on_postgresql_and_cost_nothing_elsewhere():
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        tune_for_aggregates(work_mem="64MB", random_page_cost="1.1")
        if connection.vendor == "postgresql":
            assert (show("jit"), show("work_mem"), show("random_page_cost")) == ("off", "64MB", "1.1")
    if connection.vendor == "postgresql":
        assert len([q for q in queries.captured_queries if "set_config" in q["sql"]]) == 1  # one round trip
        assert show("work_mem") != "64MB" and show("random_page_cost") != "1.1"  # gone with the transaction
    else:
        assert not [q for q in queries.captured_queries if "set_config" in q["sql"] or "PRAGMA" in q["sql"]]
