"""Re-apply the role table in secretsadmin/roles.py to the role groups (also runs after migrate)."""
from django.core.management.base import BaseCommand

from secretsadmin.roles import ROLE_PERMISSIONS, sync_roles


class Command(BaseCommand):
    help = "Create the five role groups and set their permissions from secretsadmin/roles.py."

    def handle(self, *args, **options):
        sync_roles()
        for role, perms in ROLE_PERMISSIONS.items():
            self.stdout.write(f"{role}: {len(perms)} permissions")
