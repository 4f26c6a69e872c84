"""Container health check: is an RQ worker (or the cron scheduler) of this host registered in Redis?"""
import socket

import django_rq
from django.core.management.base import BaseCommand, CommandError
from rq import Worker
from rq.cron import CronScheduler


class Command(BaseCommand):
    help = "Exit 0 if a live RQ worker or cron scheduler of this host is registered in Redis, else 1."

    def add_arguments(self, parser):
        parser.add_argument("role", choices=["worker", "scheduler"])

    def handle(self, *args, role, **options):
        connection = django_rq.get_connection("default")
        hostname = socket.gethostname()
        try:
            # Both registries drop a process once it stops sending heartbeats.
            if role == "worker":
                found = [w.name for w in Worker.all(connection=connection) if w.hostname == hostname]
            else:
                found = [s.name for s in CronScheduler.all(connection) if s.hostname == hostname]
        except Exception as exc:
            raise CommandError(f"cannot reach Redis: {type(exc).__name__}") from None
        if not found:
            raise CommandError(f"no RQ {role} of host {hostname} is registered")
        self.stdout.write(f"ok: {len(found)} {role}(s) on {hostname}")
