"""The bad-input battery: every form of the application, each hostile payload (tests/security/payloads.py).

For every submission: never a 500; either a form error shown on a 200/400 page (and not one stored row altered or
lost: the whole application's tables are fingerprinted around it) or a success that stored the text exactly and
shows it escaped. GET filter forms change nothing and echo what they were given escaped.
"""
import functools
import importlib
import pkgutil

import django_filters
import pytest
from django import forms
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from django.utils.module_loading import import_string

from audit.models import AuditEvent
from tests.conftest import ROLE_USERS, mark_second_factor_verified
from tests.security import fingerprint
from tests.security.form_table import ENTRIES, FORM_BASES, Fill
from tests.security.payloads import PAYLOADS, as_received, encode

PROJECT_PACKAGES = ("audit", "providers", "rotation", "compliance", "secretsadmin")
NOT_IMPORTED = {"secretsadmin.wsgi", "secretsadmin.asgi"}
FORM_ERROR_MARKERS = ("invalid-feedback", "alert-danger", "errorlist", "errornote")
MESSAGE_ERROR_MARKER = "alert-danger alert-dismissible"  # messages.error() after a redirect
ENTRIES_BY_NAME = {entry.name: entry for entry in ENTRIES}


def project_form_classes():
    """Dotted names of every Form, ModelForm, formset and FilterSet class defined in the project's packages."""
    found = set()
    for package in PROJECT_PACKAGES:
        for info in pkgutil.walk_packages(importlib.import_module(package).__path__, prefix=f"{package}."):
            if ".migrations" in info.name or info.name in NOT_IMPORTED:
                continue
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if (isinstance(value, type) and value.__module__ == module.__name__
                        and issubclass(value, forms.BaseForm | forms.BaseFormSet | django_filters.FilterSet)):
                    found.add(f"{value.__module__}.{value.__qualname__}")
    return found


def test_every_form_class_of_the_project_is_in_the_battery():
    found = project_form_classes()
    claimed = {name for entry in ENTRIES for name in entry.forms}
    uncovered = sorted(found - claimed - set(FORM_BASES))
    assert not uncovered, f"forms the battery does not submit (add them to tests/security/form_table.py): {uncovered}"
    project = tuple(f"{package}." for package in PROJECT_PACKAGES)
    stale = sorted(name for name in claimed | set(FORM_BASES) if name.startswith(project) and name not in found)
    assert not stale, f"the battery names form classes that no longer exist: {stale}"
    assert len(found) >= 20  # the discovery itself works: the project had 25 form classes when this was written


# ---------------------------------------------------------------------------------------------------- helpers


def _spy_on_forms(entry, monkeypatch):
    """Records the classes of the forms built during the test, to prove the entry reaches the forms it claims."""
    built = set()
    for dotted in entry.forms:
        cls = import_string(dotted)
        original = cls.__init__

        def spy(self, *args, _original=original, _dotted=dotted, **kwargs):
            built.add(_dotted)  # an instance of the class or of a subclass (the admin derives its own)
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", spy)
    return built


def _person(world, name):
    return world[name] if name in ROLE_USERS or name == "mallory" else getattr(world, name)


def _fill(entry, group, payload, data):
    """Put the payload into the group's fields; returns {field: the text a success must store}."""
    if isinstance(group, Fill):
        group.fill(payload, data)
        return {group.name: group.expected(payload)}
    expected = {}
    for name in group:
        data[name] = entry.wrap.get(name, lambda p: p)(payload)
        expected[name] = as_received(payload).strip()
    return expected


def _submit(client, entry, url, data):
    if entry.method == "GET":
        return client.get(f"{url}?{encode(data)}")
    return client.post(url, encode(data), content_type="application/x-www-form-urlencoded")


def _page(response):
    if response.streaming:
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def _assert_escaped(page, values, where):
    for name, value in values.items():
        assert not fingerprint.raw_markup_leaks(page, value), f"{name} shown unescaped on {where}"


def _assert_nothing_changed(before, where):
    difference = fingerprint.compare(before, fingerprint.take())
    assert not difference.lost, f"{where}: rows lost {difference.lost}"
    assert not difference.altered, f"{where}: rows altered {difference.altered}"
    added = difference.added_outside(fingerprint.APPEND_ONLY)
    assert not added, f"{where}: rows added {sorted(added)}"


def _judge_get(entry, response, before, expected):
    assert response.status_code in (200, 302, 400), f"{entry.name}: answered {response.status_code}"
    page = _page(response)
    if entry.document:
        # A download or a plain-text refusal: never HTML, and the browser may not sniff it into HTML.
        assert not response["Content-Type"].startswith("text/html") and response["X-Content-Type-Options"] == "nosniff"
    else:
        _assert_escaped(page, expected, response.request["PATH_INFO"])
    _assert_nothing_changed(before, entry.name)


def _outcome(entry, world, client, response):
    """("success" | "refused", the page that says so)."""
    status = response.status_code
    if entry.success_page and status == 200 and response.context and response.context.get(entry.success_page):
        return "success", _page(response)
    if entry.not_found and status == 404:
        page = _page(response)
        assert "Not found" in page, "a 404 without the page that says so"
        return "refused", page
    if status in (301, 302, 303):
        target = entry.show(world, response) if entry.show else response["Location"]
        followed = client.get(target)
        assert followed.status_code == 200, f"{target}, after the submission, answered {followed.status_code}"
        page = _page(followed)
        return ("refused" if MESSAGE_ERROR_MARKER in page else "success"), page
    page = _page(response)
    assert status in (200, 400), f"answered {status}: neither a form error nor a success"
    assert any(marker in page for marker in FORM_ERROR_MARKERS), f"answered {status} without showing an error"
    return "refused", page


def _judge_success(entry, auditor, page, before, expected, group):
    """`page` shows the result (the redirect's target, the entry's `show` page, or the reveal itself)."""
    after = fingerprint.take()
    difference = fingerprint.compare(before, after)
    assert all(label in entry.writes for label, _ in difference.lost), f"rows lost: {difference.lost}"
    assert all(label in entry.writes for label, _ in difference.altered), f"rows altered: {difference.altered}"
    written = set(fingerprint.text_leaves(difference.new_and_changed_rows(after)))
    fields = {group.name} if isinstance(group, Fill) else set(group)
    stored = {group.name} if isinstance(group, Fill) else fields & set(entry.stored)
    for name in stored:
        assert expected[name] in written, f"{name} was accepted but not stored exactly"
    for name in fields & set(entry.never_stored):
        if len(expected[name]) >= 8:  # shorter ones ("-1", "NaN") are everywhere
            assert not any(expected[name] in text for text in written), f"{name} reached the database"
    shown_fields = {group.name} if isinstance(group, Fill) else fields & set(entry.shown)
    for name in shown_fields:
        assert fingerprint.shows_escaped(page, expected[name]), f"{name} is not shown (escaped) after the success"
    _assert_escaped(page, expected, "the result page")
    if any(escape(value) != value for value in expected.values()):
        # The audit trail shows what was done, to the auditor: escaped there too.
        for row in difference.added.get("audit.auditevent", []):
            detail = auditor().get(reverse("audit:event_detail", args=[AuditEvent.objects.get(pk=row[0]).uuid]))
            assert detail.status_code == 200
            _assert_escaped(_page(detail), expected, "the audit event's page")


# ---------------------------------------------------------------------------------------------------- the battery

# Pages of the second-factor check itself: force_login() then leaves the session unverified.
CASES = [pytest.param(entry.name, payload, id=f"{entry.name}-{payload}",
                      marks=[] if entry.verified else [pytest.mark.real_mfa])
         for entry in ENTRIES for payload in PAYLOADS]


@pytest.mark.django_db
@pytest.mark.parametrize(("entry_name", "payload_name"), CASES)
def test_a_form_refuses_or_stores_bad_input_safely(entry_name, payload_name, world, client, settings, monkeypatch):
    entry, payload = ENTRIES_BY_NAME[entry_name], PAYLOADS[payload_name]
    built = _spy_on_forms(entry, monkeypatch)
    if entry.setup:
        entry.setup(world, settings)
    url = entry.url(world)
    user = _person(world, entry.user) if entry.user else None

    @functools.cache
    def auditor():
        other = Client()
        other.force_login(world["dana"])
        mark_second_factor_verified(other, world["dana"])  # already done by force_login, unless under real_mfa
        return other

    for group in entry.groups:
        if user is not None and client.session.get("_auth_user_id") != str(user.pk):
            client.force_login(user)  # once, unless a success signed someone in (the login entry)
        data = entry.valid(world)
        expected = _fill(entry, group, payload, data)
        before = fingerprint.take()
        response = _submit(client, entry, url, data)
        assert response.status_code < 500
        if entry.method == "GET":
            _judge_get(entry, response, before, expected)
            continue
        outcome, page = _outcome(entry, world, client, response)
        if outcome == "refused":
            _assert_escaped(page, expected, f"the refusal of {entry.name}")
            _assert_nothing_changed(before, f"refused {entry.name} ({group})")
        else:
            _judge_success(entry, auditor, page, before, expected, group)
        if user is None:
            client.logout()
    assert built >= set(entry.forms), f"{entry.name} never built {set(entry.forms) - built}"
