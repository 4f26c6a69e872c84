"""Fixtures and helpers shared by the rotation page tests: a provider nobody listens on, a policy, a secret."""
import pytest
from django.urls import reverse

from providers.models import Provider, Secret
from rotation.models import PolicyAssignment, RotationPolicy, RotationRequest
from rotation.services import request_rotation
from tests.conftest import free_port

# Fixtures are registered under `name=`; test modules import the *_fixture functions, so that the test
# arguments of the same name do not shadow an import.


@pytest.fixture(name="provider")
def provider_fixture(monkeypatch):
    # Nothing listens: the secret page's live version list fails fast, and no view here needs the provider.
    monkeypatch.setenv("SA_ROTATION_VIEWS_TOKEN", "not-used-nothing-listens")
    return Provider.objects.create(kind="vault", name="vault-prod",
                                   settings={"address": f"http://127.0.0.1:{free_port()}"},
                                   auth_reference={"method": "env", "variables": {"token": "SA_ROTATION_VIEWS_TOKEN"}})


@pytest.fixture(name="standard_policy")
def standard_policy_fixture(provider):
    policy = RotationPolicy.objects.create(name="standard", length=24, required_approvals=1, grace_period_hours=2,
                                           target={"kind": "none"})
    PolicyAssignment.objects.create(policy=policy, provider=provider)
    return policy


@pytest.fixture(name="db_secret")
def db_secret_fixture(provider, standard_policy):
    return Secret.objects.create(provider=provider, name="app/db#password", environment="production")


@pytest.fixture(name="pending")
def pending_fixture(db_secret, role_users):
    return request_rotation(db_secret, actor=role_users["bob"], reason="Quarterly rotation")


def url(name, obj):
    return reverse(f"rotation:{name}", kwargs={"uuid": obj.uuid})


def body(response):
    return response.content.decode()


def reload(rotation):
    return RotationRequest.objects.get(pk=rotation.pk)

