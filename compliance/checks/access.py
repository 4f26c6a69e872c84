"""Access evidence: who holds reveal/approve/emergency, access reviews, separation of duties, accounts, sign-ins."""
from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, Subquery

from audit.models import AuditEvent
from compliance.checks.base import (
    FAIL,
    NOT_APPLICABLE,
    PARTIAL,
    PASS,
    check,
    combined,
    drilldown,
    percent,
    plural,
    result,
)
from providers.access_review import AccessReview
from providers.models import (
    ProviderGroupObjectPermission,
    ProviderUserObjectPermission,
    SecretGroupObjectPermission,
    SecretUserObjectPermission,
)
from rotation.models import Approval, RotationRequest

User = get_user_model()
# action -> (the secret permission, the provider permission that grants it on every secret of the provider)
ACTIONS = {
    "reveal": ("reveal_secret", "reveal_provider_secrets"),
    "approve": ("approve_rotation", "approve_provider_rotation"),
    "emergency": ("emergency_rotation", "emergency_provider_rotation"),
    "request": ("request_rotation", "request_provider_rotation"),
}
LABELS = {codename: action for action, codenames in ACTIONS.items() for codename in codenames}
_GLOBAL = {"content_type__app_label": "providers"}


def _codes(*actions):
    return [codename for action in actions for codename in ACTIONS[action]]


def holders(*actions):
    """Active users holding any of the actions: superuser, globally (own or a group's), or by an object grant."""
    codes = _codes(*actions)
    perm = {"permission__codename__in": codes, "permission__content_type__app_label": "providers"}
    who = (Q(is_superuser=True)
           | Q(pk__in=User.objects.filter(user_permissions__codename__in=codes,
                                          user_permissions__content_type__app_label="providers").values("pk"))
           | Q(pk__in=User.objects.filter(groups__permissions__codename__in=codes,
                                          groups__permissions__content_type__app_label="providers").values("pk")))
    for table in (SecretUserObjectPermission, ProviderUserObjectPermission):
        who |= Q(pk__in=table.objects.filter(**perm).values("user_id"))
    for table in (SecretGroupObjectPermission, ProviderGroupObjectPermission):
        who |= Q(groups__in=table.objects.filter(**perm).values("group_id"))
    return User.objects.filter(who, is_active=True).distinct()


def _global_grants(*actions):
    """(role grants, direct user grants) of the actions as global permissions."""
    codes = _codes(*actions)
    by_role = User.objects.filter(is_active=True, groups__permissions__codename__in=codes,
                                  groups__permissions__content_type__app_label="providers")
    direct = User.objects.filter(is_active=True, user_permissions__codename__in=codes,
                                 user_permissions__content_type__app_label="providers")
    return (by_role.order_by("username", "groups__name").values_list("username", "groups__permissions__codename",
                                                                     "groups__name"),
            direct.order_by("username").values_list("username", "user_permissions__codename"))


def _holder_rows(actions, note):
    """(queryset, row) parts listing every way each holder holds each of the actions."""
    codes = _codes(*actions)
    perm = {"permission__codename__in": codes, "permission__content_type__app_label": "providers"}
    by_role, direct = _global_grants(*actions)
    superusers = User.objects.filter(is_active=True, is_superuser=True).order_by("username").values_list("username")
    grants = {
        ProviderUserObjectPermission: ("user__username", "content_object__name"),
        ProviderGroupObjectPermission: ("group__user__username", "group__name", "content_object__name"),
        SecretUserObjectPermission: ("user__username", "content_object__provider__name", "content_object__name"),
        SecretGroupObjectPermission: ("group__user__username", "group__name", "content_object__provider__name",
                                      "content_object__name"),
    }
    parts = [(superusers, lambda r: [r[0], "every permission", "superuser", note(r[0])]),
             (by_role, lambda r: [r[0], LABELS[r[1]], f"role {r[2]} (every secret)", note(r[0])]),
             (direct, lambda r: [r[0], LABELS[r[1]], "direct permission (every secret)", note(r[0])])]
    for table, fields in grants.items():
        active = {f"{fields[0].rsplit('__', 1)[0]}__is_active": True}
        queryset = table.objects.filter(**perm, **active).order_by(*fields, "permission__codename").values_list(
            *fields, "permission__codename")
        parts.append((queryset, _grant_row(table, note)))
    return parts


def _grant_row(table, note):
    group = table in (ProviderGroupObjectPermission, SecretGroupObjectPermission)
    secret = table in (SecretUserObjectPermission, SecretGroupObjectPermission)

    def row(r):
        user, *rest, codename = r
        via = f"group {rest.pop(0)}, " if group else ""
        target = f"secret {rest[0]}:{rest[1]}" if secret else f"provider {rest[0]}"
        return [user, LABELS[codename], f"{via}grant on {target}", note(user)]

    return row


def _revealed_since(ctx, days):
    return Exists(AuditEvent.objects.filter(event_type="secret.revealed", actor_id=OuterRef("pk"),
                                            timestamp__gte=ctx.days_before_end(days), timestamp__lt=ctx.as_of))


@check("access_privileged_holders", title="Who may reveal, approve and run emergency rotations", rule="""
    Lists every active person holding reveal, approve or emergency rotation, and how (superuser, role, direct
    permission, grant on a provider or secret). Fail when reveal or emergency rotation is granted globally
    (through a role or a direct permission rather than per provider or secret); partial when a superuser exists
    or someone holding reveal has not revealed anything in the {unused_days} days before the period's end (a
    grant to remove); otherwise pass.""")
def access_privileged_holders(ctx):
    days = ctx.thresholds["unused_days"]
    unused = holders("reveal").filter(date_joined__lt=ctx.days_before_end(days)).exclude(_revealed_since(ctx, days))
    unused_names = set(unused.values_list("username", flat=True)[:5000])
    by_role, direct = _global_grants("reveal", "emergency")
    figures = {f"{action}_holders": holders(action).count() for action in ("reveal", "approve", "emergency")}
    figures.update({"superusers": User.objects.filter(is_active=True, is_superuser=True).count(),
                    "global_reveal_or_emergency": by_role.count() + direct.count(), "unused_reveal": unused.count()})
    rows = combined("Holders", ["Person", "Permission", "Held through", "Note"], _holder_rows(
        ("reveal", "approve", "emergency"),
        lambda user: f"no reveal in {days} days" if user in unused_names else ""))
    counts = f"{figures['reveal_holders']} may reveal, {figures['approve_holders']} approve, " \
             f"{figures['emergency_holders']} run emergency rotations"
    if figures["global_reveal_or_emergency"]:
        return result(FAIL, f"Reveal or emergency rotation granted globally; {counts}", figures, rows)
    if figures["superusers"] or figures["unused_reveal"]:
        return result(PARTIAL, f"{counts}; {plural(figures['unused_reveal'], 'unused reveal holder')}, "
                               f"{plural(figures['superusers'], 'superuser')}", figures, rows)
    return result(PASS, counts, figures, rows)


@check("access_review_recent", title="Access reviewed recently", rule="""
    The latest recorded access review at or before the period's end is at most {max_age_days} days old then:
    pass; at most {partial_max_age_days} days: partial; older, or no review at all: fail.""")
def access_review_recent(ctx):
    reviews = AccessReview.objects.filter(reviewed_at__lt=ctx.as_of)
    latest = reviews.order_by("-reviewed_at", "-pk").values("reviewed_at", "reviewed_by__username").first()
    figures = {"reviews_in_period": reviews.filter(reviewed_at__gte=ctx.start).count(),
               "latest_review": latest and latest["reviewed_at"], "latest_reviewer": latest and
               latest["reviewed_by__username"]}
    rows = drilldown("Access reviews", ["Reviewed", "Reviewer", "Scope", "Rows reviewed", "Note"],
                     reviews.order_by("-reviewed_at", "-pk").values_list(
                         "reviewed_at", "reviewed_by__username", "scope", "rows_reviewed", "note"))
    if latest is None:
        return result(FAIL, "No access review was ever recorded", figures, rows)
    age = (ctx.as_of - latest["reviewed_at"]).days
    figures["age_days"] = age
    summary = f"Last access review {latest['reviewed_at'].date().isoformat()}, {age} days before the period's end"
    if age <= ctx.thresholds["max_age_days"]:
        return result(PASS, summary, figures, rows)
    return result(PARTIAL if age <= ctx.thresholds["partial_max_age_days"] else FAIL, summary, figures, rows)


@check("separation_of_duties", title="Separation of duties between requesting and approving", rule="""
    No one approved a run they requested, and no one acknowledged the review of an emergency rotation they ran,
    in the period: otherwise fail. People able both to request and to approve rotations (the Operator/Approver
    overlap) are listed; more than {max_overlap_users} makes it partial; otherwise pass.""")
def separation_of_duties(ctx):
    own_approvals = Approval.objects.filter(decision=Approval.Decision.APPROVED,
                                            approver_id=F("request__requested_by_id"), **ctx.in_period("decided_at"))
    own_reviews = RotationRequest.objects.filter(reviewed_by_id=F("requested_by_id"), **ctx.in_period("reviewed_at"))
    overlap = holders("request").filter(pk__in=holders("approve").values("pk")).order_by("username")
    roles = defaultdict(list)
    for username, group in User.groups.through.objects.filter(user__in=overlap.values("pk")[:1000]).order_by(
            "group__name").values_list("user__username", "group__name"):
        roles[username].append(group)
    figures = {"own_runs_approved": own_approvals.count(), "own_emergencies_reviewed": own_reviews.count(),
               "overlap_people": overlap.count(), "decisions": Approval.objects.filter(
                   **ctx.in_period("decided_at")).count()}
    rows = combined("Conflicts", ["Conflict", "Person", "Detail", "When"], [
        (own_approvals.order_by("decided_at", "pk").values_list("approver__username", "request__secret__name",
                                                                "decided_at"),
         lambda r: ["approved own request", r[0], r[1], r[2]]),
        (own_reviews.order_by("reviewed_at", "pk").values_list("reviewed_by__username", "secret__name",
                                                               "reviewed_at"),
         lambda r: ["reviewed own emergency rotation", r[0], r[1], r[2]]),
        (overlap.values_list("username", "is_superuser"),
         lambda r: ["may request and approve", r[0],
                    "superuser" if r[1] else ", ".join(roles[r[0]]) or "object grants", None]),
    ])
    violations = figures["own_runs_approved"] + figures["own_emergencies_reviewed"]
    if violations:
        return result(FAIL, f"{plural(violations, 'run')} decided by the person who ran it", figures, rows)
    summary = f"No one approved their own run; {plural(figures['overlap_people'], 'person', 'people')} " \
              "may both request and approve"
    return result(PARTIAL if figures["overlap_people"] > ctx.thresholds["max_overlap_users"] else PASS, summary,
                  figures, rows)


@check("dormant_accounts", title="No dormant accounts", rule="""
    Active accounts older than {dormant_days} days at the period's end that have not signed in during those
    {dormant_days} days are dormant and should be disabled. Pass when there is none; partial when at most
    {partial_percent}% of active accounts are dormant; fail otherwise; not applicable with no accounts.""")
def dormant_accounts(ctx):
    days = ctx.thresholds["dormant_days"]
    logins = AuditEvent.objects.filter(event_type="auth.login", actor_id=OuterRef("pk"), timestamp__lt=ctx.as_of)
    accounts = User.objects.filter(is_active=True, date_joined__lt=ctx.as_of)
    dormant = accounts.filter(date_joined__lt=ctx.days_before_end(days)).exclude(
        Exists(logins.filter(timestamp__gte=ctx.days_before_end(days))))
    figures = {"accounts": accounts.count(), "dormant": dormant.count()}
    figures["dormant_percent"] = percent(figures["dormant"], figures["accounts"])
    last_login = Subquery(logins.order_by("-timestamp").values("timestamp")[:1])
    rows = drilldown("Dormant accounts", ["Person", "Joined", "Last sign-in"],
                     dormant.annotate(last=last_login).order_by("username").values_list(
                         "username", "date_joined", "last"))
    if not figures["accounts"]:
        return result(NOT_APPLICABLE, "No active accounts", figures, rows)
    summary = f"{figures['dormant']} of {plural(figures['accounts'], 'active account')} dormant"
    if not figures["dormant"]:
        return result(PASS, summary, figures, rows)
    return result(PARTIAL if figures["dormant_percent"] <= ctx.thresholds["partial_percent"] else FAIL, summary,
                  figures, rows)


@check("login_monitoring", title="Sign-ins recorded and failed attempts watched", rule="""
    Every sign-in and failed sign-in is in the audit log. Pass when no account had {partial_failed_attempts} or more
    failed sign-ins in the period; partial when one had; fail when one had {fail_failed_attempts} or more (likely
    password guessing); not applicable when nobody tried to sign in.""")
def login_monitoring(ctx):
    events = AuditEvent.objects.filter(event_type__in=("auth.login", "auth.login_failed"),
                                       **ctx.in_period("timestamp"))
    failed = events.filter(event_type="auth.login_failed").values("target_text").annotate(
        n=Count("pk"), first=Min("timestamp"), last=Max("timestamp"))
    t = ctx.thresholds
    figures = events.aggregate(sign_ins=Count("pk", filter=Q(event_type="auth.login")),
                               failed_sign_ins=Count("pk", filter=Q(event_type="auth.login_failed")),
                               people=Count("actor_id", distinct=True))
    figures.update(failed.aggregate(
        accounts_tried=Count("target_text"),
        accounts_over_partial=Count("target_text", filter=Q(n__gte=t["partial_failed_attempts"])),
        accounts_over_fail=Count("target_text", filter=Q(n__gte=t["fail_failed_attempts"]))))
    rows = drilldown("Failed sign-ins by account", ["Account tried", "Failed attempts", "First", "Last"],
                     failed.order_by("-n", "target_text").values_list("target_text", "n", "first", "last"),
                     total=figures["accounts_tried"])
    if not figures["sign_ins"] and not figures["failed_sign_ins"]:
        return result(NOT_APPLICABLE, "Nobody signed in or tried to in the period", figures, rows)
    summary = f"{plural(figures['sign_ins'], 'sign-in')}, {plural(figures['failed_sign_ins'], 'failed attempt')}"
    if figures["accounts_over_fail"]:
        return result(FAIL, f"{summary}; {figures['accounts_over_fail']} account(s) with "
                            f"{t['fail_failed_attempts']}+ failures", figures, rows)
    if figures["accounts_over_partial"]:
        return result(PARTIAL, f"{summary}; {figures['accounts_over_partial']} account(s) with "
                               f"{t['partial_failed_attempts']}+ failures", figures, rows)
    return result(PASS, summary, figures, rows)
