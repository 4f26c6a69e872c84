"""Provider evidence: connections over TLS, encryption at rest per provider kind, recent successful syncs."""
import ipaddress
from urllib.parse import urlsplit

from compliance.checks.audit import last_successful_syncs
from compliance.checks.base import FAIL, NOT_APPLICABLE, PARTIAL, PASS, check, plural, result, table
from providers.models import Provider

# kind -> (the setting holding its endpoint, what an unset one means)
ENDPOINTS = {
    "aws": ("endpoint_url", "https (AWS regional endpoint)"),
    "vault": ("address", None),
    "azure": ("vault_url", None),
    "gcp": ("api_endpoint", "https (Google API endpoint)"),
}


def providers_as_of(ctx):
    return Provider.objects.filter(enabled=True, created_at__lt=ctx.as_of).order_by("name")


def _is_loopback(host):
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def transport(provider):
    """(verdict "tls" | "loopback" | "plaintext", what the endpoint is)."""
    setting, default = ENDPOINTS.get(provider.kind, ("", None))
    endpoint = str((provider.settings or {}).get(setting) or "")
    if not endpoint:
        return ("tls", default) if default else ("plaintext", "no endpoint configured")
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")  # SDKs default to https
    if parts.scheme == "https":
        return "tls", endpoint
    return ("loopback" if _is_loopback(parts.hostname or "") else "plaintext"), endpoint


@check("provider_tls", title="Providers reached over TLS", rule="""
    Every enabled provider is reached over HTTPS: an AWS or Google provider without an endpoint uses the vendor's
    HTTPS endpoint; Vault/OpenBao and Azure Key Vault by their configured address. Pass when all are; partial when
    the only plaintext connections stay on this machine (loopback, e.g. a local Vault agent); fail when any
    crosses the network unencrypted; not applicable with no providers.""")
def provider_tls(ctx):
    rows, verdicts = [], {"tls": 0, "loopback": 0, "plaintext": 0}
    for provider in providers_as_of(ctx).only("name", "kind", "settings"):
        verdict, endpoint = transport(provider)
        verdicts[verdict] += 1
        rows.append([provider.name, provider.get_kind_display(), endpoint,
                     {"tls": "TLS", "loopback": "plaintext on loopback", "plaintext": "plaintext"}[verdict]])
    drill = table("Provider connections", ["Provider", "Kind", "Endpoint", "Transport"], rows)
    total = len(rows)
    if not total:
        return result(NOT_APPLICABLE, "No enabled provider", verdicts, drill)
    if verdicts["plaintext"]:
        return result(FAIL, f"{plural(verdicts['plaintext'], 'provider')} of {total} reached without TLS",
                      verdicts, drill)
    if verdicts["loopback"]:
        return result(PARTIAL, f"{verdicts['loopback']} of {plural(total, 'provider')} use plaintext on loopback",
                      verdicts, drill)
    return result(PASS, f"All {plural(total, 'provider')} reached over TLS", verdicts, drill)


def encryption_at_rest(provider):
    """(customer-managed key?, how the provider encrypts stored secrets) as reported or documented."""
    settings = provider.settings or {}
    if provider.kind == "aws":
        if settings.get("kms_key_id"):
            return True, f"AWS KMS customer-managed key {settings['kms_key_id']}"
        return False, "AWS KMS, AWS-managed key aws/secretsmanager (the default)"
    if provider.kind == "vault":
        return True, "Barrier encryption (AES-256-GCM) of all storage; keys held by the organisation's seal"
    if provider.kind == "azure":
        return False, "Key Vault platform encryption (Microsoft-managed, HSM-backed keys)"
    if provider.kind == "gcp":
        if settings.get("kms_key_name"):
            return True, f"Cloud KMS customer-managed key {settings['kms_key_name']}"
        return False, "Google-managed encryption keys (AES-256, the default)"
    return None, "unknown provider kind"


@check("provider_encryption_at_rest", title="Secrets encrypted at rest in their providers", rule="""
    Each enabled provider's encryption at rest, as reported in its settings or documented for its kind (AWS:
    KMS, customer-managed when kms_key_id is set; Vault/OpenBao: barrier encryption; Azure Key Vault: platform
    encryption; Google: Google-managed keys, customer-managed when kms_key_name is set). SecretsAdmin's own database
    holds no secret value. Customer-managed keys required: {require_customer_managed_keys}. Pass when every
    provider meets that; partial when some do; fail when none do or a provider's encryption is unknown; not
    applicable with no providers.""")
def provider_encryption_at_rest(ctx):
    require = ctx.thresholds["require_customer_managed_keys"]
    rows, customer, unknown = [], 0, 0
    for provider in providers_as_of(ctx).only("name", "kind", "settings"):
        managed, how = encryption_at_rest(provider)
        customer += bool(managed)
        unknown += managed is None
        rows.append([provider.name, provider.get_kind_display(), how,
                     "customer" if managed else "unknown" if managed is None else "provider"])
    figures = {"providers": len(rows), "customer_managed_keys": customer, "unknown": unknown}
    drill = table("Encryption at rest", ["Provider", "Kind", "Encryption", "Key managed by"], rows)
    if not rows:
        return result(NOT_APPLICABLE, "No enabled provider", figures, drill)
    if unknown:
        return result(FAIL, f"{plural(unknown, 'provider')} with unknown encryption at rest", figures, drill)
    if not require or customer == len(rows):
        return result(PASS, f"All {plural(len(rows), 'provider')} encrypt secrets at rest; "
                            f"{customer} with customer-managed keys", figures, drill)
    return result(PARTIAL if customer else FAIL,
                  f"{customer} of {plural(len(rows), 'provider')} use customer-managed keys", figures, drill)


@check("provider_sync_recent", title="Provider inventories synced recently", rule="""
    Each enabled provider's last successful inventory sync before the period's end (from the audit log) is at
    most {max_age_hours} hours old then: pass; at most {partial_max_age_hours} hours for the stalest: partial;
    older, or never synced: fail. Not applicable with no providers.""")
def provider_sync_recent(ctx):
    last = last_successful_syncs(ctx)
    rows, worst = [], 0.0
    for name, kind in providers_as_of(ctx).values_list("name", "kind"):
        synced = last.get(name)
        age = round((ctx.as_of - synced).total_seconds() / 3600, 1) if synced else None
        worst = float("inf") if age is None else max(worst, age)
        rows.append([name, kind, synced, age])
    t = ctx.thresholds
    figures = {"providers": len(rows), "never_synced": sum(1 for r in rows if r[3] is None),
               "stale": sum(1 for r in rows if r[3] is None or r[3] > t["max_age_hours"])}
    drill = table("Last successful sync", ["Provider", "Kind", "Last successful sync", "Hours before the end"],
                  sorted(rows, key=lambda r: (r[3] is not None, -(r[3] or 0), r[0])))
    if not rows:
        return result(NOT_APPLICABLE, "No enabled provider", figures, drill)
    summary = f"{len(rows) - figures['stale']} of {plural(len(rows), 'provider')} synced within {t['max_age_hours']} h"
    if worst <= t["max_age_hours"]:
        return result(PASS, summary, figures, drill)
    return result(PARTIAL if worst <= t["partial_max_age_hours"] else FAIL, summary, figures, drill)
