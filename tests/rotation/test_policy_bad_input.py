"""What the bad-input battery (tests/security) found in rotation policies: form input that hung or failed (now a form
error, nothing stored), and tag keys of digits that rules in SQL misread."""
import json

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from providers.models import Secret
from rotation import forms as rotation_forms
from rotation.models import PolicyAssignment, RotationPolicy
from rotation.policies import effective_policy, policy_id_expression
from tests.rotation.pages import provider_fixture, standard_policy_fixture, url  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

POLICY_FORM = {"name": "databases", "description": "", "interval_days": 30, "length": 32, "use_lowercase": "on",
               "use_uppercase": "on", "use_digits": "on", "exclude_characters": "", "required_approvals": 1,
               "grace_period_hours": 4, "target_kind": "none", "target_config": ""}


@pytest.fixture
def erin(client_for, role_users):
    return client_for(role_users["erin"])


def refused(response, field, text):
    form = response.context["form"]
    assert response.status_code == 400 and text in " ".join(form.errors.get(field, [])), form.errors
    return form


def test_a_length_beyond_the_model_limit_is_refused_before_the_generator_runs(erin, monkeypatch):
    # clean() generates one value at the chosen length to prove the settings work; at 2**63 it never returned.
    lengths = []
    real = rotation_forms.generate_secure_secret
    monkeypatch.setattr(rotation_forms, "generate_secure_secret", lambda length, **kw: (lengths.append(length),
                                                                                           real(length, **kw))[1])
    response = erin.post(reverse("rotation:policy_create"), {**POLICY_FORM, "length": 2**63})
    refused(response, "length", "less than or equal to 4096")
    assert lengths == [] and not RotationPolicy.objects.exists()
    assert erin.post(reverse("rotation:policy_create"), POLICY_FORM).status_code == 302 and lengths == [32]


@pytest.mark.parametrize(("text", "message"), [("[" * 10_000, "nested too deeply"),
                                                ('{"attempts": ' + "9" * 10_000 + "}", "a number is too long")])
def test_target_settings_the_json_parser_gives_up_on_are_a_form_error(erin, text, message):
    # RecursionError and ValueError (Python reads at most 4,300 digits as an int), not JSONDecodeError.
    response = erin.post(reverse("rotation:policy_create"), {**POLICY_FORM, "target_config": text})
    refused(response, "target_config", message)
    assert not RotationPolicy.objects.exists()


@pytest.mark.parametrize(("character", "message"), [("\ud800", "lone surrogate"), ("\x00", "NUL")])
def test_target_settings_with_an_escape_no_page_or_database_can_hold_are_refused(erin, character, message):
    # Form fields refuse NUL and never see a lone surrogate (the body is UTF-8); JSON escapes carry both.
    config = json.dumps({"url": f"https://hooks.example.invalid/{character}", "hmac_secret_env": "HOOK_KEY"})
    response = erin.post(reverse("rotation:policy_create"), {**POLICY_FORM, "target_kind": "webhook",
                                                             "target_config": config})
    refused(response, "target_config", message)
    assert not RotationPolicy.objects.exists()


def test_an_approver_group_id_beyond_64_bits_is_a_form_error(erin):
    # SQLite cannot compare such a number at all: Django's lookup raised OverflowError.
    for bad in (str(2**63), "-1", "١", "9" * 10_000):
        response = erin.post(reverse("rotation:policy_create"), {**POLICY_FORM, "approver_groups": [bad]})
        refused(response, "approver_groups", "is not a valid value")
    good = Group.objects.get(name="Approver").pk
    assert erin.post(reverse("rotation:policy_create"), {**POLICY_FORM, "approver_groups": [good]}).status_code == 302


def test_an_assignment_priority_beyond_the_column_is_a_form_error(erin, standard_policy, provider):
    before = PolicyAssignment.objects.count()
    form = {"provider": provider.pk, "secret_name": "", "environment": "staging", "tag_key": "", "tag_value": ""}
    response = erin.post(url("assignment_create", standard_policy), {**form, "priority": 2**31})
    refused(response, "priority", "less than or equal to")
    assert PolicyAssignment.objects.count() == before
    assert erin.post(url("assignment_create", standard_policy), {**form, "priority": 2**31 - 1}).status_code == 302


@pytest.mark.parametrize("tag_value", ["yes", ""])
def test_a_rule_on_a_tag_key_of_digits_governs_in_the_database_as_it_does_in_python(provider, tag_value):
    # Django reads a key of digits as an array index: such a rule matched nothing in SQL (the inventory's
    # intervals, the scheduler, the compliance checks, the policy page) though effective_policy() applied it.
    policy = RotationPolicy.objects.create(name="yearly", interval_days=365)
    PolicyAssignment.objects.create(policy=policy, tag_key="2024", tag_value=tag_value)
    tagged = Secret.objects.create(provider=provider, name="app/tagged#key", tags={"2024": "yes"})
    other = Secret.objects.create(provider=provider, name="app/other#key", tags={"2025": "yes", "0": "yes"})
    governing = dict(Secret.objects.annotate(policy_id=policy_id_expression()).values_list("name", "policy_id"))
    assert governing == {"app/tagged#key": policy.pk, "app/other#key": None}
    assert (effective_policy(tagged), effective_policy(other)) == (policy, None)


def test_a_tag_key_beyond_64_bits_does_not_break_the_policy_page(erin, provider):
    policy = RotationPolicy.objects.create(name="odd", interval_days=30)
    PolicyAssignment.objects.create(policy=policy, tag_key=str(2**63), tag_value="1")
    Secret.objects.create(provider=provider, name="app/odd#key", tags={str(2**63): "1"})
    page = erin.get(policy.get_absolute_url())
    assert page.status_code == 200 and 'data-testid="governed-count">Governs 1 secret ' in page.content.decode()
