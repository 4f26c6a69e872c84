"""Times appear in the viewer's time zone (the browser's, from the tz cookie), with UTC on hover."""
import datetime as dt

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

import audit
from audit.models import AuditEvent
from secretsadmin.timezones import zone_named

MOMENT = dt.datetime(2026, 7, 1, 12, 30, 45, 123456, tzinfo=dt.UTC)


def render(text, **context):
    return Template(text).render(Context(context))


def test_a_time_shows_in_the_active_zone_with_utc_on_hover():
    with timezone.override(zone_named("Europe/Berlin")):
        html = render("{{ moment|when }}", moment=MOMENT)
    assert html == ('<time datetime="2026-07-01T12:30:45.123456Z" title="2026-07-01 12:30:45 UTC">'
                    "2026-07-01 14:30 CEST</time>")


def test_precisions_and_empty_values():
    with timezone.override(zone_named("America/New_York")):
        assert ">2026-07-01 08:30:45 EDT<" in render('{{ moment|when:"seconds" }}', moment=MOMENT)
        assert ">2026-07-01 08:30:45.123456 EDT<" in render('{{ moment|when:"micro" }}', moment=MOMENT)
        assert ">2026-07-01<" in render('{{ moment|when:"date" }}', moment=MOMENT)
        assert render("{{ moment|when }}", moment=None) == ""


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "../../etc/passwd", "Europe/Berlin" + "x" * 80, "<script>"])
def test_only_zones_the_system_knows_are_accepted(name):
    assert zone_named(name) is None


@pytest.mark.django_db
def test_pages_follow_the_browsers_zone_cookie_and_fall_back_to_the_sites(client, role_users):
    auditor = role_users["dana"]
    audit.record("auth.login", actor=auditor)
    client.force_login(auditor)
    event = AuditEvent.objects.latest("sequence")
    utc_text = event.timestamp.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    tokyo_text = event.timestamp.astimezone(zone_named("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M:%S")
    client.cookies["tz"] = "Asia/Tokyo"
    page = client.get(reverse("audit:event_list")).content.decode()
    assert f'title="{utc_text} UTC">{tokyo_text} JST</time>' in page
    client.cookies["tz"] = "Not/AZone"
    page = client.get(reverse("audit:event_list")).content.decode()
    assert f'title="{utc_text} UTC">{utc_text} UTC</time>' in page
