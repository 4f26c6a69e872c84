"""Rotation policy pages: every role reads them; Administrators create, edit and assign them, audited."""
import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from rotation.models import PolicyAssignment, RotationPolicy
from tests.rotation.pages import (  # noqa: F401  (fixtures, used by name)
    body,
    db_secret_fixture,
    provider_fixture,
    standard_policy_fixture,
    url,
)

pytestmark = pytest.mark.django_db

POLICY_FORM = {"name": "databases", "description": "", "interval_days": 30, "length": 32, "use_lowercase": "on",
               "use_uppercase": "on", "use_digits": "on", "exclude_characters": "", "required_approvals": 2,
               "grace_period_hours": 4, "target_kind": "none", "target_config": ""}


def test_policies_are_listed_for_every_role_and_show_where_they_apply(client_for, role_users, db_secret,
                                                                     standard_policy):
    client = client_for(role_users["alice"])
    assert "standard" in body(client.get(reverse("rotation:policy_list")))
    page = body(client.get(standard_policy.get_absolute_url()))
    assert "provider vault-prod" in page and 'data-testid="governed-count">Governs 1 secret ' in page
    assert reverse("rotation:policy_edit", kwargs={"uuid": standard_policy.uuid}) not in page


def test_policy_create_and_edit_are_for_administrators_and_audited(client_for, role_users, standard_policy):
    bob = client_for(role_users["bob"])
    assert bob.get(reverse("rotation:policy_create")).status_code == 403
    assert bob.post(reverse("rotation:policy_create"), POLICY_FORM).status_code == 403
    assert bob.post(url("policy_edit", standard_policy), POLICY_FORM).status_code == 403

    erin = client_for(role_users["erin"])
    response = erin.post(reverse("rotation:policy_create"), {**POLICY_FORM, "approver_groups": [
        Group.objects.get(name="Approver").pk]})
    policy = RotationPolicy.objects.get(name="databases")
    assert response.status_code == 302 and response["Location"] == policy.get_absolute_url()
    assert (policy.required_approvals, policy.target, list(policy.approver_groups.values_list("name", flat=True))) \
        == (2, {"kind": "none"}, ["Approver"])
    created = AuditEvent.objects.get(event_type="rotation.policy_changed", details__action="created")
    assert created.actor == role_users["erin"] and created.target_id == str(policy.uuid)

    response = erin.post(url("policy_edit", policy), {**POLICY_FORM, "length": 40})
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.length == 40 and not policy.approver_groups.exists()
    changed = AuditEvent.objects.get(event_type="rotation.policy_changed", details__action="changed")
    assert changed.details["changes"]["length"] == [32, 40]
    assert changed.details["changes"]["approver_groups"] == [["Approver"], []]


def test_target_settings_are_validated_on_the_form(client_for, role_users):
    erin = client_for(role_users["erin"])
    create = reverse("rotation:policy_create")
    response = erin.post(create, {**POLICY_FORM, "target_kind": "webhook",
                                  "target_config": '{"url": "http://example.com/hook", "hmac_secret_env": "HOOK"}'})
    assert response.status_code == 400
    assert re.search(r'data-testid="field-error">[^<]*&quot;url&quot; must be https', body(response))
    response = erin.post(create, {**POLICY_FORM, "target_config": "{not json"})
    assert response.status_code == 400 and "Not valid JSON" in body(response)
    response = erin.post(create, {**POLICY_FORM, "target_kind": "webhook", "target_config":
                                  '{"url": "https://hooks.example/rotate", "hmac_secret_env": "HOOK_KEY"}'})
    assert response.status_code == 302
    assert RotationPolicy.objects.get().target["url"] == "https://hooks.example/rotate"


def test_policy_assignments_are_added_and_removed_by_administrators(client_for, role_users, db_secret,
                                                                  standard_policy):
    other = RotationPolicy.objects.create(name="strict", required_approvals=2)
    new = url("assignment_create", other)
    assert client_for(role_users["bob"]).post(new, {"environment": "production", "priority": 1}).status_code == 403
    erin = client_for(role_users["erin"])
    response = erin.post(new, {"priority": 100})
    assert response.status_code == 400 and "Say where the policy applies" in body(response)
    response = erin.post(new, {"provider": db_secret.provider.pk, "secret_name": db_secret.name, "priority": 100})
    assert response.status_code == 302
    assignment = PolicyAssignment.objects.get(policy=other)
    assert assignment.secret == db_secret
    assert 'data-testid="effective-policy">strict<' in body(erin.get(db_secret.get_absolute_url()))
    assert erin.post(url("assignment_delete", other), {"assignment": assignment.pk}).status_code == 302
    assert not PolicyAssignment.objects.filter(policy=other).exists()
    actions = list(AuditEvent.objects.filter(event_type="rotation.policy_changed").order_by("sequence")
                   .values_list("details__action", flat=True))
    assert actions == ["assigned", "unassigned"]



def test_policy_list_query_count_does_not_grow_with_rows(client_for, role_users, standard_policy):
    client = client_for(role_users["alice"])
    for index in range(3):
        RotationPolicy.objects.create(name=f"policy-{index}")
    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("rotation:policy_list")).status_code == 200
    for index in range(3, 30):
        RotationPolicy.objects.create(name=f"policy-{index}")
    with CaptureQueriesContext(connection) as many:
        response = client.get(reverse("rotation:policy_list"))
    assert body(response).count('class="rotation-row"') == 31
    assert len(many) == len(few)
