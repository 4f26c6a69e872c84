"""The load-and-fault run, in a Django process (the test's, or a bench child's) on a PostgreSQL database.

    stack = Stack(directory, env)             # tests/scale/stack.py: Redis, OpenBao, 3 web replicas, 4 workers
    with running(stack) as seeded:            # backends up, OpenBao and the database seeded, everything ready
        outcome = run_load(stack, seeded, fault="worker")
    # then tests/scale/invariants.py checks what happened

Seeding: OpenBao gets an ACL policy and a token of its own for SecretsAdmin (not the root token), and
ROTATIONS + SPARE secrets `scale/svc-NNN` (key `password`, values generated now); the provider is registered
and synced through the services; two rotation policies (32 characters, one approval): "scale-revoke" on the
provider (grace 0: the old version is revoked once the new one is promoted) and "scale-grace" on every
GRACE_EVERY-th rotated secret (grace 1 h: the run waits in its grace period, the old version still live);
12 Viewers, 8 Auditors, 18 Operators and 12 Approvers (load.ROLES) with a password generated now; the
Approvers sign in with a second factor (secretsadmin.mfa), so each gets a confirmed TOTP device.

The run: locust's 50 users (tests/scale/locustfile.py) in a child process; this process plays cron for the
reconciler (every RECONCILE_SECONDS rather than 30 s) and the deployment's restart policy for workers that exit,
injects the fault once FAULT_AT of the rotations are approved, and stops the users once every rotation has
settled (succeeded, or waiting out its grace period).
"""
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import requests
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from tests.scale.stack import PYTHON, TOKEN_VAR

ROTATIONS = 200
SPARE = 50  # secrets nobody rotates: browsed, searched, never touched
GRACE_EVERY = 4
ROLES = {"viewer": 12, "auditor": 8, "operator": 18, "approver": 12}
PROVIDER = "scale-openbao"
BAO_POLICY = "secretsadmin-rotation"
# What the Vault adapter does on the KV v2 mount "secret": read, write versions with check-and-set, keep the
# rotation token in custom metadata, list, and delete old versions.
BAO_ACL = """
path "secret/data/scale/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/scale/*" { capabilities = ["read", "update", "list"] }
path "secret/metadata/scale" { capabilities = ["list"] }
path "secret/metadata/" { capabilities = ["list"] }
path "secret/delete/scale/*" { capabilities = ["update"] }
"""
# Seconds each kind of user thinks between tasks. With 50 users the 2 cores are saturated whatever the pauses (a
# shorter one only lengthens every answer), so the roles and pauses decide who gets them: Operators and Approvers
# hardly pause, and are 30 of the 50, so the 200 rotations are filed and decided in about a minute.
THINK = {"viewer": (1.0, 3.0), "auditor": (1.0, 3.0), "operator": (0.1, 0.3), "approver": (0.2, 0.5)}
RECONCILE_SECONDS = 3
# A run that has not settled by then fails. About 55 s on a quiet 2-core machine; the margin is for a busy one.
MAX_SECONDS = 420
FAULT_AT = 0.4


def secret_path(i):
    return f"scale/svc-{i:03d}"


@dataclass
class Seeded:
    provider_id: int
    rotate: list  # secret names, in the order the operators take them
    grace: set  # of those, the names under the grace policy
    spare: list
    accounts: list
    first_sequence: int  # the audit chain's last sequence before the users start
    initial_values: dict = field(repr=False)  # name -> the value before the run (to tell it changed)


def bao_client(stack, token=None):
    import hvac

    return hvac.Client(url=stack.bao.url, token=token or stack.bao.root_token)


def seed_openbao(stack, rotations=ROTATIONS, spare=SPARE):
    """The ACL policy, SecretsAdmin's token (returned) and the secrets; returns (token, {name: initial value})."""
    root = bao_client(stack)
    root.sys.create_or_update_policy(BAO_POLICY, BAO_ACL)
    token = root.auth.token.create(policies=[BAO_POLICY], ttl="4h")["auth"]["client_token"]
    values = {}
    for i in range(rotations + spare):
        value = secrets.token_urlsafe(18)
        root.secrets.kv.v2.create_or_update_secret(secret_path(i), secret={"password": value}, mount_point="secret")
        values[f"{secret_path(i)}#password"] = value
    return token, values


def second_factor_key(user):
    """A confirmed authenticator (django-otp TOTP device) for an account that must pass the second factor at
    sign-in (secretsadmin.mfa: the Approvers, by [auth] mfa_required_roles); its key (hex) goes to the user in
    locust, which answers the verify page with the current code (locustfile.complete_second_factor). None for
    the others."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from secretsadmin.mfa import mfa_required_for

    if not mfa_required_for(user):
        return None
    return TOTPDevice.objects.create(user=user, name="load run", confirmed=True).key


def seed_database(stack, values, rotations=ROTATIONS):
    from django.contrib.auth.models import Group, User

    from audit.models import AuditEvent
    from providers.models import Secret
    from providers.services import create_provider
    from providers.sync import sync_provider
    from rotation.models import PolicyAssignment, RotationPolicy
    from secretsadmin import roles

    provider = create_provider(actor="system", name=PROVIDER, kind="vault", description="load run",
                               settings={"address": stack.bao.url, "mount": "secret"},
                               auth_reference={"method": "env", "variables": {"token": TOKEN_VAR}})
    result = sync_provider(provider.pk, actor="system")
    if result is None or not result.ok:
        raise RuntimeError(f"the first sync failed: {getattr(result, 'error', 'not claimed')}")
    names = sorted(values)
    rotate, spare = names[:rotations], names[rotations:]
    grace = {name for i, name in enumerate(rotate) if i % GRACE_EVERY == GRACE_EVERY - 1}
    revoke = RotationPolicy.objects.create(name="scale-revoke", length=32, required_approvals=1, grace_period_hours=0)
    PolicyAssignment.objects.create(policy=revoke, provider=provider)
    keep = RotationPolicy.objects.create(name="scale-grace", length=32, required_approvals=1, grace_period_hours=1)
    PolicyAssignment.objects.bulk_create([PolicyAssignment(policy=keep, secret=secret) for secret in
                                          Secret.objects.filter(provider=provider, name__in=grace)])
    password = secrets.token_urlsafe(16)  # generated now: every account of this run signs in with it
    groups = {"viewer": roles.VIEWER, "auditor": roles.AUDITOR, "operator": roles.OPERATOR,
              "approver": roles.APPROVER}
    accounts = []
    for role, count in ROLES.items():
        group = Group.objects.get(name=groups[role])
        for i in range(count):
            user = User.objects.create_user(f"scale-{role[:3]}-{i:02d}", password=password)
            user.groups.add(group)
            accounts.append({"username": user.username, "password": password, "role": role,
                             "otp_key": second_factor_key(user)})
    last = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0
    return Seeded(provider_id=provider.pk, rotate=rotate, grace=grace, spare=spare, accounts=accounts,
                  first_sequence=last, initial_values=values)


@contextlib.contextmanager
def running(stack, rotations=ROTATIONS):
    """Start the stack and seed it; the Django process talks to the stack's Redis meanwhile. Stops it all after."""
    previous = os.environ.get(TOKEN_VAR)
    try:
        stack.start_backends()
        token, values = seed_openbao(stack, rotations)
        os.environ[TOKEN_VAR] = token  # the in-process sync resolves the provider's reference from here
        stack.base_env = {**stack.base_env, TOKEN_VAR: token}
        stack.start_web()
        stack.start_workers()
        queues = {name: {"URL": stack.redis.url, "DEFAULT_TIMEOUT": 600}
                  for name in ("default", "rotation", "sync", "reports")}
        with override_settings(RQ_QUEUES=queues):
            seeded = seed_database(stack, values, rotations)  # while the processes boot
            stack.wait_ready()
            yield seeded
    finally:
        stack.stop()
        if previous is None:
            os.environ.pop(TOKEN_VAR, None)
        else:
            os.environ[TOKEN_VAR] = previous


def settled_count(seeded):
    """Runs that are done for now: succeeded, or released to wait out their grace period."""
    from django.db.models import Q

    from rotation.models import RotationRequest

    State = RotationRequest.State
    return RotationRequest.objects.filter(secret__provider_id=seeded.provider_id).filter(
        Q(state=State.SUCCEEDED) | Q(state=State.GRACE, claimed_by="", grace_until__gt=timezone.now())).count()


def idle_latencies(stack, account, count):
    """`count` GETs of /inventory/ by one signed-in Viewer, nothing else running; each on a new connection, so
    they spread over the replicas as the users' connections do. Milliseconds."""
    session = requests.Session()
    session.headers["Connection"] = "close"
    page = session.get(f"{stack.url}/accounts/login/", timeout=30)
    token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    answer = session.post(f"{stack.url}/accounts/login/", timeout=30, allow_redirects=False, data={
        "csrfmiddlewaretoken": token, "username": account["username"], "password": account["password"]})
    if answer.status_code != 302:
        raise RuntimeError(f"the idle measurement could not sign in ({answer.status_code})")
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        session.get(f"{stack.url}/inventory/", timeout=30).raise_for_status()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


@dataclass
class Outcome:
    results: dict  # what locust wrote (see locustfile.main)
    seconds: float  # from the users' start to the last rotation settled
    fault: dict  # what was injected, when, and what it hit
    worker_exits: list  # workers that exited by themselves (restarted as a supervisor would), with their log tails
    idle_ms: list
    idle_logins: int
    settled: int
    cpu: dict  # tests/scale/cpu.py's result over the users' run


def _kill_a_worker(stack, fault):
    from rotation.models import RotationRequest

    def claimed_by(name):
        return RotationRequest.objects.filter(claimed_by=name).values_list("pk", flat=True).first()

    killed = stack.kill_worker_holding_a_claim(claimed_by)
    if killed is None:
        return False  # every worker idle at this instant: try again on the next pass
    worker, run = killed
    name = stack.claim_name(worker)
    # The dead worker's lease would lapse after ROTATION_LEASE_SECONDS (120 s); the run stands in for that wait
    # by ending the lease now, as tests/rotation/test_faults.py does. Nothing else about the run is touched.
    RotationRequest.objects.filter(claimed_by=name).update(claimed_until=timezone.now() - timedelta(seconds=1))
    stack.start_worker()  # "restarted": a new worker process in its place
    fault.update(worker_pid=worker.pid, interrupted_run=run, claim_name=name, killed_at=timezone.now())
    return True


class Driver:
    """This process's part while the users work: cron for the reconciler, supervisor for the workers, the fault."""

    def __init__(self, stack, seeded, fault):
        self.stack, self.seeded, self.fault = stack, seeded, fault
        self.record, self.exits = {"kind": fault or "none", "reconciler_enqueued": 0}, []
        self.began = time.monotonic()
        self.next_reconcile = self.began + RECONCILE_SECONDS

    def elapsed(self):
        return round(time.monotonic() - self.began, 2)

    def step(self):
        """One pass; True once every rotation has settled."""
        from rotation.models import RotationRequest
        from rotation.reconcile import reconcile_rotations

        for worker in self.stack.supervise():
            self.exits.append({"pid": worker.pid, "returncode": worker.returncode, "at": self.elapsed(),
                               "log": self.stack.log_tail(worker.log_name, 1500)})
        if self.fault and "at" not in self.record:
            approved = RotationRequest.objects.filter(secret__provider_id=self.seeded.provider_id,
                                                      approved_at__isnull=False).count()
            if approved >= FAULT_AT * len(self.seeded.rotate):
                if self.fault == "redis":
                    self.record.update(self.stack.redis.restart(), at=self.elapsed(), approved=approved)
                elif _kill_a_worker(self.stack, self.record):
                    self.record.update(at=self.elapsed(), approved=approved)
        if time.monotonic() >= self.next_reconcile:
            # What cron's every-30-seconds job does (secretsadmin/cron.py), more often; it counts the runs it had to
            # send again (lost jobs, lapsed leases).
            self.record["reconciler_enqueued"] += reconcile_rotations().enqueued
            self.next_reconcile = time.monotonic() + RECONCILE_SECONDS
        self.settled = settled_count(self.seeded)
        return self.settled == len(self.seeded.rotate)


def _pg_dsn():
    from django.db import connection

    params = connection.settings_dict
    auth = (params.get("USER") or "") + (f":{params['PASSWORD']}" if params.get("PASSWORD") else "")
    return (f"postgresql://{auth}{'@' if auth else ''}{params.get('HOST') or '127.0.0.1'}:{params.get('PORT') or 5432}"
            f"/postgres"), params["NAME"]


def run_load(stack, seeded, *, fault=None, idle_requests=0, max_seconds=MAX_SECONDS):
    """Drive the users until every rotation settled (or max_seconds); returns an Outcome."""
    from tests.scale.cpu import CpuMeter

    directory = Path(stack.directory)
    idle = idle_latencies(stack, seeded.accounts[0], idle_requests) if idle_requests else []
    config = {"host": stack.url, "accounts": seeded.accounts, "rotate": seeded.rotate,
              "otp_path": reverse("mfa:verify"), "think_seconds": THINK, "stop_file": str(directory / "stop"),
              "results_file": str(directory / "locust.json"), "max_seconds": max_seconds + 30, "stop_timeout": 20}
    (directory / "locust-config.json").write_text(json.dumps(config))
    queues = {name: {"URL": stack.redis.url, "DEFAULT_TIMEOUT": 600} for name in ("default", "rotation")}
    dsn, database = _pg_dsn()
    with override_settings(RQ_QUEUES=queues), open(directory / "locust.log", "wb") as log:
        locust = subprocess.Popen([PYTHON, str(Path(__file__).with_name("locustfile.py")),
                                   str(directory / "locust-config.json")], stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
        components = lambda: {**stack.component_pids(), "locust": [locust.pid], "driver": [os.getpid()]}  # noqa: E731
        driver = Driver(stack, seeded, fault)
        try:
            with CpuMeter(components, pg_dsn=dsn, database=database) as meter:
                while not driver.step():
                    if locust.poll() is not None:
                        raise RuntimeError(f"locust exited early ({locust.returncode}); see {directory}/locust.log")
                    if driver.elapsed() > max_seconds:
                        break
                    time.sleep(0.25)
                seconds = driver.elapsed()
        finally:
            (directory / "stop").touch()
            try:
                locust.wait(60)
            except subprocess.TimeoutExpired:
                locust.kill()
                locust.wait()
    results = json.loads((directory / "locust.json").read_text())
    return Outcome(results=results, seconds=seconds, fault=driver.record, worker_exits=driver.exits, idle_ms=idle,
                   idle_logins=1 if idle_requests else 0, settled=driver.settled, cpu=meter.result())


def percentile(samples, q):
    if len(samples) < 2:
        return samples[0] if samples else None
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]
