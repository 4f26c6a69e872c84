"""The permissions tab of providers and secrets: who may use it, audited grants and revokes, form errors."""
import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from guardian.shortcuts import assign_perm

from audit.models import AuditEvent
from providers.models import Provider, Secret, SecretGroupObjectPermission, SecretUserObjectPermission
from providers.permissions_services import grant_object_permission, grants_on, revoke_object_permission
from secretsadmin.permissions import has_permission

pytestmark = pytest.mark.django_db


@pytest.fixture
def inventory():
    prod = Provider.objects.create(kind="aws", name="aws-prod", settings={"region": "eu-west-1"})
    return {
        "prod": prod,
        "prod_db": Secret.objects.create(provider=prod, name="prod/db"),
        "prod_api": Secret.objects.create(provider=prod, name="prod/api"),
    }


def secret_url(secret):
    return reverse("access:secret_permissions", args=[secret.uuid])


def provider_url(provider):
    return reverse("access:provider_permissions", args=[provider.uuid])


def grant(client, url, name, action, grantee_type="user"):
    return client.post(url, {"operation": "grant", "grantee_type": grantee_type, "name": name, "action": action})


def permission_events():
    return list(AuditEvent.objects.filter(event_type__startswith="permission.").order_by("sequence"))


def test_erin_grants_and_revokes_through_the_page_and_each_change_is_audited(client_for, role_users, mallory,
                                                                            inventory):
    client = client_for(role_users["erin"])
    secret = inventory["prod_db"]
    assert client.get(secret_url(secret)).status_code == 200

    assert grant(client, secret_url(secret), "mallory", "view_secret").status_code == 302
    assert grant(client, secret_url(secret), "mallory", "reveal_secret").status_code == 302
    assert has_permission(mallory, "providers.reveal_secret", secret)
    page = client.get(secret_url(secret)).content.decode()
    assert "mallory" in page and "Reveal value" in page

    response = client.post(secret_url(secret), {"operation": "revoke", "grantee_type": "user",
                                                "grantee_id": mallory.pk, "action": "reveal_secret"})
    assert response.status_code == 302
    mallory = type(mallory).objects.get(pk=mallory.pk)  # a fresh user: guardian caches nothing, but be sure
    assert not has_permission(mallory, "providers.reveal_secret", secret)
    assert has_permission(mallory, "providers.view_secret", secret)

    events = permission_events()
    assert [e.event_type for e in events] == ["permission.granted", "permission.granted", "permission.revoked"]
    assert [e.details for e in events] == [
        {"permission": "providers.view_secret", "grantee": "user:mallory", "before": [], "after": ["view_secret"]},
        {"permission": "providers.reveal_secret", "grantee": "user:mallory", "before": ["view_secret"],
         "after": ["view_secret", "reveal_secret"]},
        {"permission": "providers.reveal_secret", "grantee": "user:mallory",
         "before": ["view_secret", "reveal_secret"], "after": ["view_secret"]},
    ]
    assert {(e.actor_name, e.target_type, e.target_id, e.provider, e.secret_name) for e in events} == {
        ("erin", "providers.secret", str(secret.uuid), "aws-prod", "prod/db")}


def test_group_grants_on_a_provider_are_audited_and_cover_its_secrets(client_for, role_users, mallory, inventory):
    team = Group.objects.create(name="payments")
    mallory.groups.add(team)
    client = client_for(role_users["erin"])
    assert grant(client, provider_url(inventory["prod"]), "payments", "reveal_provider_secrets",
                 "group").status_code == 302
    assert has_permission(mallory, "providers.reveal_secret", inventory["prod_api"])
    (event,) = permission_events()
    assert event.target_type == "providers.provider" and event.details["grantee"] == "group:payments"
    assert event.details["after"] == ["reveal_provider_secrets"]
    # The secret's tab shows the provider's grant as inherited, read-only.
    page = client.get(secret_url(inventory["prod_api"])).content.decode()
    assert "Inherited from provider" in page and "payments" in page


def test_granting_what_is_held_or_revoking_what_is_not_changes_nothing(role_users, mallory, inventory):
    erin, secret = role_users["erin"], inventory["prod_db"]
    assert grant_object_permission(secret, mallory, "providers.view_secret", actor=erin) is True
    assert grant_object_permission(secret, mallory, "view_secret", actor=erin) is False
    assert revoke_object_permission(secret, mallory, "reveal_secret", actor=erin) is False
    assert len(permission_events()) == 1
    assert grants_on(secret) == [(mallory, ["view_secret"])]


def test_the_service_refuses_actions_of_the_other_kind(role_users, mallory, inventory):
    with pytest.raises(ValueError, match="cannot be granted"):
        grant_object_permission(inventory["prod_db"], mallory, "view_provider", actor=role_users["erin"])
    assert not SecretUserObjectPermission.objects.exists() and not permission_events()


def test_grants_on_lists_users_then_groups(role_users, mallory, inventory):
    erin, secret = role_users["erin"], inventory["prod_db"]
    team = Group.objects.create(name="ops")
    grant_object_permission(secret, team, "request_rotation", actor=erin)
    grant_object_permission(secret, mallory, "reveal_secret", actor=erin)
    grant_object_permission(secret, mallory, "view_secret", actor=erin)
    assert grants_on(secret) == [(mallory, ["view_secret", "reveal_secret"]), (team, ["request_rotation"])]


def test_a_manager_of_one_secret_manages_that_secret_and_no_other(client_for, role_users, mallory, inventory):
    assign_perm("providers.view_secret", mallory, inventory["prod_db"])
    assign_perm("providers.manage_permissions", mallory, inventory["prod_db"])
    client = client_for(mallory)
    assert client.get(secret_url(inventory["prod_db"])).status_code == 200
    assert grant(client, secret_url(inventory["prod_db"]), "alice", "reveal_secret").status_code == 302
    assert has_permission(role_users["alice"], "providers.reveal_secret", inventory["prod_db"])

    # Cannot see the other secret: it does not exist for her. Seeing it is not enough to manage it.
    assert client.get(secret_url(inventory["prod_api"])).status_code == 404
    assert grant(client, secret_url(inventory["prod_api"]), "alice", "reveal_secret").status_code == 404
    assign_perm("providers.view_secret", mallory, inventory["prod_api"])
    assert client.get(secret_url(inventory["prod_api"])).status_code == 403
    assert grant(client, secret_url(inventory["prod_api"]), "alice", "reveal_secret").status_code == 403
    assert not has_permission(role_users["alice"], "providers.reveal_secret", inventory["prod_api"])
    # A secret grant does not reach the provider's tab.
    assert client.get(provider_url(inventory["prod"])).status_code == 404


def test_a_provider_manager_manages_the_secrets_of_that_provider(client_for, mallory, inventory):
    assign_perm("providers.view_provider", mallory, inventory["prod"])
    assign_perm("providers.manage_provider_permissions", mallory, inventory["prod"])
    client = client_for(mallory)
    assert client.get(provider_url(inventory["prod"])).status_code == 200
    assert client.get(secret_url(inventory["prod_api"])).status_code == 200


def test_a_viewer_is_refused_and_a_stranger_sees_nothing(client_for, role_users, mallory, inventory):
    alice = client_for(role_users["alice"])
    for url in (secret_url(inventory["prod_db"]), provider_url(inventory["prod"])):
        assert alice.get(url).status_code == 403
        assert grant(alice, url, "alice", "view_secret").status_code == 403
    stranger = client_for(mallory)
    for url in (secret_url(inventory["prod_db"]), provider_url(inventory["prod"])):
        assert stranger.get(url).status_code == 404
        assert grant(stranger, url, "mallory", "view_secret").status_code == 404
    assert not SecretUserObjectPermission.objects.exists() and not permission_events()


@pytest.mark.parametrize(("grantee_type", "name", "action", "message"), [
    ("user", "nobody", "view_secret", "There is no active user named"),
    ("group", "no-such-team", "view_secret", "There is no group named"),
    ("user", "mallory", "view_provider", "Select a valid choice"),
    ("user", "mallory", "", "This field is required"),
    ("robot", "mallory", "view_secret", "Select a valid choice"),
])
def test_bad_grants_are_form_errors_and_change_nothing(client_for, role_users, mallory, inventory, grantee_type,
                                                       name, action, message):
    client = client_for(role_users["erin"])
    response = grant(client, secret_url(inventory["prod_db"]), name, action, grantee_type)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not SecretUserObjectPermission.objects.exists() and not SecretGroupObjectPermission.objects.exists()
    assert not permission_events()


def test_a_deactivated_account_cannot_be_granted_but_can_be_revoked(client_for, role_users, mallory, inventory):
    secret = inventory["prod_db"]
    assign_perm("providers.view_secret", mallory, secret)
    mallory.is_active = False
    mallory.save(update_fields=["is_active"])
    client = client_for(role_users["erin"])
    response = grant(client, secret_url(secret), "mallory", "reveal_secret")
    assert "There is no active user named" in response.content.decode()
    response = client.post(secret_url(secret), {"operation": "revoke", "grantee_type": "user",
                                                "grantee_id": mallory.pk, "action": "view_secret"})
    assert response.status_code == 302 and not SecretUserObjectPermission.objects.exists()


def test_revoking_a_grant_of_a_deleted_group_is_an_error_message_not_a_500(client_for, role_users, inventory):
    client = client_for(role_users["erin"])
    response = client.post(secret_url(inventory["prod_db"]), {"operation": "revoke", "grantee_type": "group",
                                                              "grantee_id": 999999, "action": "view_secret"},
                           follow=True)
    assert response.status_code == 200 and "no longer exists" in response.content.decode()


def test_revoking_your_own_right_to_manage_sends_you_back_to_the_inventory(client_for, mallory, inventory):
    secret = inventory["prod_db"]
    assign_perm("providers.view_secret", mallory, secret)
    assign_perm("providers.manage_permissions", mallory, secret)
    response = client_for(mallory).post(secret_url(secret), {
        "operation": "revoke", "grantee_type": "user", "grantee_id": mallory.pk, "action": "manage_permissions"})
    assert response.status_code == 302 and response["Location"] == reverse("providers:secret_list")


def test_html_in_group_names_is_escaped(client_for, role_users, inventory):
    Group.objects.create(name="<script>alert(1)</script>")
    client = client_for(role_users["erin"])
    url = secret_url(inventory["prod_db"])
    assert grant(client, url, "<script>alert(1)</script>", "view_secret", "group").status_code == 302
    page = client.get(url).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # And in the form error for an unknown one.
    page = grant(client, url, "<b>ghost</b>", "view_secret", "group").content.decode()
    assert "<b>ghost</b>" not in page and "&lt;b&gt;ghost&lt;/b&gt;" in page


def test_the_page_uses_no_inline_script_or_style(client_for, role_users, mallory, inventory):
    assign_perm("providers.view_secret", mallory, inventory["prod_db"])
    page = client_for(role_users["erin"]).get(secret_url(inventory["prod_db"])).content.decode()
    assert "<script>" not in page and "style=" not in page and " onclick=" not in page
