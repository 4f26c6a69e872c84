"""Vault for the contract suite: a real OpenBao dev server behind a fault-injecting proxy."""
import json

import hvac

from providers.adapters.vault import VaultConfig, VaultSecretManager
from tests.conftest import free_port
from tests.providers.conftest import FAST_POLICY, ProviderUnderTest
from tests.servers.fault_proxy import FaultProxy
from tests.servers.openbao import OpenBaoServer

VAULT_ERRORS = {401: "missing client token", 403: "permission denied", 404: "", 500: "internal error",
                429: "request path: rate limit quota exceeded", 503: "Vault is sealed"}
# A token that may read only secret/data/readonly/*: used to prove PermissionDenied against the real server.
READONLY_POLICY = 'path "secret/data/readonly/*" { capabilities = ["read"] }'


def render_error(status):
    body = json.dumps({"errors": [VAULT_ERRORS[status]] if VAULT_ERRORS[status] else []}).encode()
    return status, [("Content-Type", "application/json")], body


def start(tmp_dir):
    server = OpenBaoServer(free_port(), tmp_dir / "bao.log")
    proxy = FaultProxy(int(server.url.rsplit(":", 1)[1]), render_error)
    root = hvac.Client(url=server.url, token=server.root_token)
    root.sys.create_or_update_policy("readonly", READONLY_POLICY)
    readonly_token = root.auth.token.create(policies=["readonly"], ttl="1h")["auth"]["client_token"]

    def make_adapter(bad_credentials=False, token=None, address=proxy.url):
        chosen = "not-a-valid-token" if bad_credentials else (token or server.root_token)
        return VaultSecretManager(VaultConfig(address=address, token=chosen), FAST_POLICY)

    def stop():
        proxy.stop()
        server.stop()

    under_test = ProviderUnderTest(
        kind="vault", make_adapter=make_adapter, faults=proxy.faults,
        unreachable_adapter=lambda: make_adapter(address=f"http://127.0.0.1:{free_port()}"),
        name=lambda base: f"contract/{base}#password", invalid_name="no-key-separator",
        list_page_limit=100, stop=stop,
    )
    under_test.readonly_adapter = lambda: make_adapter(token=readonly_token)
    under_test.root = root
    under_test.proxy_url = proxy.url
    under_test.server = server
    return under_test
