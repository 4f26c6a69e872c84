"""`manage.py reset_mfa USERNAME`: the operator's way out when the last Administrator has lost their phone."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from secretsadmin.mfa.services import reset_mfa


class Command(BaseCommand):
    help = ("Remove a user's authenticator app and recovery codes (audited as auth.mfa_reset by the system); "
            "they set two-factor sign-in up again at their next sign-in.")

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        removed = reset_mfa(user, actor="system")
        self.stdout.write(f"{username}: two-factor sign-in reset ({removed} authenticator app(s) removed); "
                          "they set it up again at their next sign-in.")
