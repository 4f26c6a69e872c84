"""The rotation suite's OpenBao fixtures, for the monitoring tests that need a real (failing) provider."""
from tests.rotation.conftest import kv_mount, policy, secret, vault, vault_provider  # noqa: F401
