"""Azure Key Vault for the contract suite: the wire-compatible HTTPS server with the official SecretClient."""
from providers.adapters.azure import AzureKeyVaultConfig, AzureKeyVaultSecretManager
from tests.conftest import free_port
from tests.providers.conftest import FAST_POLICY, ProviderUnderTest
from tests.servers.azure_keyvault import start_azure_keyvault_server


def start(tmp_dir):
    server = start_azure_keyvault_server(tmp_dir)

    def make_adapter(bad_credentials=False, vault_url=server.url):
        config = AzureKeyVaultConfig(vault_url=vault_url, credential="static_token",
                                     token="wrong-token" if bad_credentials else "test-token",
                                     ca_cert=server.ca_pem_path)
        return AzureKeyVaultSecretManager(config, FAST_POLICY)

    under_test = ProviderUnderTest(
        kind="azure", make_adapter=make_adapter, faults=server.faults,
        unreachable_adapter=lambda: make_adapter(vault_url=f"https://127.0.0.1:{free_port()}"),
        name=lambda base: base, invalid_name="bad_name!", list_page_limit=server.max_page_size, stop=server.stop,
    )
    under_test.server = server
    return under_test
