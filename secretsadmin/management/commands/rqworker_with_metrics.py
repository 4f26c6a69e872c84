"""`manage.py rqworker_with_metrics --metrics-port 9200 QUEUE ...`: django-rq's rqworker that also serves /metrics.

For a worker in a container of its own (docker-compose): see secretsadmin/metrics_exporter.py. Every rqworker
option works as usual; PROMETHEUS_MULTIPROC_DIR must name a directory private to the container.
"""
from django.core.management.base import CommandError
from django_rq.management.commands.rqworker import Command as RQWorkerCommand

from secretsadmin.metrics_exporter import ARCHIVE_SECONDS, ExporterError, start_exporter

# Every interface of the worker's own container, which Prometheus scrapes from outside it; /metrics still
# answers only the bearer token or an allowed address.
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104  # nosec B104 # see above


class Command(RQWorkerCommand):
    help = "Run an RQ worker and serve its container's metrics on --metrics-port (bearer token or allowed address)."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--metrics-port", type=int, required=True, help="Port of the worker's /metrics")
        parser.add_argument("--metrics-address", default=EVERY_INTERFACE,
                            help="Address to listen on (default: every interface of the container)")
        parser.add_argument("--metrics-archive-seconds", type=float, default=ARCHIVE_SECONDS,
                            help="How often dead work-horses' metric files are folded into the archives")

    def handle(self, *args, **options):
        port, address = options.pop("metrics_port"), options.pop("metrics_address")
        archive_seconds = options.pop("metrics_archive_seconds")
        if not 0 < port < 65536:
            raise CommandError(f"--metrics-port must be between 1 and 65535, not {port}")
        if archive_seconds <= 0:
            raise CommandError("--metrics-archive-seconds must be positive")
        try:
            start_exporter(address, port, archive_seconds)
        except ExporterError as exc:
            raise CommandError(str(exc)) from None
        return super().handle(*args, **options)
