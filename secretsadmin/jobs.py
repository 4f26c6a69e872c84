"""Background jobs of the project package (run by RQ workers; scheduled by secretsadmin/cron.py)."""
from importlib import import_module

from django.conf import settings


def clear_expired_sessions_job():
    # Database sessions are never deleted by Django on its own; expired rows would pile up.
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
