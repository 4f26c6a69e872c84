"""An in-memory Google Secret Manager REST server that the unchanged official client (REST transport) works against."""
import base64
import itertools
import json
import re
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import google_crc32c

from tests.servers.fault_proxy import Faults

ENABLED, DISABLED, DESTROYED = 1, 2, 3
STATE_NAMES = {ENABLED: "ENABLED", DISABLED: "DISABLED", DESTROYED: "DESTROYED"}
# google.rpc.Code names the client sees in {"error": {"status": ...}}, and the HTTP status Google pairs each with.
HTTP_FOR = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403,
            "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "ABORTED": 409, "RESOURCE_EXHAUSTED": 429, "INTERNAL": 500,
            "UNAVAILABLE": 503, "DEADLINE_EXCEEDED": 504}
STATUS_FOR = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
              409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
              504: "DEADLINE_EXCEEDED"}

SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
ANNOTATION_KEY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")
ANNOTATIONS_MAX_BYTES = 16 * 1024
PAYLOAD_MAX_BYTES = 64 * 1024
UPDATABLE = {"labels", "annotations"}


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


def crc32c(data):
    return google_crc32c.value(data)


def _now():
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Store:
    """Secrets keyed by resource name; one lock makes every request atomic, like the real service's per-call view."""

    def __init__(self, max_page_size):
        self.lock = threading.Lock()
        self.secrets = {}
        self.max_page_size = max_page_size
        self._sequence = itertools.count(1)  # creation order, for newest-first listing and stable page tokens
        self._etags = itertools.count(1)

    def etag(self):
        return f'"{next(self._etags):x}"'  # real etags are quoted strings

    # -- secrets ------------------------------------------------------------------------------------------
    def create_secret(self, project, query, body):
        secret_id = query.get("secretId", "")
        if not SECRET_ID.fullmatch(secret_id):
            raise ApiError("INVALID_ARGUMENT", "Secret ID must be 1-255 of [a-zA-Z0-9_-].")
        replication = body.get("replication") or {}
        if len(replication) != 1 or next(iter(replication)) not in ("automatic", "userManaged"):
            raise ApiError("INVALID_ARGUMENT", "Secret replication must be set to automatic or userManaged.")
        name = f"projects/{project}/secrets/{secret_id}"
        if name in self.secrets:
            raise ApiError("ALREADY_EXISTS", f"Secret [{name}] already exists.")
        labels, annotations = self._labels(body.get("labels", {})), self._annotations(body.get("annotations", {}))
        secret = {"name": name, "replication": replication, "createTime": _now(), "labels": labels,
                  "annotations": annotations, "etag": self.etag(), "seq": next(self._sequence), "versions": {}}
        self.secrets[name] = secret
        return self.render_secret(secret)

    def secret(self, project, secret_id):
        name = f"projects/{project}/secrets/{secret_id}"
        if name not in self.secrets:
            raise ApiError("NOT_FOUND", f"Secret [{name}] not found.")
        return self.secrets[name]

    def update_secret(self, secret, query, body):
        paths = [path for path in query.get("updateMask", "").split(",") if path]
        if not paths or set(paths) - UPDATABLE:
            raise ApiError("INVALID_ARGUMENT", f"updateMask must name only {', '.join(sorted(UPDATABLE))}.")
        self._check_etag(secret, body.get("etag"))
        if "labels" in paths:
            secret["labels"] = self._labels(body.get("labels", {}))
        if "annotations" in paths:
            secret["annotations"] = self._annotations(body.get("annotations", {}))
        secret["etag"] = self.etag()
        return self.render_secret(secret)

    def delete_secret(self, secret, query):
        self._check_etag(secret, query.get("etag"))
        del self.secrets[secret["name"]]
        return {}

    def list_secrets(self, project, query):
        prefix = f"projects/{project}/secrets/"
        items = sorted((s for n, s in self.secrets.items() if n.startswith(prefix)), key=lambda s: -s["seq"])
        page, token = self._page(items, query, lambda s: s["seq"])
        return {"secrets": [self.render_secret(s) for s in page], "nextPageToken": token, "totalSize": len(items)}

    # -- versions --------------------------------------------------------------------------------------------
    def add_version(self, secret, body):
        payload = body.get("payload") or {}
        try:
            data = base64.b64decode(payload.get("data", ""), validate=True)
        except ValueError:
            raise ApiError("INVALID_ARGUMENT", "payload.data is not valid base64.") from None
        if len(data) > PAYLOAD_MAX_BYTES:
            raise ApiError("INVALID_ARGUMENT", "Secret payload is larger than 64KiB.")
        checksum = crc32c(data)
        given = payload.get("dataCrc32c")
        if given is not None and int(given) != checksum:
            raise ApiError("INVALID_ARGUMENT", "Checksum mismatch: the payload was corrupted in transit.")
        number = len(secret["versions"]) + 1  # numbers are never reused, even after a destroy
        version = {"name": f"{secret['name']}/versions/{number}", "number": number, "createTime": _now(),
                   "state": ENABLED, "data": data, "crc": checksum, "etag": self.etag(),
                   "clientChecksum": given is not None}
        secret["versions"][number] = version
        return version

    def version(self, secret, version_id):
        versions = secret["versions"]
        if version_id == "latest":
            if not versions:
                raise ApiError("NOT_FOUND", f"Secret [{secret['name']}] not found or has no versions.")
            return versions[max(versions)]
        if not version_id.isdigit():
            raise ApiError("INVALID_ARGUMENT", "Version must be a number or 'latest'.")
        if int(version_id) not in versions:
            raise ApiError("NOT_FOUND", f"Secret Version [{secret['name']}/versions/{version_id}] not found.")
        return versions[int(version_id)]

    def access(self, version):
        if version["state"] != ENABLED:
            raise ApiError("FAILED_PRECONDITION",
                           f"Secret Version [{version['name']}] is in {STATE_NAMES[version['state']]} state.")
        return {"name": version["name"],
                "payload": {"data": base64.b64encode(version["data"]).decode(), "dataCrc32c": str(version["crc"])}}

    def change_state(self, version, action, body):
        self._check_etag(version, body.get("etag"))
        if version["state"] == DESTROYED:
            raise ApiError("FAILED_PRECONDITION", f"Secret Version [{version['name']}] is in DESTROYED state.")
        version["state"] = {"enable": ENABLED, "disable": DISABLED, "destroy": DESTROYED}[action]
        if action == "destroy":
            version["data"], version["destroyTime"] = b"", _now()
        version["etag"] = self.etag()
        return version

    def list_versions(self, secret, query):
        items = sorted(secret["versions"].values(), key=lambda v: -v["number"])  # newest first, as Google lists
        return self._page(items, query, lambda v: v["number"])

    # -- helpers ----------------------------------------------------------------------------------------------
    def _page(self, items, query, key):
        if query.get("filter"):
            raise ApiError("INVALID_ARGUMENT", "This test server does not implement list filters.")
        size = int(query.get("pageSize") or 0)
        size = self.max_page_size if size <= 0 else min(size, self.max_page_size)
        if query.get("pageToken"):
            try:
                after = int(base64.urlsafe_b64decode(query["pageToken"]).decode())
            except ValueError:
                raise ApiError("INVALID_ARGUMENT", "Invalid page token.") from None
            items = [item for item in items if key(item) < after]  # keyed, so inserts never shift a page
        page = items[:size]
        more = len(items) > size
        return page, base64.urlsafe_b64encode(str(key(page[-1])).encode()).decode() if more else ""

    @staticmethod
    def _check_etag(resource, etag):
        if etag and etag != resource["etag"]:
            raise ApiError("FAILED_PRECONDITION", "The etag provided does not match the current etag of the resource.")

    @staticmethod
    def _labels(labels):
        if len(labels) > 64 or not all(LABEL_KEY.fullmatch(k) and LABEL_VALUE.fullmatch(v) for k, v in labels.items()):
            raise ApiError("INVALID_ARGUMENT", "Labels: at most 64, keys [a-z][a-z0-9_-]{0,62}, values [a-z0-9_-]")
        return dict(labels)

    @staticmethod
    def _annotations(annotations):
        if not all(ANNOTATION_KEY.fullmatch(key) for key in annotations):
            raise ApiError("INVALID_ARGUMENT", "Annotation keys: 1-63 of [A-Za-z0-9._-], alphanumeric at both ends.")
        if sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items()) > ANNOTATIONS_MAX_BYTES:
            raise ApiError("INVALID_ARGUMENT", "Annotations are larger than 16KiB in total.")
        return dict(annotations)

    @staticmethod
    def render_secret(secret):
        out = {"name": secret["name"], "replication": secret["replication"], "createTime": secret["createTime"],
               "etag": secret["etag"]}
        out.update({key: secret[key] for key in ("labels", "annotations") if secret[key]})
        return out

    @staticmethod
    def render_version(version, int_enums):
        out = {"name": version["name"], "createTime": version["createTime"], "etag": version["etag"],
               "state": version["state"] if int_enums else STATE_NAMES[version["state"]],
               "replicationStatus": {"automatic": {}}, "clientSpecifiedPayloadChecksum": version["clientChecksum"]}
        if "destroyTime" in version:
            out["destroyTime"] = version["destroyTime"]
        return out


_SECRETS = r"/v1/projects/(?P<project>[^/]+)/secrets"
_SECRET = _SECRETS + r"/(?P<secret>[^/:]+)"
_VERSION = _SECRET + r"/versions/(?P<version>[^/:]+)"
ROUTES = [
    ("POST", re.compile(_SECRETS), "create_secret"),
    ("GET", re.compile(_SECRETS), "list_secrets"),
    ("GET", re.compile(_SECRET), "get_secret"),
    ("PATCH", re.compile(_SECRET), "update_secret"),
    ("DELETE", re.compile(_SECRET), "delete_secret"),
    ("POST", re.compile(_SECRET + ":addVersion"), "add_version"),
    ("GET", re.compile(_SECRET + "/versions"), "list_versions"),
    ("GET", re.compile(_VERSION), "get_version"),
    ("GET", re.compile(_VERSION + ":access"), "access_version"),
    ("POST", re.compile(_VERSION + r":(?P<action>enable|disable|destroy)"), "change_state"),
]


class GcpSecretManagerServer:
    """Serves the v1 REST surface on a free loopback port; `require_token` turns on bearer-token checks."""

    def __init__(self, max_page_size=25, require_token=False, accepted_tokens=()):
        self.store = Store(max_page_size)
        self.require_token = require_token
        self.accepted_tokens = set(accepted_tokens)
        self.faults = Faults()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def max_page_size(self):
        return self.store.max_page_size

    @max_page_size.setter
    def max_page_size(self, value):
        self.store.max_page_size = value

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def dispatch(self, method, path, query, body):
        """The JSON answer to one request (or ApiError); faults and authentication are handled before this."""
        found = [(pattern.fullmatch(path), action) for verb, pattern, action in ROUTES if verb == method]
        match, action = next(((m, a) for m, a in found if m), (None, None))
        if match is None:
            raise ApiError("NOT_FOUND", f"No such method: {method} {path}")
        args = {key: unquote(value) for key, value in match.groupdict().items()}
        int_enums = "enum-encoding=int" in query.get("$alt", "")
        store = self.store
        with store.lock:
            if action == "create_secret":
                return store.create_secret(args["project"], query, body)
            if action == "list_secrets":
                return store.list_secrets(args["project"], query)
            secret = store.secret(args["project"], args["secret"])
            if action == "get_secret":
                return store.render_secret(secret)
            if action == "update_secret":
                return store.update_secret(secret, query, body)
            if action == "delete_secret":
                return store.delete_secret(secret, query)
            if action == "add_version":
                return store.render_version(store.add_version(secret, body), int_enums)
            if action == "list_versions":
                page, token = store.list_versions(secret, query)
                return {"versions": [store.render_version(v, int_enums) for v in page], "nextPageToken": token,
                        "totalSize": len(secret["versions"])}
            version = store.version(secret, args["version"])
            if action == "access_version":
                return store.access(version)
            if action == "change_state":
                return store.render_version(store.change_state(version, args["action"], body), int_enums)
            return store.render_version(version, int_enums)

    def _authorized(self, headers):
        if not self.require_token:
            return True
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and token in self.accepted_tokens

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes; with Nagle on, a kept-alive connection stalls ~40 ms on each.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""  # read it all: the connection is kept alive
                status, delay = server.faults.take()
                if delay:
                    time.sleep(delay)
                try:
                    if status is not None:
                        raise ApiError(STATUS_FOR.get(status, "UNKNOWN"), f"Injected fault {status}.")
                    if not server._authorized(self.headers):
                        raise ApiError("UNAUTHENTICATED", "Request had invalid authentication credentials.")
                    url = urlsplit(self.path)
                    query = {key: values[-1] for key, values in parse_qs(url.query).items()}
                    try:
                        body = json.loads(raw) if raw else {}
                    except ValueError:
                        raise ApiError("INVALID_ARGUMENT", "Invalid JSON payload received.") from None
                    self._reply(200, server.dispatch(self.command, url.path, query, body))
                except ApiError as error:
                    code = status or HTTP_FOR.get(error.status, 500)
                    self._reply(code, {"error": {"code": code, "message": error.message, "status": error.status}})

            def _reply(self, status, document):
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')
                try:
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up (a timeout test): the work is done, only the answer is lost, as in life.
                    self.close_connection = True

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        return Handler


def start_gcp_server(tmp_dir=None, **options):
    """A running server; `tmp_dir` is accepted for symmetry with the other servers (this one keeps no files)."""
    return GcpSecretManagerServer(**options)
