"""The IDOR walk: every URL that takes an object id, tried with real objects by a user with no grants.

New views are covered without anyone remembering: the URL patterns are walked, not listed.
"""
import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

import audit
from audit.models import AuditEvent
from compliance.models import ComplianceReport
from providers.models import Provider, Secret
from rotation.models import RotationPolicy, RotationRequest


def _object_routes(patterns=None, namespace=""):
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _object_routes(entry.url_patterns, ns)
        elif isinstance(entry, URLPattern) and "uuid" in entry.pattern.converters and entry.name:
            yield f"{namespace}{entry.name}"


ROUTES = sorted(set(_object_routes()))


@pytest.fixture
def objects(role_users):
    provider = Provider.objects.create(kind="aws", name="aws-prod", settings={"region": "eu-west-1"})
    secret = Secret.objects.create(provider=provider, name="prod/db")
    event = audit.record("secret.retrieval", actor="system", secret_name="prod/db")
    return [
        provider, secret, AuditEvent.objects.get(uuid=event["uuid"]),
        RotationRequest.objects.create(secret=secret, requested_by=role_users["bob"], reason="test"),
        RotationPolicy.objects.create(name="test-policy"),
        ComplianceReport.objects.create(framework="nist-800-53", period_start=timezone.now(),
                                        period_end=timezone.now(), sha256="0" * 64),
    ]


def test_the_walk_finds_object_routes():
    assert {"providers:provider_detail", "providers:provider_edit", "audit:event_detail"} <= set(ROUTES)


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES)
def test_a_user_without_grants_cannot_reach_any_object(client, mallory, objects, route):
    client.force_login(mallory)
    for obj in objects:
        url = reverse(route, kwargs={"uuid": obj.uuid})
        # 405 for a POST-only action answers the same for every id, so it reveals nothing either.
        assert client.get(url).status_code in (403, 404, 405), f"GET {url} ({type(obj).__name__})"
        assert client.post(url).status_code in (403, 404, 405), f"POST {url} ({type(obj).__name__})"


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES)
def test_the_walk_is_not_vacuous_someone_can_reach_each_route(client, django_user_model, objects, route):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.invalid", "x" * 16))
    answers = {client.get(reverse(route, kwargs={"uuid": obj.uuid})).status_code for obj in objects}
    assert answers & {200, 302, 405}, f"{route} answered {answers} to a superuser for every object"
