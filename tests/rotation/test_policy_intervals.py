"""The inventory judges each secret's age against its own policy's interval (overdue filter, age colour)."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from providers.filters import rotation_age, rotation_interval_days
from providers.models import Provider, Secret
from rotation.models import PolicyAssignment, RotationPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def inventory(db):
    provider = Provider.objects.create(kind="aws", name="intervals", settings={"region": "us-east-1"})
    now = timezone.now()

    def secret(name, days_ago, **fields):
        return Secret.objects.create(provider=provider, name=name, last_rotated_at=now - timedelta(days=days_ago),
                                     **fields)

    return {
        "weekly-late": secret("weekly-late", 10, environment="prod"),     # 7-day policy by environment: overdue
        "weekly-fresh": secret("weekly-fresh", 3, environment="prod"),    # 7-day policy: fine
        "default-45": secret("default-45", 45),                           # no policy: 90-day default, fine
        "own-late": secret("own-late", 45, environment="prod"),           # its own 30-day policy wins: overdue
        "default-100": secret("default-100", 100),                        # no policy: overdue by the default
    }


@pytest.fixture
def policies(inventory):
    weekly = RotationPolicy.objects.create(name="weekly", interval_days=7)
    monthly = RotationPolicy.objects.create(name="monthly", interval_days=30)
    PolicyAssignment.objects.create(policy=weekly, environment="prod")
    PolicyAssignment.objects.create(policy=monthly, secret=inventory["own-late"])
    return weekly, monthly


def test_intervals_come_from_the_governing_policy(inventory, policies):
    assert rotation_interval_days(inventory["weekly-late"]) == 7
    assert rotation_interval_days(inventory["own-late"]) == 30
    assert rotation_interval_days(inventory["default-45"]) == 90
    assert rotation_age(inventory["weekly-late"]).state == "overdue"
    assert rotation_age(inventory["weekly-fresh"]).state == "due-soon"  # within 14 days of a 7-day interval
    assert rotation_age(inventory["default-45"]).state == "ok"


def test_the_overdue_filter_uses_each_secrets_own_interval(inventory, policies, role_users, client_for):
    page = client_for(role_users["alice"]).get(reverse("providers:secret_list"), {"rotation": "overdue"})
    assert page.status_code == 200
    shown = {name for name in inventory if f">{name}<" in page.content.decode()}
    assert shown == {"weekly-late", "own-late", "default-100"}
