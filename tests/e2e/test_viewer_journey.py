"""A Viewer granted one provider browses the inventory: only that provider's secrets, no reveal or rotate, and
another provider's secrets are a 404 even by direct URL.

The grant is given as an Administrator would: on the provider's Permissions page. The other provider is a real
AWS Secrets Manager endpoint (moto) next to the local OpenBao.
"""
import uuid

import boto3
import pytest
from playwright.sync_api import expect

from providers.models import Provider, Secret
from providers.sync import sync_provider
from tests.conftest import make_user
from tests.e2e.pages import nav
from tests.providers.fixtures_aws import TEST_KEYS
from tests.rotation.conftest import read, write

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
AWS_REGION = "ap-southeast-2"  # moto keeps regions apart: no other test's secrets in this provider


@pytest.fixture
def aws_provider(provider_servers, monkeypatch):
    """An AWS provider on the local endpoint, with two secrets (values generated now), synced."""
    aws = provider_servers("aws")
    monkeypatch.setenv("SA_E2E_AWS_KEY_ID", TEST_KEYS.access_key_id)
    monkeypatch.setenv("SA_E2E_AWS_SECRET_KEY", TEST_KEYS.secret_access_key)
    client = boto3.client("secretsmanager", region_name=AWS_REGION, endpoint_url=aws.proxy_url,
                          aws_access_key_id=TEST_KEYS.access_key_id,
                          aws_secret_access_key=TEST_KEYS.secret_access_key)
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    values = {}
    for name in (f"{prefix}/payments/api-key", f"{prefix}/reports/db"):
        values[name] = f"aws-{uuid.uuid4().hex}"
        client.create_secret(Name=name, SecretString=values[name])
    provider = Provider.objects.create(
        kind="aws", name=f"aws-{prefix}", settings={"region": AWS_REGION, "endpoint_url": aws.proxy_url},
        auth_reference={"method": "env", "variables": {"access_key_id": "SA_E2E_AWS_KEY_ID",
                                                       "secret_access_key": "SA_E2E_AWS_SECRET_KEY"}})
    assert sync_provider(provider.pk, actor="system").ok
    yield provider, values
    for name in values:
        client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_a_viewer_granted_one_provider_sees_only_its_secrets(sign_in, artifacts, secret, vault, kv_mount,
                                                             vault_provider, aws_provider, role_users):
    aws, aws_values = aws_provider
    vault_values = [f"vault-{uuid.uuid4().hex}"]
    write(vault, kv_mount, "team/ci", token=vault_values[0])
    assert sync_provider(vault_provider.pk, actor="system").ok
    vault_values.append(read(vault, kv_mount, "app/db")["data"]["password"])
    make_user("vera")  # no role: what she sees comes from the grant alone

    # erin (Administrator) grants vera "View" on the OpenBao provider, on its Permissions page.
    erin = sign_in("erin")
    nav(erin, "Providers")
    erin.get_by_role("link", name=vault_provider.name).click()
    erin.get_by_role("link", name="Permissions").click()
    erin.get_by_label("Grant to").select_option(label="User")
    erin.get_by_label("User or group name").fill("vera")
    erin.get_by_label("Action").select_option(label="View")
    erin.get_by_role("button", name="Grant").click()
    expect(erin.get_by_role("alert")).to_contain_text("Granted “View” to vera.")
    expect(erin.get_by_test_id("grant-row")).to_contain_text("vera")
    artifacts.shot(erin, "erin-grants-view-on-one-provider")

    vera = sign_in("vera")  # lands on the dashboard, whose figures cover what she may see
    expect(vera.get_by_text(aws.name)).to_have_count(0)
    artifacts.shot(vera, "vera-dashboard")
    nav(vera, "Inventory")
    visible = Secret.objects.filter(provider=vault_provider).count()
    assert visible == 3  # app/db#password, app/db#user, team/ci#token
    expect(vera.get_by_text(f"{visible} in total.")).to_be_visible()
    rows = vera.get_by_role("row").filter(has=vera.get_by_role("link"))
    expect(rows).to_have_count(visible)
    for row in rows.all():
        expect(row.get_by_role("cell").nth(1)).to_have_text(vault_provider.name)
    for name in aws_values:
        expect(vera.get_by_text(name)).to_have_count(0)
    expect(vera.get_by_label("Provider").locator("option")).to_have_text(["Any", vault_provider.name])
    artifacts.shot(vera, "vera-inventory-one-provider")

    vera.get_by_role("link", name=secret.name, exact=True).click()
    expect(vera.get_by_role("heading", level=1)).to_contain_text(secret.name)
    expect(vera.get_by_test_id("effective-policy")).to_be_visible()  # a policy applies: only her rights hide these
    for action in ("Reveal value", "Request rotation", "Rotate now", "Edit", "Revoke", "Permissions"):
        expect(vera.get_by_role("link", name=action)).to_have_count(0)
        expect(vera.get_by_role("button", name=action)).to_have_count(0)
    expect(vera.get_by_label("Reason for a rotation")).to_have_count(0)
    expect(vera.get_by_test_id("emergency-rotation")).to_have_count(0)
    artifacts.shot(vera, "vera-secret-without-reveal-or-rotate")

    # Typed-in addresses: her own provider's reveal is refused; the other provider's pages do not exist for her.
    own = vera.goto(f"/inventory/{secret.uuid}/reveal/")
    assert own.status == 403
    artifacts.shot(vera, "vera-reveal-refused")
    other_secret = Secret.objects.filter(provider=aws).first()
    for path in (f"/inventory/{other_secret.uuid}/", f"/inventory/{other_secret.uuid}/reveal/",
                 f"/inventory/{other_secret.uuid}/permissions/", f"/providers/{aws.uuid}/"):
        response = vera.goto(path)
        assert response.status == 404, path
        expect(vera.get_by_text(other_secret.name)).to_have_count(0)
        expect(vera.get_by_text(aws.name)).to_have_count(0)
    artifacts.shot(vera, "vera-other-provider-404")

    artifacts.assert_never_shown(*vault_values, *aws_values.values(), vault.root.token)
