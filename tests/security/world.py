"""The objects the security batteries act on, made through the services on first use (a test pays for what it uses).

One real OpenBao (tests/providers/fixtures_vault.py) backs the main provider, so creating, revoking and revealing
secrets take the real path; the other provider points at a closed port and only ever fails fast.
"""
import secrets
import uuid
from functools import cached_property

import django_rq
from django.contrib.auth.models import Group
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from guardian.shortcuts import assign_perm
from rq import Worker

from audit.models import AuditEvent
from compliance.snapshots import request_snapshot
from providers.models import Secret
from providers.secret_services import create_secret_in_provider
from providers.services import create_provider
from rotation.policy_services import assign_policy, create_policy
from rotation.services import request_rotation, run_emergency_rotation
from secretsadmin import roles
from secretsadmin.mfa.models import RecoveryCodeDevice
from tests.conftest import ROLE_USERS, make_user

TOKEN_VARIABLE = "SA_SECURITY_BATTERY_TOKEN"  # the OpenBao root token, set for each test by the world fixture


class LazyUsers(dict):
    """tests/conftest.py's people (alice Viewer .. erin Administrator, mallory without a role), each created on
    first use: most tests need two or three of them, and six accounts per test are a tenth of the battery's time."""

    def __missing__(self, name):
        if name not in {*ROLE_USERS, "mallory"}:
            raise KeyError(name)
        role = ROLE_USERS.get(name)
        self[name] = make_user(name, role, is_staff=role == roles.ADMINISTRATOR)
        return self[name]


class World:
    def __init__(self, vault):
        self.users = LazyUsers()
        self._vault = vault  # {"url", "mount", "token"}

    def __getitem__(self, name):
        return self.users[name]

    # ------------------------------------------------------------------ people beyond the five roles

    @cached_property
    def outsider(self):
        """No role; may view the *other* provider (and so its secrets) by grant: holds the permission somewhere,
        but not on the main provider's objects, so those must be as invisible as to mallory."""
        user = make_user("oscar")
        assign_perm("providers.view_provider", user, self.other_provider)
        return user

    @cached_property
    def root(self):
        from django.contrib.auth import get_user_model

        return get_user_model().objects.create_superuser("root", "root@example.invalid", secrets.token_urlsafe())

    # ------------------------------------------------------------------ second factor

    @cached_property
    def authenticator(self):
        """alice's confirmed authenticator app (its key is random; tests/foundation/mfa_helpers.py computes codes)."""
        return TOTPDevice.objects.create(user=self["alice"], name="Authenticator app", confirmed=True)

    @cached_property
    def recovery_codes(self):
        """alice's recovery-code device, with ten unused codes (stored hashed)."""
        device = RecoveryCodeDevice.objects.create(user=self["alice"], name="Recovery codes")
        device.replace_codes()
        return device

    # ------------------------------------------------------------------ providers and secrets

    @cached_property
    def provider(self):
        return create_provider(
            actor=self["erin"], name="vault-main", kind="vault", description="The main vault",
            settings={"address": self._vault["url"], "mount": self._vault["mount"]},
            auth_reference={"method": "env", "variables": {"token": TOKEN_VARIABLE}},
            enabled=True, sync_interval_minutes=60)

    @cached_property
    def other_provider(self):
        from tests.conftest import free_port

        return create_provider(
            actor=self["erin"], name="aws-other", kind="aws", description="Another team's account",
            settings={"region": "eu-west-1", "endpoint_url": f"http://127.0.0.1:{free_port()}"},
            auth_reference={"method": "ambient"}, enabled=True, sync_interval_minutes=60)

    def new_secret(self, owner="payments"):
        """A secret written to OpenBao (the value goes nowhere else) and its inventory row, via the service."""
        return create_secret_in_provider(
            self.provider, actor=self["erin"], name=f"battery/{uuid.uuid4().hex[:12]}#password",
            value=secrets.token_urlsafe(24), owner=owner, environment="prod", description="Billing database")

    @cached_property
    def secret(self):
        return self.new_secret()

    @cached_property
    def other_secret(self):
        # An inventory row of the unreachable provider: only a sync creates those, so it is made directly.
        return Secret.objects.create(provider=self.other_provider, name="team-b/api-key", owner="team-b")

    # ------------------------------------------------------------------ rotation

    @cached_property
    def policy(self):
        policy = create_policy(actor=self["erin"], name="battery-policy", description="Quarterly", interval_days=90,
                               length=32, required_approvals=1, grace_period_hours=24, target={"kind": "none"})
        assign_policy(policy, actor=self["erin"], provider=self.provider, priority=100)
        return policy

    @cached_property
    def rotation(self):
        """bob's rotation of the main secret, pending approval."""
        self.policy  # noqa: B018  (a secret rotates only under a policy)
        return request_rotation(self.secret, actor=self["bob"], reason="Quarterly rotation")

    @cached_property
    def emergency(self):
        """bob's emergency rotation of a second secret: queued, its post-incident review open."""
        secret = self.new_secret(owner="search")
        assign_perm("providers.emergency_rotation", self["bob"], secret)
        return run_emergency_rotation(secret, actor=self["bob"], reason="Key pasted in a public channel")

    # ------------------------------------------------------------------ compliance and audit

    @cached_property
    def report(self):
        self.event  # noqa: B018  (a report needs some data to report on)
        today = timezone.localdate()
        return request_snapshot("nist-800-53", period_start=today, period_end=today,
                                actor=self["dana"])

    @cached_property
    def event(self):
        self.provider  # noqa: B018  (its creation is audited)
        return AuditEvent.objects.filter(event_type="provider.created").latest("sequence")

    @cached_property
    def group(self):
        return Group.objects.get(name="Viewer")

    # ------------------------------------------------------------------ the job queues (Redis)

    @cached_property
    def rq_job(self):
        """A job waiting in the default queue (removed by the world fixture); it would only compute len("")."""
        # commit_mode="auto": put it in Redis now, not when the test's transaction commits (it never does).
        return django_rq.get_queue("default", commit_mode="auto").enqueue("builtins.len", "")

    @cached_property
    def rq_worker(self):
        """A worker registered in Redis (never started; unregistered by the world fixture)."""
        worker = Worker([django_rq.get_queue("default")], connection=django_rq.get_connection("default"),
                        name=f"battery-{uuid.uuid4().hex[:8]}")
        worker.register_birth()
        return worker

    def clean_up(self):
        if "rq_job" in self.__dict__ and self.rq_job.connection.exists(self.rq_job.key):  # a test may delete it
            self.rq_job.delete()
        if "rq_worker" in self.__dict__:
            self.rq_worker.register_death()
