"""A loopback HTTP proxy in front of a real server (moto, OpenBao) that can answer with injected faults."""
import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Faults:
    """Arm the next requests to fail (with the provider's own error format) or to be slow."""

    def __init__(self):
        self._lock = threading.Lock()
        self._failures = []  # statuses to answer with, in order
        self._delays = []
        self.requests_seen = 0

    def fail_next(self, status, count=1):
        with self._lock:
            self._failures.extend([status] * count)

    def delay_next(self, seconds, count=1):
        with self._lock:
            self._delays.extend([seconds] * count)

    def clear(self):
        with self._lock:
            self._failures.clear()
            self._delays.clear()

    def take(self):
        with self._lock:
            self.requests_seen += 1
            status = self._failures.pop(0) if self._failures else None
            delay = self._delays.pop(0) if self._delays else 0
        return status, delay


HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization"}


class FaultProxy:
    """Forwards to upstream_port unless a fault is armed; render_error(status) -> (status, headers, body bytes).

    auth_check(headers) may return a status to answer with (e.g. for credentials a server would reject).
    """

    def __init__(self, upstream_port, render_error, auth_check=None):
        self.faults = Faults()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # otherwise each kept-alive reply waits ~40 ms for a delayed ACK

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, delay = proxy.faults.take()
                if delay:
                    time.sleep(delay)
                if status is None and auth_check is not None:
                    status = auth_check(self.headers)
                if status is not None:
                    return self._reply(*render_error(status))
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    answer = upstream.getresponse()
                    payload = answer.read()
                    kept = [(k, v) for k, v in answer.getheaders()
                            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
                    self._reply(answer.status, kept, payload)
                finally:
                    upstream.close()

            def _reply(self, status, headers, payload):
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_LIST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
