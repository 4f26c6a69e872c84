"""Google Secret Manager for the contract suite: the in-memory REST server, checking bearer tokens."""
from providers.adapters.gcp import GcpSecretManager, GcpSecretManagerConfig
from tests.conftest import free_port
from tests.providers.conftest import FAST_POLICY, ProviderUnderTest
from tests.servers.gcp_secretmanager import start_gcp_server

PROJECT = "contract-project"
GOOD_TOKEN, BAD_TOKEN = "test-token", "wrong-token"


def start(tmp_dir):
    server = start_gcp_server(tmp_dir, require_token=True, accepted_tokens={GOOD_TOKEN})

    def make_adapter(bad_credentials=False, endpoint=server.url):
        config = GcpSecretManagerConfig(project_id=PROJECT, api_endpoint=endpoint,
                                        access_token=BAD_TOKEN if bad_credentials else GOOD_TOKEN)
        return GcpSecretManager(config, FAST_POLICY)

    return ProviderUnderTest(
        kind="gcp", make_adapter=make_adapter, faults=server.faults,
        unreachable_adapter=lambda: make_adapter(endpoint=f"http://127.0.0.1:{free_port()}"),
        name=lambda base: base, invalid_name="bad name!", list_page_limit=server.max_page_size, stop=server.stop,
    )
