"""A small OpenID Connect provider on loopback for the single sign-on tests: real HTTP, real RS256 tokens.

Discovery, authorize (consents at once for the person set in `user`), token (client_secret_basic or _post, PKCE
S256, single-use codes), userinfo, JWKS and end-session. The RSA key and the client secret are made at start-up.
Tests bend it through a few attributes: `id_token_claims` overrides claims of the next ID tokens,
`signing_key` signs them with another key, `deny` answers authorize with access_denied.
"""
import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CODE_SECONDS = 60
TOKEN_SECONDS = 300


def new_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class OAuthError(Exception):
    def __init__(self, error, status=400):
        super().__init__(error)
        self.error, self.status = error, status


class OidcProvider:
    """Serves one client (`client_id`, `client_secret`) on a free loopback port; `url` is the issuer."""

    def __init__(self):
        self.key, self.kid = new_rsa_key(), secrets.token_hex(8)
        self.client_id = f"secretsadmin-test-{secrets.token_hex(4)}"
        self.client_secret = secrets.token_urlsafe(32)
        self.lock = threading.Lock()
        self.redirect_uris = set()
        self.reset()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.provider = self
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def reset(self):
        """Back to an honest provider with nobody signed in (between tests)."""
        with self.lock:
            self.user = None  # the claims of the person the authorize endpoint signs in
            self.deny = False
            self.id_token_claims = {}
            self.signing_key = None
            self.codes, self.access_tokens = {}, {}
            self.token_requests = []  # (client authentication method, outcome) of each token request
            self.logouts = []
            self.userinfo_requests = 0

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def endpoints(self):
        return {"issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token", "userinfo_endpoint": f"{self.url}/userinfo",
                "jwks_endpoint": f"{self.url}/jwks", "end_session_endpoint": f"{self.url}/logout"}

    # -- endpoints ---------------------------------------------------------------------------------------------
    def discovery(self):
        endpoints = {("jwks_uri" if k == "jwks_endpoint" else k): v for k, v in self.endpoints.items()}
        return {**endpoints, "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "scopes_supported": ["openid", "email", "profile", "groups"]}

    def jwks(self):
        public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def authorize(self, query):
        """The redirect (Location) back to the client: a code, or an error once the redirect URI is trusted."""
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or redirect_uri not in self.redirect_uris:
            raise OAuthError("invalid_request")  # never redirect to an unregistered address
        state = query.get("state")

        def back(**params):
            return f"{redirect_uri}?{urlencode({**params, **({'state': state} if state else {})})}"

        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return back(error="invalid_request")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return back(error="invalid_request")  # this provider demands PKCE
        if self.deny or self.user is None:
            return back(error="access_denied")
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {"redirect_uri": redirect_uri, "nonce": query.get("nonce"), "used": False,
                                "challenge": query["code_challenge"], "claims": dict(self.user),
                                "expires": time.time() + CODE_SECONDS, "auth_time": int(time.time())}
        return back(code=code)

    def token(self, headers, form):
        method, client_id, client_secret = self._client_credentials(headers, form)
        try:
            if client_id != self.client_id or not hmac.compare_digest(client_secret.encode(),
                                                                       self.client_secret.encode()):
                raise OAuthError("invalid_client", 401)
            if form.get("grant_type") != "authorization_code":
                raise OAuthError("unsupported_grant_type")
            with self.lock:
                grant = self.codes.get(form.get("code", ""))
                if grant is None or grant["used"] or grant["expires"] < time.time():
                    raise OAuthError("invalid_grant")
                grant["used"] = True  # single use, even when the rest of the request is wrong
            if form.get("redirect_uri") != grant["redirect_uri"]:
                raise OAuthError("invalid_grant")
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not verifier or not hmac.compare_digest(challenge, grant["challenge"]):
                raise OAuthError("invalid_grant")
        except OAuthError as exc:
            self.token_requests.append((method, exc.error))
            raise
        self.token_requests.append((method, "ok"))
        access_token = secrets.token_urlsafe(32)
        self.access_tokens[access_token] = grant["claims"]
        return {"access_token": access_token, "token_type": "Bearer", "expires_in": TOKEN_SECONDS,
                "id_token": self.id_token(grant)}

    def id_token(self, grant):
        now = int(time.time())
        claims = {"iss": self.url, "sub": grant["claims"]["sub"], "aud": self.client_id, "iat": now,
                  "exp": now + TOKEN_SECONDS, "auth_time": grant["auth_time"], "nonce": grant["nonce"],
                  **grant["claims"], **self.id_token_claims}
        return jwt.encode({k: v for k, v in claims.items() if v is not None}, self.signing_key or self.key,
                          algorithm="RS256", headers={"kid": self.kid})

    def userinfo(self, headers):
        self.userinfo_requests += 1
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        claims = self.access_tokens.get(token) if scheme.lower() == "bearer" else None
        if claims is None:
            raise OAuthError("invalid_token", 401)
        return claims

    def logout(self, query):
        self.logouts.append(dict(query))
        target = query.get("post_logout_redirect_uri", "")
        if query.get("client_id") == self.client_id and urlsplit(target).netloc in {
                urlsplit(uri).netloc for uri in self.redirect_uris}:
            return target
        return None

    @staticmethod
    def _client_credentials(headers, form):
        scheme, _, encoded = headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
            except ValueError:
                raise OAuthError("invalid_client", 401) from None
            return "client_secret_basic", client_id, client_secret
        return "client_secret_post", form.get("client_id", ""), form.get("client_secret", "")


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status, payload=None, location=None, html=None):
        body = (json.dumps(payload).encode() if payload is not None else (html or "").encode())
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Type", "application/json" if payload is not None else "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        provider, url = self.server.provider, urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            if url.path == "/.well-known/openid-configuration":
                return self._send(200, provider.discovery())
            if url.path == "/jwks":
                return self._send(200, provider.jwks())
            if url.path == "/authorize":
                return self._send(302, location=provider.authorize(query))
            if url.path == "/userinfo":
                return self._send(200, provider.userinfo(self.headers))
            if url.path == "/logout":
                target = provider.logout(query)
                return self._send(302, location=target) if target else self._send(200, html="Signed out.")
            return self._send(404, {"error": "not_found"})
        except OAuthError as exc:
            return self._send(exc.status, {"error": exc.error})

    def do_POST(self):
        provider, url = self.server.provider, urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if url.path != "/token":
            return self._send(404, {"error": "not_found"})
        try:
            return self._send(200, provider.token(self.headers, form))
        except OAuthError as exc:
            return self._send(exc.status, {"error": exc.error})
