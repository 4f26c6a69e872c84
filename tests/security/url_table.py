"""Every URL pattern of the application, classified: what it is, which object it names, who must be refused.

tests/security/test_access_battery.py walks get_resolver() and fails on a pattern this table does not name (and on
an entry no pattern has any more), so every new URL gets a decision here.

Kinds:
  PUBLIC         no sign-in (tests/foundation/test_login_required.py keeps the same list and sends strangers
                 everywhere else to the login page)
  PAGE           signed-in page without an object id; `mallory` is what a user with no role gets
  ACTION         POST without an object id (creates something, or acts on a whole section); `seer` is refused
  OBJECT         a page naming an object (`obj`, the World attribute): invisible -> 404
  OBJECT_ACTION  a POST (and maybe its GET form) on an object: invisible -> 404, visible without the
                 permission (`seer`) -> 403
  CATALOG        a role-gated page named by a catalog slug (a framework, a control), not a stored object
  ADMIN          Django's admin: a signed-in non-staff user is sent to the admin's own login, whatever the id
  RQ             django-rq's queues: Administrators only (secretsadmin/urls.py), 403 for anyone else

gate="role": the view checks a role permission before it looks anything up, so a user without it gets the same
403 for a real id and a made-up one (no existence is revealed); the battery asserts that sameness.
"""
from dataclasses import dataclass

PUBLIC, PAGE, ACTION, OBJECT, OBJECT_ACTION, CATALOG, ADMIN, RQ = (
    "public", "page", "action", "object", "object-action", "catalog", "admin", "rq")
GET, POST, BOTH = ("GET",), ("POST",), ("GET", "POST")


@dataclass(frozen=True)
class Route:
    kind: str
    methods: tuple = GET
    obj: str = ""  # the World attribute the URL's uuid names
    seer: str = ""  # a user with a role who sees the object (or section) but lacks this permission: 403
    mallory: int | dict = 403  # PAGE / ACTION / CATALOG: what a signed-in user with no role gets (per method)
    gate: str = "object"  # "role": a role permission is checked first (403 for any id)
    hides: tuple = ()  # PAGE: World attributes whose names the outsider must not see listed here


def _admin_model(app_model, *, add=True):
    # "otp_totp_totpdevice" -> "otp_totp/totpdevice": the app label may hold "_", a model name does not.
    route = "/".join(app_model.rsplit("_", 1))
    return {
        f"admin:{app_model}_changelist": Route(ADMIN),
        f"admin:{app_model}_add": Route(ADMIN, BOTH if add else GET),
        f"admin:{app_model}_history": Route(ADMIN),
        f"admin:{app_model}_delete": Route(ADMIN, BOTH),
        f"admin:{app_model}_change": Route(ADMIN, BOTH),
        f"admin:<admin/{route}/<path:object_id>/>": Route(ADMIN),  # an old-style link
    }


ROUTES = {
    # -------------------------------------------------------------------------------- public
    "healthz": Route(PUBLIC),
    "readyz": Route(PUBLIC),
    "metrics": Route(PUBLIC),  # its own guard: a bearer token or an address allow-list (tests/monitoring)
    "login": Route(PUBLIC, BOTH),
    "admin:login": Route(PUBLIC, BOTH),
    "admin:logout": Route(PUBLIC, POST),
    # Single sign-on's redirect and callback (secretsadmin/oidc_views.py): before sign-in, a 404 while it is off.
    "oidc:authenticate": Route(PUBLIC),
    "oidc:callback": Route(PUBLIC),
    # -------------------------------------------------------------------------------- dashboard and session
    "dashboard:home": Route(PAGE, mallory=200),
    "logout": Route(ACTION, POST, mallory=302),
    # -------------------------------------------------------------------------------- second factor (secretsadmin/mfa)
    # Everyone's own pages. The battery's sessions are verified (tests/conftest.py), with an authenticator:
    # verify sends them on (302); set-up (a replacement) and new recovery codes show their form (GET 200), and an
    # empty POST is the form's 400. Their use before verification is tests/foundation's.
    "mfa:account": Route(PAGE, mallory=200),
    "mfa:verify": Route(ACTION, BOTH, mallory=302),
    "mfa:setup": Route(ACTION, BOTH, mallory={"GET": 200, "POST": 400}),
    "mfa:recovery_codes": Route(ACTION, BOTH, mallory={"GET": 200, "POST": 400}),
    # Administrators only (auth.change_user): the list, and the reset of a user named in the POST body.
    "mfa:users": Route(PAGE),
    "mfa:reset": Route(ACTION, POST, seer="dana"),  # an Auditor sees the audit trail, may not reset anyone
    # -------------------------------------------------------------------------------- providers and inventory
    "providers:provider_list": Route(PAGE, hides=("provider",)),
    "providers:provider_create": Route(ACTION, BOTH, seer="alice"),
    "providers:provider_detail": Route(OBJECT, obj="provider"),
    "providers:provider_edit": Route(OBJECT_ACTION, BOTH, obj="provider", seer="alice"),
    "providers:provider_test": Route(OBJECT_ACTION, POST, obj="provider", seer="alice"),
    "providers:provider_sync": Route(OBJECT_ACTION, POST, obj="provider", seer="alice"),
    "providers:provider_sync_status": Route(OBJECT, obj="provider"),
    "providers:secret_list": Route(PAGE, hides=("secret",)),
    "providers:secret_create": Route(ACTION, BOTH, seer="alice"),
    "providers:secret_detail": Route(OBJECT, obj="secret"),
    "providers:secret_edit": Route(OBJECT_ACTION, BOTH, obj="secret", seer="alice"),
    "providers:secret_reveal": Route(OBJECT_ACTION, BOTH, obj="secret", seer="alice"),
    "providers:secret_revoke": Route(OBJECT_ACTION, BOTH, obj="secret", seer="alice"),
    "access:provider_permissions": Route(OBJECT_ACTION, BOTH, obj="provider", seer="alice"),
    "access:secret_permissions": Route(OBJECT_ACTION, BOTH, obj="secret", seer="alice"),
    "access:review": Route(ACTION, BOTH, seer="alice"),
    # -------------------------------------------------------------------------------- rotation
    "rotation:request_list": Route(PAGE, hides=("rotation",)),
    "rotation:approval_queue": Route(PAGE),
    "rotation:request_detail": Route(OBJECT, obj="rotation"),
    "rotation:request_status": Route(OBJECT, obj="rotation"),
    "rotation:request_decide": Route(OBJECT_ACTION, POST, obj="rotation", seer="alice"),
    "rotation:request_cancel": Route(OBJECT_ACTION, POST, obj="rotation", seer="alice"),
    "rotation:request_retry": Route(OBJECT_ACTION, POST, obj="rotation", seer="alice"),
    "rotation:review_acknowledge": Route(OBJECT_ACTION, POST, obj="emergency", seer="alice"),
    "rotation:request_create": Route(OBJECT_ACTION, POST, obj="secret", seer="alice"),
    "rotation:emergency_create": Route(OBJECT_ACTION, POST, obj="secret", seer="alice"),
    "rotation:policy_list": Route(PAGE),
    "rotation:policy_create": Route(ACTION, BOTH, seer="alice"),
    "rotation:policy_detail": Route(OBJECT, obj="policy"),
    "rotation:policy_edit": Route(OBJECT_ACTION, BOTH, obj="policy", seer="alice"),
    "rotation:assignment_create": Route(OBJECT_ACTION, BOTH, obj="policy", seer="alice"),
    "rotation:assignment_delete": Route(OBJECT_ACTION, POST, obj="policy", seer="alice"),
    # -------------------------------------------------------------------------------- audit
    "audit:event_list": Route(PAGE),
    "audit:export_csv": Route(PAGE),
    "audit:export_jsonl": Route(PAGE),
    "audit:verify_now": Route(ACTION, POST, seer="alice"),
    "audit:event_detail": Route(OBJECT, obj="event", gate="role"),
    # -------------------------------------------------------------------------------- compliance
    "compliance:overview": Route(PAGE),
    "compliance:report_list": Route(PAGE),
    "compliance:crosswalk": Route(PAGE),
    "compliance:snapshot_list": Route(PAGE),
    "compliance:snapshot_create": Route(ACTION, BOTH, seer="erin"),  # sees reports, may not generate them
    "compliance:snapshot_detail": Route(OBJECT, obj="report"),
    "compliance:snapshot_status": Route(OBJECT, obj="report"),
    # erin (Administrator) sees reports but may not export them.
    "compliance:snapshot_download": Route(OBJECT_ACTION, GET, obj="report", seer="erin"),
    "compliance:framework": Route(CATALOG),
    "compliance:control_detail": Route(CATALOG),
    # -------------------------------------------------------------------------------- django-rq (Administrators)
    **{f"django_rq:{name}": Route(RQ) for name in (
        "home_json", "metrics", "home", "jobs", "queue_details", "finished_jobs", "failed_jobs", "scheduled_jobs",
        "started_jobs", "deferred_jobs", "job_detail", "result_detail", "workers", "worker_details",
        "cron_scheduler_detail", "cron_job_detail")},
    # django-rq's scheduler page needs rq-scheduler, which is not installed: a 500 behind the gate.
    "django_rq:scheduler_jobs": Route(RQ),  # rq-scheduler is not installed: a 404 that says so
    **{f"django_rq:{name}": Route(RQ, BOTH) for name in (
        "delete_failed_jobs", "clear", "requeue_all", "delete_job", "requeue_job", "enqueue_job", "confirm_action",
        "actions")},
    "django_rq:stop_job": Route(RQ, POST),
    # -------------------------------------------------------------------------------- Django's admin (staff)
    "admin:index": Route(ADMIN),
    "admin:password_change": Route(ADMIN, BOTH),
    "admin:password_change_done": Route(ADMIN),
    "admin:autocomplete": Route(ADMIN),
    "admin:jsi18n": Route(ADMIN),
    "admin:view_on_site": Route(ADMIN),
    "admin:app_list": Route(ADMIN),
    "admin:<admin/(?P<url>.*)$>": Route(ADMIN),  # the catch-all (a 404 for staff, the admin login for others)
    "admin:auth_user_password_change": Route(ADMIN, BOTH),
    **_admin_model("auth_user"),
    **_admin_model("auth_group"),
    **_admin_model("audit_auditevent", add=False),
    **_admin_model("axes_accessattempt", add=False),
    **_admin_model("axes_accesslog", add=False),
    **_admin_model("axes_accessfailurelog", add=False),
    # Second-factor devices: read-only lists (secretsadmin/mfa/admin.py), never a key; add is a 403 even for root.
    **_admin_model("otp_totp_totpdevice", add=False),
    **_admin_model("secretsadmin_recoverycodedevice", add=False),
}
