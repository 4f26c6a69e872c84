"""The five roles: their groups, their permissions, and which pages each one may open."""
import io

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from guardian.shortcuts import assign_perm

from providers.models import Provider, Secret
from secretsadmin.roles import ROLE_NAMES, ROLE_PERMISSIONS

PAGES = ["dashboard:home", "providers:secret_list", "providers:provider_list", "rotation:request_list",
         "audit:event_list", "compliance:report_list", "admin:index"]
OK, FORBIDDEN, ADMIN_LOGIN = 200, 403, 302
# user -> expected status for each page above, in order
MATRIX = {
    "alice": [OK, OK, OK, OK, FORBIDDEN, FORBIDDEN, ADMIN_LOGIN],  # Viewer
    "bob": [OK, OK, OK, OK, FORBIDDEN, FORBIDDEN, ADMIN_LOGIN],  # Operator
    "charlie": [OK, OK, OK, OK, FORBIDDEN, FORBIDDEN, ADMIN_LOGIN],  # Approver
    "dana": [OK, OK, OK, OK, OK, OK, ADMIN_LOGIN],  # Auditor
    "erin": [OK, OK, OK, OK, OK, OK, OK],  # Administrator
}


@pytest.mark.django_db
def test_migrations_create_exactly_the_five_role_groups():
    assert set(Group.objects.values_list("name", flat=True)) >= set(ROLE_NAMES)
    assert ROLE_NAMES == ("Viewer", "Operator", "Approver", "Auditor", "Administrator")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLE_NAMES)
def test_each_role_holds_exactly_its_documented_permissions(role):
    group = Group.objects.get(name=role)
    held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
    assert held == set(ROLE_PERMISSIONS[role])


def test_no_role_can_reveal_or_run_emergency_rotations():
    for perms in ROLE_PERMISSIONS.values():
        assert "providers.reveal_secret" not in perms
        assert "providers.emergency_rotation" not in perms


def test_requesting_and_approving_are_separate_roles():
    assert "providers.approve_rotation" not in ROLE_PERMISSIONS["Operator"]
    assert "providers.request_rotation" not in ROLE_PERMISSIONS["Approver"]


def test_auditor_is_read_only():
    writes = [p for p in ROLE_PERMISSIONS["Auditor"] if p.split(".")[1].startswith(("change_", "delete_"))]
    assert writes == []


@pytest.mark.django_db
@pytest.mark.parametrize("username", list(MATRIX))
def test_each_role_opens_the_pages_it_may_and_no_other(client, role_users, username):
    client.force_login(role_users[username])
    got = [client.get(reverse(name)).status_code for name in PAGES]
    assert dict(zip(PAGES, got, strict=True)) == dict(zip(PAGES, MATRIX[username], strict=True))


@pytest.mark.django_db
def test_user_without_role_sees_only_the_dashboard(client, mallory):
    client.force_login(mallory)
    assert client.get(reverse("dashboard:home")).status_code == 200
    for name in PAGES[1:6]:
        assert client.get(reverse(name)).status_code == 403, name


@pytest.mark.django_db
def test_navigation_shows_only_sections_the_role_may_open(client, role_users):
    client.force_login(role_users["alice"])
    page = client.get(reverse("dashboard:home")).content.decode()
    assert 'href="/inventory/"' in page
    assert 'href="/audit/"' not in page
    assert 'href="/admin/"' not in page
    client.force_login(role_users["erin"])
    page = client.get(reverse("dashboard:home")).content.decode()
    assert 'href="/audit/"' in page and 'href="/admin/"' in page


@pytest.mark.django_db
def test_object_grant_shows_only_the_granted_secret(client, mallory):
    provider = Provider.objects.create(kind="aws", name="aws-prod")
    granted = Secret.objects.create(provider=provider, name="db/granted-one")
    Secret.objects.create(provider=provider, name="db/hidden-other")
    assign_perm("providers.view_secret", mallory, granted)
    client.force_login(mallory)
    page = client.get(reverse("providers:secret_list"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "db/granted-one" in body
    assert "db/hidden-other" not in body
    assert "1 in total" in body


@pytest.mark.django_db
def test_role_permissions_are_reapplied_by_sync_roles():
    from django.core.management import call_command

    viewer = Group.objects.get(name="Viewer")
    viewer.permissions.clear()
    out = io.StringIO()
    call_command("sync_roles", stdout=out)
    assert "Viewer:" in out.getvalue()
    assert viewer.permissions.count() == len(ROLE_PERMISSIONS["Viewer"])


@pytest.mark.django_db
def test_dashboard_query_count_does_not_grow_with_the_inventory(client, role_users):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    provider = Provider.objects.create(kind="aws", name="aws-prod")
    client.force_login(role_users["alice"])

    def count_queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("dashboard:home")).status_code == 200
        return len(captured)

    count_queries()  # the first request also fills per-process caches (content types)
    small = count_queries()
    Secret.objects.bulk_create(Secret(provider=provider, name=f"app/secret-{i}") for i in range(200))
    assert count_queries() == small
