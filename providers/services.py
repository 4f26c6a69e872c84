"""Provider registry services: create, change, load from the configuration, test. Each one audited."""
import logging

from django.conf import settings
from django.db import transaction

import audit
from providers.adapters.base import SecretError
from providers.models import Provider
from providers.registry import adapter_for

log = logging.getLogger(__name__)
AUDITED_FIELDS = ("kind", "name", "description", "settings", "enabled", "sync_interval_minutes")


def _snapshot(provider):
    # Settings and references only: a Provider holds no credential. The reference is audited as text,
    # since its keys ("token", "client_secret") name credential fields the audit log rightly refuses.
    return {**{field: getattr(provider, field) for field in AUDITED_FIELDS},
            "credentials_from": provider.credential_source}


@transaction.atomic
def create_provider(*, actor, **fields):
    provider = Provider.objects.create(**fields)
    audit.record("provider.created", actor=actor, target=provider, provider=provider.name,
                 details={"after": _snapshot(provider)})
    return provider


@transaction.atomic
def change_provider(provider, *, actor, **fields):
    locked = Provider.objects.select_for_update().get(pk=provider.pk)
    before = _snapshot(locked)
    for field, value in fields.items():
        setattr(locked, field, value)
    locked.save()
    after = _snapshot(locked)
    if after != before:
        changed = sorted(k for k in after if after[k] != before[k])
        audit.record("provider.changed", actor=actor, target=locked, provider=locked.name,
                     details={"changed": changed, "before": {k: before[k] for k in changed},
                              "after": {k: after[k] for k in changed}})
    return locked


def load_providers_from_config(*, actor, specs=None):
    """Create or update the providers declared in config/<env>.toml. Idempotent: a second run changes nothing.

    Returns (created, changed, unchanged) name lists.
    """
    specs = settings.CONFIG.providers if specs is None else specs
    created, changed, unchanged = [], [], []
    for spec in specs:
        wanted = {"kind": spec.kind, "description": spec.description, "settings": dict(spec.settings),
                  "auth_reference": {"method": "config"}, "enabled": spec.enabled, "managed_by_config": True}
        existing = Provider.objects.filter(name=spec.name).first()
        if existing is None:
            create_provider(actor=actor, name=spec.name, **wanted)
            created.append(spec.name)
        elif any(getattr(existing, k) != v for k, v in wanted.items()):
            change_provider(existing, actor=actor, **wanted)
            changed.append(spec.name)
        else:
            unchanged.append(spec.name)
    return created, changed, unchanged


def test_provider_connection(provider, *, actor):
    """Call the provider with its configured credentials; audited either way. Returns (ok, message)."""
    try:
        status = adapter_for(provider).test_connection()
        ok, message = True, status.detail
    except SecretError as exc:
        ok, message = False, f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a misconfigured SDK (bad URL, missing file) must not become a 500
        log.exception("connection test of %s failed unexpectedly", provider.name)
        ok, message = False, f"Other: {type(exc).__name__}"
    audit.record("provider.connection_tested", actor=actor, target=provider, provider=provider.name,
                 outcome="success" if ok else "failure", failure_reason="" if ok else message,
                 details={"error_class": None if ok else message.split(":", 1)[0]})
    return ok, message


test_provider_connection.__test__ = False  # not a pytest test, despite the name


def request_sync(provider, *, actor):
    """The "Sync now" button: audited, and the job is queued when the request commits."""
    from providers.jobs import enqueue_sync

    with transaction.atomic():
        audit.record("inventory.sync_requested", actor=actor, target=provider, provider=provider.name)
        enqueue_sync(provider)


def sync_status(provider):
    """What the provider page says about syncing: queued (asked for, not started), running, or idle; and the count.

    "Queued" comes from the audit log: a "Sync now" after the last finished sync that no worker has started yet.
    """
    from audit.models import AuditEvent

    requested = (AuditEvent.objects.filter(event_type="inventory.sync_requested", provider=provider.name)
                 .order_by("-sequence").values_list("timestamp", flat=True).first())
    queued = bool(requested and not provider.sync_started_at
                  and (provider.last_sync_at is None or requested > provider.last_sync_at))
    return {"sync_queued": queued, "sync_busy": queued or provider.sync_started_at is not None,
            "secret_count": provider.secrets.count()}
