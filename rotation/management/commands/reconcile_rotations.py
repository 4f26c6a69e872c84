"""`manage.py reconcile_rotations`: expire stale requests and re-enqueue runs whose job was lost."""
from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from rotation.reconcile import reconcile_rotations


class Command(BaseCommand):
    help = "Expire stale rotation requests and re-enqueue approved runs that have no live job or worker."

    def handle(self, *args, **options):
        try:
            result = reconcile_rotations()
        except RedisError as exc:
            raise CommandError(f"Redis is not reachable ({type(exc).__name__}); nothing was enqueued") from None
        self.stdout.write(", ".join(f"{k}: {v}" for k, v in result.summary().items()))
