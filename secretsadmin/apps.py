"""The project package is also an app: roles, navigation, health, and the dashboard home."""
from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_migrate


class SecretsadminConfig(AppConfig):
    name = "secretsadmin"
    verbose_name = "SecretsAdmin"

    def ready(self):
        from secretsadmin import idle_sessions, login_security, reauth, roles  # noqa: F401 - receivers connect on import

        # Later apps add permissions; re-apply the role definitions after every migrate.
        post_migrate.connect(roles.sync_roles_after_migrate, dispatch_uid="secretsadmin.sync_roles")
        if settings.REDIS_EMBEDDED:
            from secretsadmin.embedded_redis import ensure_embedded_redis

            ensure_embedded_redis(settings.VAR_DIR)
