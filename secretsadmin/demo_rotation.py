"""The demo's rotation policies: a standard one for every secret, and an auto-approving one already overdue.

So that a new user sees a rotation happen: `manage.py rotate_due_secrets` on a fresh demo queues the
overdue OpenBao secret at once (its policy auto-approves scheduled runs) and the demo's worker takes it
to "succeeded".
"""
from datetime import timedelta

from django.utils import timezone

from providers.models import Provider, Secret
from rotation.models import PolicyAssignment, RotationPolicy

OVERDUE_SECRET = "apps/payments/database#password"  # noqa: S105 - a secret's name, not its value


def seed_demo_policies():
    """Create (or refresh) the demo policies and their assignments; returns the overdue secret's name."""
    standard, _ = RotationPolicy.objects.update_or_create(name="standard-90-days", defaults={
        "description": "Every demo secret: rotate quarterly, one approver, old version valid for a day.",
        "interval_days": 90, "length": 32, "required_approvals": 1, "grace_period_hours": 24,
        "auto_approve_scheduled": False, "target": {}})
    monthly, _ = RotationPolicy.objects.update_or_create(name="database-30-days-auto", defaults={
        "description": "Database passwords that rotate monthly; scheduled runs need no approval.",
        "interval_days": 30, "length": 40, "use_symbols": True, "exclude_characters": "'\"\\`$",
        "required_approvals": 1, "grace_period_hours": 0, "auto_approve_scheduled": True, "target": {}})
    for provider in Provider.objects.filter(name__in=["demo-vault", "demo-aws"]):
        PolicyAssignment.objects.get_or_create(policy=standard, provider=provider, environment="", tag_key="",
                                               defaults={"priority": 100})
    secret = Secret.objects.filter(provider__name="demo-vault", name=OVERDUE_SECRET).first()
    if secret is not None:
        PolicyAssignment.objects.update_or_create(secret=secret, defaults={"policy": monthly})
        # Demo history: last rotated six weeks ago, so it is overdue under its 30-day policy.
        Secret.objects.filter(pk=secret.pk).update(last_rotated_at=timezone.now() - timedelta(days=45))
    return OVERDUE_SECRET
