"""Demo accounts, one per role, with passwords generated at run time (demo only, never shipped)."""
import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from secretsadmin import roles
from secretsadmin.services import grant_role, revoke_role

DEMO_USERS = [
    ("viewer", roles.VIEWER),
    ("operator", roles.OPERATOR),
    ("approver", roles.APPROVER),
    ("auditor", roles.AUDITOR),
    ("admin", roles.ADMINISTRATOR),
]


def generate_demo_password():
    return secrets.token_urlsafe(15)


@transaction.atomic
def seed_demo_users():
    """Create or reset the demo users; returns [(username, role, password)] to show once."""
    User = get_user_model()
    created = []
    for username, role in DEMO_USERS:
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@demo.invalid"})
        password = generate_demo_password()
        user.set_password(password)
        # Only the Administrator may open Django's admin site, and nobody is a superuser.
        user.is_staff = role == roles.ADMINISTRATOR
        user.is_superuser = False
        user.is_active = True
        user.save()
        for other in user.groups.exclude(name=role).values_list("name", flat=True):
            revoke_role(user, other, actor="system")
        grant_role(user, role, actor="system")
        created.append((username, role, password))
    return created
