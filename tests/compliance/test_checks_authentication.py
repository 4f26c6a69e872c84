"""Authentication evidence: privileged people have a confirmed authenticator, as of the period's end."""
import datetime as dt

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from guardian.shortcuts import assign_perm

from secretsadmin import roles
from tests.compliance.conftest import scenarios_for
from tests.compliance.evidence import ago


@pytest.mark.parametrize(("slug", "status"), scenarios_for("authentication"))
def test_each_data_set_gives_its_status(slug, status, scenario, run_check):
    assert run_check(slug, scenario(slug, status))["status"] == status


def authenticator(user, *, confirmed=True, days=30):
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=confirmed)
    TOTPDevice.objects.filter(pk=device.pk).update(created_at=ago(days))
    return device


def test_everyone_privileged_is_counted_however_they_hold_it(evidence, run_check):
    provider = evidence.provider("aws-prod")
    granted, root = evidence.user("rita"), evidence.user("root", superuser=True)
    assign_perm("reveal_provider_secrets", granted, provider)  # an object grant, no role
    approver = evidence.user("ann", roles.APPROVER)
    evidence.user("vic", roles.VIEWER)  # not privileged
    for user in (granted, root, approver):
        authenticator(user)
    gone = evidence.user("gone", roles.ADMINISTRATOR)
    gone.is_active = False
    gone.save()
    outcome = run_check("mfa_privileged")
    assert outcome["figures"]["privileged_people"] == outcome["figures"]["enrolled"] == 3
    assert outcome["status"] == "pass" and outcome["drilldown"]["rows"] == []


def test_an_unconfirmed_or_later_authenticator_does_not_count(evidence, run_check, period):
    authenticator(evidence.user("half", roles.APPROVER), confirmed=False)
    authenticator(evidence.user("late", roles.ADMINISTRATOR), days=0)  # set up after the period below ended
    authenticator(evidence.user("fine", roles.APPROVER), days=30)
    outcome = run_check("mfa_privileged", end=period[1] - dt.timedelta(days=2))
    assert [row[0] for row in outcome["drilldown"]["rows"]] == ["half", "late"]
    assert outcome["status"] == "fail" and outcome["summary"] == "1 of 3 privileged people use two factors"


def test_a_configuration_that_does_not_require_two_factors_is_at_best_partial(evidence, run_check, settings):
    settings.MFA_REQUIRED_ROLES = ["Administrator"]
    authenticator(evidence.user("ann", roles.APPROVER))
    outcome = run_check("mfa_privileged")
    assert outcome["status"] == "partial"
    assert "does not require two factors of Approvers and Administrators" in outcome["summary"]
    assert outcome["figures"]["required_roles"] == "Administrator"


def test_nobody_privileged_is_not_applicable(evidence, run_check):
    evidence.user("vic", roles.VIEWER)
    assert run_check("mfa_privileged")["status"] == "not_applicable"
