"""Authentication evidence: the people who hold privileged actions sign in with a second factor."""
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef, Q
from django_otp.plugins.otp_totp.models import TOTPDevice

from compliance.checks.access import holders
from compliance.checks.base import FAIL, NOT_APPLICABLE, PARTIAL, PASS, check, drilldown, percent, plural, result
from secretsadmin import roles


def privileged_people(ctx):
    """Active accounts at the period's end that may approve, reveal or run emergency rotations, members of the
    roles that must use two-factor sign-in, and superusers."""
    required = Group.objects.filter(name__in=settings.MFA_REQUIRED_ROLES)
    return get_user_model().objects.filter(
        Q(pk__in=holders("approve", "reveal", "emergency").values("pk")) | Q(groups__in=required)
        | Q(is_superuser=True), is_active=True, date_joined__lt=ctx.as_of).distinct()


@check("mfa_privileged", title="Privileged people sign in with two factors", rule="""
    Everyone who may approve, reveal or run an emergency rotation at the period's end, every member of the roles
    two-factor sign-in is required of, and every superuser has a confirmed authenticator (TOTP) set up before the
    period's end. Pass when all have and the configuration requires two factors of Approvers and Administrators;
    partial when at least {partial_percent}% have; fail otherwise; not applicable with no such people.""")
def mfa_privileged(ctx):
    enrolled = TOTPDevice.objects.filter(user_id=OuterRef("pk"), confirmed=True, created_at__lt=ctx.as_of)
    people = privileged_people(ctx).annotate(enrolled=Exists(enrolled))
    required_roles = sorted(settings.MFA_REQUIRED_ROLES)
    figures = {"privileged_people": people.count(), "enrolled": people.filter(enrolled=True).count(),
               "required_roles": ", ".join(required_roles) or "none"}
    figures["enrolled_percent"] = percent(figures["enrolled"], figures["privileged_people"])
    rows = drilldown("Privileged people without an authenticator", ["Person", "Superuser", "Joined"],
                     people.filter(enrolled=False).order_by("username").values_list(
                         "username", "is_superuser", "date_joined"))
    if not figures["privileged_people"]:
        return result(NOT_APPLICABLE, "Nobody holds a privileged action", figures, rows)
    missing = figures["privileged_people"] - figures["enrolled"]
    people_text = plural(figures["privileged_people"], "privileged person", "privileged people")
    summary = f"{figures['enrolled']} of {people_text} use two factors"
    enforced = {roles.APPROVER, roles.ADMINISTRATOR} <= set(required_roles)
    if not enforced:
        summary += "; the configuration does not require two factors of Approvers and Administrators"
    if not missing and enforced:
        return result(PASS, summary, figures, rows)
    return result(PARTIAL if figures["enrolled_percent"] >= ctx.thresholds["partial_percent"] else FAIL, summary,
                  figures, rows)
