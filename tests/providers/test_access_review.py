"""The access review: who can act on each secret and through which grant, its CSV export and recorded reviews."""
import csv
import io

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from guardian.shortcuts import assign_perm

from audit.models import AuditEvent
from providers.access_review import AccessReview
from providers.models import Provider, Secret
from providers.permissions_services import AccessMatrix, access_matrix
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
REVIEW = reverse("access:review")
ALL = ["view_secret", "reveal_secret", "request_rotation", "approve_rotation", "emergency_rotation",
       "change_secret", "manage_permissions"]


@pytest.fixture
def inventory():
    prod = Provider.objects.create(kind="aws", name="aws-prod", settings={"region": "eu-west-1"})
    dev = Provider.objects.create(kind="vault", name="vault-dev", settings={"address": "http://127.0.0.1:1"})
    return {
        "prod": prod, "dev": dev,
        "prod_db": Secret.objects.create(provider=prod, name="prod/db"),
        "prod_api": Secret.objects.create(provider=prod, name="prod/api"),
        "dev_db": Secret.objects.create(provider=dev, name="dev/db"),
    }


def rows_of(queryset, **filters):
    return {(row.secret.name, row.user.username, row.via): row.actions for row in access_matrix(queryset, **filters)}


def test_the_matrix_resolves_roles_group_grants_on_providers_and_direct_grants_on_secrets(role_users, mallory,
                                                                                       inventory):
    payments = Group.objects.create(name="payments")
    mallory.groups.add(payments)
    assign_perm("providers.reveal_provider_secrets", payments, inventory["prod"])
    assign_perm("providers.view_provider", payments, inventory["prod"])
    assign_perm("providers.emergency_rotation", mallory, inventory["prod_db"])
    rows = rows_of(Secret.objects.all())

    # Roles apply to every secret.
    assert rows["dev/db", "alice", "role:Viewer"] == ["view_secret"]
    assert rows["prod/db", "bob", "role:Operator"] == ["view_secret", "request_rotation"]
    assert rows["prod/api", "charlie", "role:Approver"] == ["view_secret", "approve_rotation"]
    assert rows["prod/db", "erin", "role:Administrator"] == ["view_secret", "change_secret", "manage_permissions"]
    # A group's grant on a provider: every secret of that provider, no other.
    assert rows["prod/db", "mallory", "group:payments on provider"] == ["view_secret", "reveal_secret"]
    assert rows["prod/api", "mallory", "group:payments on provider"] == ["view_secret", "reveal_secret"]
    # A direct grant on one secret: that secret only.
    assert rows["prod/db", "mallory", "direct on secret"] == ["emergency_rotation"]
    assert {key for key in rows if key[1] == "mallory"} == {
        ("prod/db", "mallory", "group:payments on provider"), ("prod/api", "mallory", "group:payments on provider"),
        ("prod/db", "mallory", "direct on secret")}
    # Secrets in queryset order; within one, users by name and the broadest path first.
    ordered = [(row.secret.name, row.user.username, row.via) for row in access_matrix(Secret.objects.all())]
    assert ordered[:6] == [
        ("prod/api", "alice", "role:Viewer"), ("prod/api", "bob", "role:Operator"),
        ("prod/api", "charlie", "role:Approver"), ("prod/api", "dana", "role:Auditor"),
        ("prod/api", "erin", "role:Administrator"), ("prod/api", "mallory", "group:payments on provider")]


def test_the_matrix_includes_superusers_and_direct_global_permissions_but_not_inactive_users(
        django_user_model, inventory):
    django_user_model.objects.create_superuser("root", "root@example.invalid", "x" * 16)
    global_user = make_user("gus")
    assign_perm("providers.reveal_provider_secrets", global_user)
    gone = make_user("gone")
    assign_perm("providers.view_secret", gone, inventory["dev_db"])
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    rows = rows_of(Secret.objects.filter(pk=inventory["dev_db"].pk))
    assert rows == {("dev/db", "gus", "global permission"): ["reveal_secret"],
                    ("dev/db", "root", "superuser"): ALL}


def test_the_matrix_filters_by_user_and_action(role_users, mallory, inventory):
    assign_perm("providers.reveal_secret", mallory, inventory["dev_db"])
    assign_perm("providers.view_secret", mallory, inventory["dev_db"])
    assert rows_of(Secret.objects.all(), username="mallory") == {
        ("dev/db", "mallory", "direct on secret"): ["view_secret", "reveal_secret"]}
    revealers = rows_of(Secret.objects.all(), action="reveal_secret")
    assert list(revealers) == [("dev/db", "mallory", "direct on secret")]
    assert len(rows_of(Secret.objects.all(), action="approve_rotation")) == 3  # charlie, on each secret


def _many_secrets(count, mallory):
    provider = Provider.objects.create(kind="aws", name=f"aws-{count}")
    team, _ = Group.objects.get_or_create(name="team")
    mallory.groups.add(team)
    for index in range(count):
        secret = Secret.objects.create(provider=provider, name=f"s/{index}")
        assign_perm("providers.view_secret", mallory, secret)
        assign_perm("providers.request_rotation", team, secret)
    assign_perm("providers.view_provider", team, provider)
    return Secret.objects.filter(provider=provider)


def _matrix_queries(queryset):
    with CaptureQueriesContext(connection) as queries:
        rows = sum(1 for _ in access_matrix(queryset))
    return len(queries), rows


def test_the_matrix_query_count_does_not_grow_with_the_number_of_secrets(role_users, mallory):
    few_queries, few_rows = _matrix_queries(_many_secrets(5, mallory))
    many_queries, many_rows = _matrix_queries(_many_secrets(40, mallory))
    # five roles + group on provider + group on secret + direct on secret, per secret
    assert (few_rows, many_rows) == (5 * 8, 40 * 8)
    assert few_queries == many_queries == 10


def test_the_review_page_query_count_does_not_grow_with_the_number_of_secrets(client_for, role_users, mallory):
    client = client_for(role_users["dana"])
    counts = []
    for count in (5, 40):
        provider = _many_secrets(count, mallory).first().provider
        client.get(REVIEW, {"provider": provider.name})  # warm the session and the permission caches
        with CaptureQueriesContext(connection) as queries:
            assert client.get(REVIEW, {"provider": provider.name}).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_an_access_matrix_can_be_iterated_again_without_reloading_grants(role_users, inventory):
    matrix = AccessMatrix(Secret.objects.all())
    first = list(matrix)
    with CaptureQueriesContext(connection) as queries:
        assert [tuple(row) for row in matrix] == [tuple(row) for row in first]
    assert len(queries) == 1  # the secrets only
    assert matrix.count() == len(first) == 15


def test_auditors_and_administrators_may_open_the_review_others_may_not(client_for, role_users, mallory,
                                                                         inventory):
    for name in ("dana", "erin"):
        assert client_for(role_users[name]).get(REVIEW).status_code == 200
    for name in ("alice", "bob", "charlie"):
        assert client_for(role_users[name]).get(REVIEW).status_code == 403
        assert client_for(role_users[name]).post(REVIEW, {"note": "x"}).status_code == 403
    assert client_for(mallory).get(REVIEW).status_code == 403
    assert not AccessReview.objects.exists()


def test_the_page_filters_by_provider_user_and_action(client_for, role_users, mallory, inventory):
    assign_perm("providers.reveal_secret", mallory, inventory["prod_db"])
    client = client_for(role_users["dana"])
    page = client.get(REVIEW, {"provider": "aws-prod"}).content.decode()
    assert "prod/db" in page and "prod/api" in page and "dev/db" not in page
    page = client.get(REVIEW, {"user": "mallory"}).content.decode()
    assert page.count('data-testid="access-row"') == 1 and "direct on secret" in page
    page = client.get(REVIEW, {"action": "approve_rotation", "provider": "vault-dev"}).content.decode()
    assert page.count('data-testid="access-row"') == 1 and "charlie" in page


def test_an_invalid_filter_is_an_error_and_shows_no_rows(client_for, role_users, inventory):
    response = client_for(role_users["dana"]).get(REVIEW, {"provider": "no-such-provider", "action": "fly"})
    page = response.content.decode()
    assert response.status_code == 200 and page.count('data-testid="filter-error"') == 2
    assert 'data-testid="access-row"' not in page


def test_the_page_is_paginated(client_for, role_users, mallory):
    _many_secrets(40, mallory)  # 320 rows
    client = client_for(role_users["dana"])
    first = client.get(REVIEW).content.decode()
    assert first.count('data-testid="access-row"') == 50 and "Page 1 of 7" in first
    last = client.get(REVIEW, {"page": 7}).content.decode()
    assert last.count('data-testid="access-row"') == 20


def test_csv_export_streams_the_filtered_matrix_and_is_audited(client_for, role_users, mallory, inventory):
    assign_perm("providers.reveal_secret", mallory, inventory["prod_db"])
    response = client_for(role_users["erin"]).get(REVIEW, {"format": "csv", "provider": "aws-prod"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="access-review-')
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["provider", "secret", "secret_uuid", "user", "actions", "via"]
    assert ["aws-prod", "prod/db", str(inventory["prod_db"].uuid), "mallory", "reveal_secret",
            "direct on secret"] in rows
    assert len(rows) == 1 + 2 * 5 + 1 and all(row[0] == "aws-prod" for row in rows[1:])
    event = AuditEvent.objects.get(event_type="report.exported")
    assert event.actor_name == "erin"
    assert event.details == {"report": "access_review", "format": "csv", "filters": {"provider": "aws-prod"}}


def test_csv_export_neutralises_formulas_and_refuses_invalid_filters(client_for, role_users, inventory):
    Secret.objects.create(provider=inventory["dev"], name="=HYPERLINK(\"http://evil\")")
    client = client_for(role_users["dana"])
    body = b"".join(client.get(REVIEW, {"format": "csv"}).streaming_content).decode()
    assert "'=HYPERLINK" in body and "\n=HYPERLINK" not in body and ",=HYPERLINK" not in body
    assert client.get(REVIEW, {"format": "csv", "action": "fly"}).status_code == 400
    assert AuditEvent.objects.filter(event_type="report.exported").count() == 1


def test_recording_a_review_needs_a_note(client_for, role_users, inventory):
    response = client_for(role_users["dana"]).post(REVIEW, {"note": "   "})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not AccessReview.objects.exists()
    assert not AuditEvent.objects.filter(event_type="report.generated").exists()


def test_recording_a_review_stores_and_audits_it(client_for, role_users, inventory):
    client = client_for(role_users["dana"])
    response = client.post(f"{REVIEW}?provider=aws-prod", {"note": "Checked prod with the owners."})
    assert response.status_code == 302 and response["Location"] == f"{REVIEW}?provider=aws-prod"
    review = AccessReview.objects.get()
    assert (review.reviewed_by, review.scope, review.rows_reviewed, review.note) == (
        role_users["dana"], "provider=aws-prod", 10, "Checked prod with the owners.")
    event = AuditEvent.objects.get(event_type="report.generated")
    assert event.actor_name == "dana" and event.target_id == str(review.uuid)
    assert event.details == {"report": "access_review", "review": str(review.uuid), "scope": "provider=aws-prod",
                             "rows_reviewed": 10, "note": "Checked prod with the owners."}
    client.post(REVIEW, {"note": "Everything."})
    assert AccessReview.objects.first().scope == "all"


def test_notes_and_group_names_are_escaped(client_for, role_users, mallory, inventory):
    evil = Group.objects.create(name="<img src=x onerror=alert(1)>")
    mallory.groups.add(evil)
    assign_perm("providers.view_provider", evil, inventory["dev"])
    client = client_for(role_users["dana"])
    client.post(REVIEW, {"note": "<script>alert('note')</script>"})
    page = client.get(REVIEW, {"user": "mallory"}).content.decode()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script>alert(" not in page and "&lt;script&gt;alert(&#x27;note&#x27;)&lt;/script&gt;" in page
