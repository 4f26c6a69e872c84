"""A worker's own /metrics: the metric files of the processes in its container, for a worker-side scrape.

In docker-compose every worker runs in a container of its own, with PROMETHEUS_MULTIPROC_DIR on that
container's tmpfs, so the files its work-horses write can never reach the web's scrape. The worker's main
process therefore serves them itself (`manage.py rqworker_with_metrics --metrics-port 9200`), behind the
same bearer token or address allow-list as the web's /metrics, and Prometheus scrapes every worker replica
(deploy/prometheus/prometheus.yml). The same thread folds dead work-horses' files into the archives every
ARCHIVE_SECONDS: pids mean something only inside the container, so the container must do it itself.
"""
import logging
import os
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from secretsadmin.metrics_access import refusal, scrape_allowed
from secretsadmin.metrics_archive import archive_dead_processes, reading

log = logging.getLogger("secretsadmin.metrics")
ARCHIVE_SECONDS = 120
_REASONS = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}


class ExporterError(Exception):
    """The exporter cannot start; the message is one line for the operator."""


def application(environ, start_response):
    if environ.get("PATH_INFO") not in ("/metrics", "/metrics/"):
        return _answer(start_response, 404, [], b"Not found: the worker serves /metrics only.\n")
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        return _answer(start_response, 405, [("Allow", "GET, HEAD")], b"Method not allowed.\n")
    if not scrape_allowed(environ.get("HTTP_AUTHORIZATION", ""), environ.get("REMOTE_ADDR", "")):
        return _answer(start_response, *refusal())
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    with reading():  # the archiver must not fold files while this scrape reads them
        exposition = generate_latest(registry)
    body = b"" if environ["REQUEST_METHOD"] == "HEAD" else exposition
    return _answer(start_response, 200, [("Content-Type", CONTENT_TYPE_LATEST)], body)


def _answer(start_response, status, headers, body):
    content_type = [] if any(name == "Content-Type" for name, _ in headers) else [("Content-Type", "text/plain")]
    start_response(f"{status} {_REASONS[status]}", [*headers, *content_type, ("Cache-Control", "no-store")])
    return [body]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a stuck scraper never holds up the worker's exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass  # a scrape every 15-30 s is not news; refusals show in Prometheus as a failing target


def multiprocess_directory():
    value = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not value:
        # settings.py drops the variable when it cannot create the directory.
        raise ExporterError("PROMETHEUS_MULTIPROC_DIR is not set or not writable: the worker has no metric files "
                            "to serve")
    directory = Path(value)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExporterError(f"cannot create PROMETHEUS_MULTIPROC_DIR {value} ({exc.strerror})") from None
    return directory


def start_exporter(address, port, archive_seconds=ARCHIVE_SECONDS):
    """Serve /metrics on address:port from a daemon thread and archive dead processes' files; returns the server."""
    multiprocess_directory()
    try:
        server = make_server(address, port, application, server_class=_Server, handler_class=_QuietHandler)
    except OSError as exc:
        raise ExporterError(f"cannot listen on {address}:{port} for metrics ({exc.strerror})") from None
    threading.Thread(target=server.serve_forever, name="metrics-exporter", daemon=True).start()
    stop = threading.Event()
    threading.Thread(target=_archive_loop, args=(stop, archive_seconds), name="metrics-archiver",
                     daemon=True).start()
    server.stop_archiving = stop
    return server


def _archive_loop(stop, seconds):
    while not stop.wait(seconds):
        try:
            archive_dead_processes()
        except OSError:
            log.exception("metrics exporter: archiving dead processes' metric files failed")
