"""Provider evidence: TLS to every provider, encryption at rest per kind, recent successful syncs."""
import pytest

from tests.compliance.conftest import scenarios_for


@pytest.mark.parametrize(("slug", "status"), scenarios_for("providers"))
def test_each_data_set_gives_its_status(slug, status, scenario, run_check):
    assert run_check(slug, scenario(slug, status))["status"] == status


@pytest.mark.parametrize("slug", ["provider_tls", "provider_encryption_at_rest", "provider_sync_recent"])
def test_no_provider_is_not_applicable(slug, run_check, db):
    assert run_check(slug)["status"] == "not_applicable"


def test_each_provider_s_endpoint_and_transport_is_listed(evidence, run_check):
    evidence.provider("aws-prod", "aws")
    evidence.provider("aws-local", "aws", endpoint_url="http://localhost:5000")
    evidence.provider("gcp-main", "gcp", api_endpoint="secretmanager.example.com:443")
    evidence.provider("kv", "azure")
    outcome = run_check("provider_tls")
    assert outcome["drilldown"]["rows"] == [
        ["aws-local", "AWS Secrets Manager", "http://localhost:5000", "plaintext on loopback"],
        ["aws-prod", "AWS Secrets Manager", "https (AWS regional endpoint)", "TLS"],
        ["gcp-main", "Google Cloud Secret Manager", "secretmanager.example.com:443", "TLS"],
        ["kv", "Azure Key Vault", "https://kv-example.vault.azure.net", "TLS"],
    ]
    assert outcome["status"] == "partial"


def test_disabled_providers_are_left_out(evidence, run_check):
    provider = evidence.provider(kind="vault", address="http://vault.example.internal:8200")
    provider.enabled = False
    provider.save(update_fields=["enabled"])
    assert run_check("provider_tls")["status"] == "not_applicable"


def test_encryption_at_rest_is_documented_per_kind(evidence, run_check):
    evidence.provider("aws-cmk", "aws", kms_key_id="arn:aws:kms:eu-west-1:111122223333:key/abc")
    evidence.provider("bao", "vault")
    evidence.provider("gcp-main", "gcp")
    outcome = run_check("provider_encryption_at_rest")
    rows = {row[0]: row for row in outcome["drilldown"]["rows"]}
    assert rows["aws-cmk"][2].startswith("AWS KMS customer-managed key") and rows["aws-cmk"][3] == "customer"
    assert rows["bao"][2].startswith("Barrier encryption") and rows["bao"][3] == "customer"
    assert rows["gcp-main"][3] == "provider"
    assert outcome["status"] == "pass"  # customer-managed keys are not required by default
    assert run_check("provider_encryption_at_rest", {"require_customer_managed_keys": True})["status"] == "partial"


def test_only_successful_syncs_count(evidence, run_check):
    provider = evidence.provider("vault-main", "vault")
    evidence.event("inventory.synced", actor="worker", target=provider, provider=provider.name, days=0.1,
                   outcome="failure", failure_reason="NetworkError")
    outcome = run_check("provider_sync_recent")
    assert outcome["status"] == "fail" and outcome["figures"]["never_synced"] == 1
    assert outcome["drilldown"]["rows"] == [["vault-main", "vault", None, None]]
