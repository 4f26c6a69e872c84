"""Compliance fixtures: an evidence builder, the default period, one check run alone, and ready-made data sets.

`scenario(slug, status)` builds the data set under which that evidence check has that status (see
tests/compliance/scenarios.py) and returns the threshold overrides it needs, e.g.

    def test_it_fails(scenario, run_check):
        thresholds = scenario("rotation_within_interval", "fail")
        assert run_check("rotation_within_interval", thresholds)["status"] == "fail"
"""
import datetime as dt

import pytest
from django.utils import timezone

from compliance.checks import CHECKS, CheckContext
from compliance.thresholds import resolve
from tests.compliance.evidence import Evidence
from tests.compliance.scenarios import SCENARIOS

PERIOD_DAYS = 30


def default_period():
    """The last 30 days up to today (the pages' default once the data is older than that)."""
    today = timezone.localdate()
    return today - dt.timedelta(days=PERIOD_DAYS - 1), today


@pytest.fixture
def period():
    return default_period()


@pytest.fixture
def evidence(db):
    return Evidence()


@pytest.fixture
def run_check(db, period):
    """run_check(slug, thresholds=None, start=None, end=None) -> that check's result, as in a report."""

    def run(slug, thresholds=None, start=None, end=None):
        used = resolve({slug: thresholds} if thresholds else None, [slug])[slug]
        context = CheckContext(start or period[0], end or period[1], used)
        return CHECKS[slug].function(context)

    return run


@pytest.fixture
def scenario(evidence):
    """scenario(slug, status) -> builds that data set; returns its threshold overrides (or None)."""

    def build(slug, status):
        return SCENARIOS[(slug, status)](evidence)

    return build


def scenarios_for(area):
    """(slug, status) pairs of one area's checks, for parametrize."""
    return [key for key in SCENARIOS if CHECKS[key[0]].area == area]
