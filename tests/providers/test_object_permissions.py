"""Object permissions: provider grants cover its secrets, group grants count, grants go with their object."""
import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from guardian.shortcuts import assign_perm

from providers.models import Provider, Secret, SecretUserObjectPermission
from secretsadmin.permissions import has_permission, holds_permission_anywhere, objects_for_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def inventory():
    prod = Provider.objects.create(kind="aws", name="aws-prod", settings={"region": "eu-west-1"})
    dev = Provider.objects.create(kind="vault", name="vault-dev", settings={"address": "http://127.0.0.1:1"})
    return {
        "prod": prod, "dev": dev,
        "prod_db": Secret.objects.create(provider=prod, name="prod/db"),
        "prod_api": Secret.objects.create(provider=prod, name="prod/api"),
        "dev_db": Secret.objects.create(provider=dev, name="dev/db#password"),
    }


def visible(user):
    return set(objects_for_user(user, "providers.view_secret", Secret.objects.all()).values_list("name", flat=True))


def test_a_provider_grant_applies_to_all_its_secrets(mallory, inventory):
    assign_perm("providers.view_provider", mallory, inventory["prod"])
    assert visible(mallory) == {"prod/db", "prod/api"}
    assert holds_permission_anywhere(mallory, "providers.view_secret")


def test_a_secret_grant_applies_to_that_secret_only(mallory, inventory):
    assign_perm("providers.view_secret", mallory, inventory["dev_db"])
    assert visible(mallory) == {"dev/db#password"}


def test_group_grants_count_like_user_grants(mallory, inventory):
    team = Group.objects.create(name="payments-team")
    mallory.groups.add(team)
    assign_perm("providers.reveal_provider_secrets", team, inventory["prod"])
    assert has_permission(mallory, "providers.reveal_secret", inventory["prod_db"])
    assert not has_permission(mallory, "providers.reveal_secret", inventory["dev_db"])


def test_roles_global_permissions_still_apply(role_users, inventory):
    assert visible(role_users["alice"]) == {"prod/db", "prod/api", "dev/db#password"}
    assert not has_permission(role_users["alice"], "providers.reveal_secret", inventory["prod_db"])


def test_grants_are_removed_with_their_object(mallory, inventory):
    assign_perm("providers.view_secret", mallory, inventory["dev_db"])
    inventory["dev_db"].delete()
    assert not SecretUserObjectPermission.objects.exists()


def test_inventory_page_follows_provider_grants(client, mallory, inventory):
    assign_perm("providers.view_provider", mallory, inventory["dev"])
    client.force_login(mallory)
    body = client.get(reverse("providers:secret_list")).content.decode()
    assert "dev/db#password" in body and "prod/db" not in body and "prod/api" not in body
