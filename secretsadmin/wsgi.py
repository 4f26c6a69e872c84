"""WSGI entry point (gunicorn secretsadmin.wsgi:application)."""
import os
import sys

from django.core.wsgi import get_wsgi_application

from secretsadmin.config import ConfigError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secretsadmin.settings")
try:
    application = get_wsgi_application()
except ConfigError as exc:
    sys.stderr.write(f"secretsadmin: configuration error: {exc}\n")
    raise SystemExit(2) from None
