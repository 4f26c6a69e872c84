"""A provider-supplied name cannot read as another name: invisible and direction-changing characters are shown.

A secret named "app/db#pass<U+202E>drow" (right-to-left override) reads on screen as "app/db#password" reversed at
the override; an approver must see what they approve. Pages, page titles and notification emails show such
characters as code points; an ordinary name renders exactly as before.
"""
import pytest
from django.template import Context, Template
from django.urls import reverse

from audit.models import AuditEvent
from providers.models import Secret
from rotation import notifications
from rotation.services import request_rotation
from secretsadmin.lookalikes import with_code_points
from tests.rotation.pages import body, provider_fixture, standard_policy_fixture, url  # noqa: F401 - fixtures

OVERRIDE, ZERO_WIDTH = "\u202e", "\u200b"
LOOKALIKE = f"app/db#pass{OVERRIDE}drow"  # shows as "app/db#password" in a right-to-left-overridden run


def render(name, form=None):
    argument = f':"{form}"' if form else ""
    return Template(f"{{{{ name|visible_controls{argument} }}}}").render(Context({"name": name}))


def test_an_ordinary_name_renders_as_before_escaped():
    assert render("app/db#password") == "app/db#password"
    assert render("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_hidden_characters_become_marked_code_points_in_an_isolated_name():
    shown = render(f"<x>{ZERO_WIDTH}y{OVERRIDE}")
    assert shown == ('<bdi class="has-control-chars">&lt;x&gt;'
                     '<span class="control-char" title="ZERO WIDTH SPACE">U+200B</span>y'
                     '<span class="control-char" title="RIGHT-TO-LEFT OVERRIDE">U+202E</span></bdi>')


def test_in_plain_text_they_are_written_in_brackets():
    assert render(f"<x>{OVERRIDE}", "text") == "&lt;x&gt;[U+202E]"
    assert with_code_points("a\u2066b\u2028c\x07d") == "a[U+2066]b[U+2028]c[U+0007]d"
    assert with_code_points("émoji 🔑 ok") == "émoji 🔑 ok"  # letters and symbols of any script are not hidden


@pytest.fixture
def lookalike_run(provider, standard_policy, role_users):
    secret = Secret.objects.create(provider=provider, name=LOOKALIKE, environment="production")
    return request_rotation(secret, actor=role_users["bob"], reason="Quarterly rotation")


@pytest.mark.django_db
def test_every_page_an_approver_decides_on_shows_the_override(client_for, role_users, lookalike_run):
    secret = lookalike_run.secret
    pages = {
        "inventory": reverse("providers:secret_list"),
        "secret": secret.get_absolute_url(),
        "approvals queue": reverse("rotation:approval_queue"),
        "rotation": url("request_detail", lookalike_run),
        "rotations": reverse("rotation:request_list"),
        "audit log": reverse("audit:event_list"),
        "audit event": reverse("audit:event_detail", args=[
            AuditEvent.objects.get(event_type="rotation.requested").uuid]),
    }
    for page, address in pages.items():
        reader = role_users["dana" if page.startswith("audit") else "charlie"]  # auditor, approver
        response = client_for(reader).get(address)
        assert response.status_code == 200, page
        text = body(response)
        assert OVERRIDE not in text, page
        assert 'title="RIGHT-TO-LEFT OVERRIDE">U+202E</span>' in text, page
    assert "<title>Rotation of app/db#pass[U+202E]drow · SecretsAdmin</title>" in body(
        client_for(role_users["charlie"]).get(url("request_detail", lookalike_run)))


@pytest.mark.django_db
def test_the_approvers_email_names_the_override(role_users, lookalike_run, mailoutbox, settings):
    settings.ROTATION_NOTIFY_EMAIL, settings.ROTATION_NOTIFY_WEBHOOK_URL = True, ""
    notifications.send_rotation_notification_job("filed", lookalike_run.pk)
    [message] = mailoutbox
    assert message.subject == "[SecretsAdmin] Rotation of vault-prod:app/db#pass[U+202E]drow needs your approval"
    assert OVERRIDE not in message.subject + message.body
