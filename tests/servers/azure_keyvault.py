"""A small wire-compatible Azure Key Vault (secrets only) over HTTPS that the unchanged SecretClient talks to."""
import json
import re
import secrets
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import trustme

from tests.servers.fault_proxy import Faults

NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
TENANT = "11111111-2222-3333-4444-555555555555"  # any GUID: the SDK only forwards it to the credential
CHALLENGE = (f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
             'resource="https://vault.azure.net"')
RECOVERABLE_DAYS = 90
MAX_TAGS = 15  # Key Vault's limit per secret version
# What Key Vault answers for each injectable fault: (error code, message).
FAULTS = {
    401: ("Unauthorized", "AKV10032: Invalid issuer."),
    403: ("Forbidden", "The user, group or application does not have secrets get permission on this key vault."),
    404: ("SecretNotFound", "A secret with this name was not found in this key vault."),
    429: ("Throttled", "Request was not processed because too many requests were received."),
    500: ("InternalServerError", "An unexpected error occurred."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
}


class ApiError(Exception):
    def __init__(self, status, code, message, inner=None):
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner


def error_body(code, message, inner=None):
    error = {"code": code, "message": message}
    if inner:
        error["innererror"] = {"code": inner}
    return {"error": error}


def not_found(what):
    return ApiError(404, "SecretNotFound", f"A secret with (name/id) {what} was not found in this key vault.")


def bad_parameter(message):
    return ApiError(400, "BadParameter", message)


class Vault:
    """The in-memory state. Names are case-insensitive in Key Vault, so entries are keyed by the lower-cased name."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.max_page_size = 25  # Key Vault's own maximum for maxresults
        self.lock = threading.Lock()
        self.live = {}  # lower name -> {"name": str, "versions": [version dict, oldest first]}
        self.deleted = {}  # lower name -> the same, plus "deleted" (epoch seconds)

    # -- routing -------------------------------------------------------------------------------------
    def route(self, method, parts, query, body):
        if parts == ["secrets"] and method == "GET":
            return 200, self.list_secrets(query)
        if len(parts) < 2 or parts[0] not in ("secrets", "deletedsecrets"):
            raise bad_parameter("The request URI is not a supported operation.")
        name = parts[1]
        if not NAME.fullmatch(name):
            raise bad_parameter("The request URI contains an invalid name: names are 1-127 of 0-9 a-z A-Z -.")
        key, rest = name.lower(), parts[2:]
        if parts[0] == "deletedsecrets" and not rest:
            if method == "GET":
                return 200, self.deleted_bundle(self._deleted(key))
            if method == "DELETE":
                self._deleted(key)
                del self.deleted[key]
                return 204, None
        elif parts[0] == "secrets" and not rest:
            if method == "PUT":
                return 200, self.set_secret(name, key, body)
            if method == "DELETE":
                return 200, self.delete_secret(key)
            if method == "GET":
                return 200, self.get_secret(key, "")
        elif parts[0] == "secrets" and len(rest) == 1:
            if rest == ["versions"] and method == "GET":
                return 200, self.list_versions(key, query)
            if method == "GET":
                return 200, self.get_secret(key, rest[0])
            if method == "PATCH":
                return 200, self.update_secret(key, rest[0], body)
        raise bad_parameter("The request URI is not a supported operation.")

    # -- operations ----------------------------------------------------------------------------------
    def set_secret(self, name, key, body):
        if key in self.deleted:
            raise ApiError(409, "Conflict", f"Secret {name} is currently in a deleted but recoverable state, and its "
                                            "name cannot be reused; in this state, the secret can only be recovered "
                                            "or purged.")
        if not isinstance(body.get("value"), str):
            raise bad_parameter("The property 'value' is required and must be a string.")
        tags = self._tags(body.get("tags"))
        attributes = body.get("attributes") or {}
        now = int(time.time())
        version = {"version": secrets.token_hex(16), "value": body["value"], "tags": tags,
                   "contentType": body.get("contentType"), "enabled": attributes.get("enabled", True) is not False,
                   "nbf": attributes.get("nbf"), "exp": attributes.get("exp"), "created": now, "updated": now}
        entry = self.live.setdefault(key, {"name": name, "versions": []})
        entry["versions"].append(version)
        return self.bundle(entry, version)

    def get_secret(self, key, version_id):
        entry, version = self._version(key, version_id)
        if not version["enabled"]:
            raise ApiError(403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
        return self.bundle(entry, version)

    def update_secret(self, key, version_id, body):
        entry, version = self._version(key, version_id)
        if "tags" in body:
            version["tags"] = self._tags(body["tags"])
        if "contentType" in body:
            version["contentType"] = body["contentType"]
        attributes = body.get("attributes") or {}
        for field in ("enabled", "nbf", "exp"):
            if field in attributes:
                version[field] = attributes[field]
        version["enabled"] = version["enabled"] is not False
        version["updated"] = int(time.time())
        return self.bundle(entry, version, with_value=False)

    def delete_secret(self, key):
        self.deleted[key] = dict(self._live(key), deleted=int(time.time()))
        del self.live[key]
        return self.deleted_bundle(self.deleted[key])

    def list_secrets(self, query):
        size = self._page_size(query)
        after = (query.get("$skiptoken") or [""])[0]
        keys = sorted(k for k in self.live if k > after)
        page, more = keys[:size], len(keys) > size
        items = [self.item(self.live[k], self.live[k]["versions"][-1], with_version=False) for k in page]
        link = f"{self.base_url}/secrets?$skiptoken={page[-1]}&maxresults={size}" if more else None
        return {"value": items, "nextLink": link}

    def list_versions(self, key, query):
        entry, size = self._live(key), self._page_size(query)
        token = (query.get("$skiptoken") or ["0"])[0]
        if not token.isdigit():
            raise bad_parameter("The $skiptoken is not valid.")
        start = int(token)
        page = entry["versions"][start:start + size]
        more = start + size < len(entry["versions"])
        link = (f"{self.base_url}/secrets/{entry['name']}/versions?$skiptoken={start + size}&maxresults={size}"
                if more else None)
        return {"value": [self.item(entry, v) for v in page], "nextLink": link}

    # -- representations -----------------------------------------------------------------------------
    def attributes(self, version):
        out = {"enabled": version["enabled"], "created": version["created"], "updated": version["updated"],
               "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": RECOVERABLE_DAYS}
        out.update({k: version[k] for k in ("nbf", "exp") if version[k] is not None})
        return out

    def item(self, entry, version, with_version=True):
        suffix = f"/{version['version']}" if with_version else ""
        out = {"id": f"{self.base_url}/secrets/{entry['name']}{suffix}", "attributes": self.attributes(version)}
        if version["tags"] is not None:
            out["tags"] = version["tags"]
        if version["contentType"] is not None:
            out["contentType"] = version["contentType"]
        return out

    def bundle(self, entry, version, with_value=True):
        out = self.item(entry, version)
        if with_value:
            out["value"] = version["value"]
        return out

    def deleted_bundle(self, entry):
        out = self.item(entry, entry["versions"][-1])
        out.update(recoveryId=f"{self.base_url}/deletedsecrets/{entry['name']}", deletedDate=entry["deleted"],
                   scheduledPurgeDate=entry["deleted"] + RECOVERABLE_DAYS * 86400)
        return out

    # -- helpers -------------------------------------------------------------------------------------
    def _live(self, key):
        if key not in self.live:
            raise not_found(key)
        return self.live[key]

    def _deleted(self, key):
        if key not in self.deleted:
            raise ApiError(404, "SecretNotFound", f"Deleted Secret not found: {key}")
        return self.deleted[key]

    def _version(self, key, version_id):
        entry = self._live(key)
        if not version_id:
            return entry, entry["versions"][-1]
        for version in entry["versions"]:
            if version["version"] == version_id.lower():
                return entry, version
        raise not_found(f"{key}/{version_id}")

    def _page_size(self, query):
        raw = (query.get("maxresults") or [str(self.max_page_size)])[0]
        if not raw.isdigit() or int(raw) < 1:
            raise bad_parameter("maxresults must be a positive integer.")
        return min(int(raw), self.max_page_size)

    @staticmethod
    def _tags(tags):
        if tags is None:
            return None
        if not isinstance(tags, dict) or len(tags) > MAX_TAGS or \
                not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            raise bad_parameter(f"Tags must be at most {MAX_TAGS} string keys and values.")
        return dict(tags)


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (read time-out, closed keep-alive) is expected; anything else is a bug to show.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    timeout = 30

    def setup(self):
        # The TLS handshake runs here, in the connection's own thread, so a stuck client cannot block accept().
        self.request.do_handshake()
        super().setup()

    def log_message(self, *args):
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""  # always drained, so keep-alive stays in step
        status, headers, payload = self.server.app.respond(self.command, self.path, self.headers, body)
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if payload is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = _handle


class AzureKeyVaultServer:
    """Serves one vault on a free loopback port with a throwaway CA; trust `ca_pem_path` to talk to `url`."""

    def __init__(self, tmp_dir):
        self.accepted_tokens = {"test-token"}
        self.faults = Faults()
        self.challenges = []  # (method, path) of every unauthenticated request answered with the challenge
        ca = trustme.CA()
        self.ca_pem_path = str(Path(tmp_dir) / "azure-keyvault-ca.pem")
        ca.cert_pem.write_to_path(self.ca_pem_path)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.httpd = _TLSServer(("127.0.0.1", 0), _Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.httpd.app = self
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.vault = Vault(self.url)
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def max_page_size(self):
        return self.vault.max_page_size

    @max_page_size.setter
    def max_page_size(self, size):
        self.vault.max_page_size = size

    def respond(self, method, raw_path, headers, body):
        """(status, [(header, value)], JSON payload or None) for one request."""
        url = urlsplit(raw_path)
        authorization = headers.get("Authorization")
        if not authorization:
            # Key Vault's challenge: the SDK sent this copy without a token (and without its body) on purpose.
            self.challenges.append((method, url.path))
            return 401, [("WWW-Authenticate", CHALLENGE)], error_body(
                "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
        status, delay = self.faults.take()
        if delay:
            time.sleep(delay)
        if status is not None:
            retry = [("Retry-After", "0")] if status == 429 else []
            return status, retry, error_body(*FAULTS[status])
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token not in self.accepted_tokens:
            # No WWW-Authenticate here: with one, the SDK would repeat the handshake and resend the request.
            return 401, [], error_body("Unauthorized", "AKV10032: Invalid issuer or the token is not valid.")
        try:
            query = parse_qs(url.query)
            if not query.get("api-version"):
                raise bad_parameter("The request must carry an api-version query parameter.")
            parsed = json.loads(body) if body else {}
            if not isinstance(parsed, dict):
                raise bad_parameter("The request body must be a JSON object.")
            parts = [unquote(part) for part in url.path.split("/")[1:]]
            with self.vault.lock:
                status, payload = self.vault.route(method, parts, query, parsed)
            return status, [], payload
        except json.JSONDecodeError:
            return 400, [], error_body("BadParameter", "The request body is not valid JSON.")
        except ApiError as exc:
            return exc.status, [], error_body(exc.code, exc.message, exc.inner)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def start_azure_keyvault_server(tmp_dir) -> AzureKeyVaultServer:
    return AzureKeyVaultServer(tmp_dir)
