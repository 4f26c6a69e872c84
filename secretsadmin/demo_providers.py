"""The demo's local secret managers: a real OpenBao dev server and moto's AWS endpoint, seeded and registered."""
import os
import secrets
import shutil
import sys
import time
from pathlib import Path

import requests

from providers.models import Provider, Secret
from providers.registry import adapter_for
from providers.services import change_provider, create_provider
from providers.sync import sync_provider

# Generated per run and handed to the worker and web server through their environment: never stored.
VAULT_VARIABLE = "SECRETSADMIN_DEMO_VAULT_TOKEN"
AWS_KEY_VAR, AWS_SECRET_VAR = "SECRETSADMIN_DEMO_AWS_KEY_ID", "SECRETSADMIN_DEMO_AWS_SECRET_KEY"

SERVICES = ["payments", "checkout", "billing", "search", "auth", "notifications", "reporting", "inventory"]
VAULT_SECRETS = [f"apps/{service}/database#password" for service in SERVICES] + [
    f"apps/{service}/api#{key}" for service in SERVICES[:5] for key in ("stripe_key", "signing_key")
] + ["infra/tls/wildcard-example-com#private_key", "infra/tls/api-example-com#private_key",
     "infra/ci/github#deploy_key", "infra/monitoring/grafana#admin_password"]
AWS_SECRETS = [f"prod/{service}/db-password" for service in SERVICES] + [
    f"staging/{service}/db-password" for service in SERVICES[:4]
] + ["prod/partners/sendgrid-api-key", "prod/partners/twilio-auth-token", "prod/edge/cloudfront-signing-key",
     "shared/ldap/bind-password"]


def _binary(name):
    found = Path(sys.executable).with_name(name)
    return str(found) if found.exists() else shutil.which(name)


def _wait(url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def start_local_providers(group, var_dir, free_port):
    """Start OpenBao and the AWS endpoint under `group`; returns {kind: url} and sets the demo env vars."""
    log_dir = Path(var_dir) / "demo-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    os.environ[VAULT_VARIABLE] = secrets.token_hex(16)
    os.environ[AWS_KEY_VAR], os.environ[AWS_SECRET_VAR] = "demo", secrets.token_hex(16)  # moto accepts any keys
    bao_port, moto_port = free_port(), free_port()
    group.start("openbao", [_binary("bao"), "server", "-dev", f"-dev-root-token-id={os.environ[VAULT_VARIABLE]}",
                            f"-dev-listen-address=127.0.0.1:{bao_port}"],
                stdout=open(log_dir / "openbao.log", "wb"), stderr=open(log_dir / "openbao.err", "wb"))  # noqa: SIM115
    group.start("aws", [_binary("moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
                stdout=open(log_dir / "moto.log", "wb"), stderr=open(log_dir / "moto.err", "wb"))  # noqa: SIM115
    urls = {"vault": f"http://127.0.0.1:{bao_port}", "aws": f"http://127.0.0.1:{moto_port}"}
    _wait(urls["vault"] + "/v1/sys/health")
    _wait(urls["aws"] + "/moto-api/")
    return urls


def register_and_seed(urls):
    """Register the two demo providers (updating their ports) and fill them with demo secrets."""
    wanted = {
        "demo-vault": {"kind": "vault", "description": "Local OpenBao dev server (demo)",
                       "settings": {"address": urls["vault"], "mount": "secret", "auth_method": "token"},
                       "auth_reference": {"method": "env", "variables": {"token": VAULT_VARIABLE}}},
        "demo-aws": {"kind": "aws", "description": "Local AWS Secrets Manager endpoint, moto (demo)",
                     "settings": {"region": "us-east-1", "endpoint_url": urls["aws"]},
                     "auth_reference": {"method": "env", "variables": {"access_key_id": AWS_KEY_VAR,
                                                                       "secret_access_key": AWS_SECRET_VAR}}},
    }
    providers = {}
    for name, fields in wanted.items():
        existing = Provider.objects.filter(name=name).first()
        providers[name] = (change_provider(existing, actor="system", **fields) if existing
                           else create_provider(actor="system", name=name, **fields))
    # The demo servers start empty every time: forget what they held last time, or every secret would
    # look changed out of band on the first sync.
    Secret.objects.filter(provider__in=providers.values()).delete()
    vault, aws = adapter_for(providers["demo-vault"]), adapter_for(providers["demo-aws"])
    # Demo values are random per run: nothing here is a real or reusable credential.
    for name in VAULT_SECRETS:
        vault.create_secret(name, secrets.token_urlsafe(24))
    for name in AWS_SECRETS:
        aws.create_secret(name, secrets.token_urlsafe(24))
    # A first sync right away, so the inventory is not empty when the demo user signs in.
    for provider in providers.values():
        sync_provider(provider.pk, actor="system")
    return len(VAULT_SECRETS) + len(AWS_SECRETS)
