"""Inventory sync: stream a provider's secrets page by page into the Secret table, and notice drift.

Memory stays flat however large the provider: one page in memory at a time, and "gone from the
provider" is found by generation number (rows not seen in this run), not by a set of every name.
"""
import logging
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from itertools import islice

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

import audit
from providers.adapters.base import SecretError
from providers.models import Provider, Secret
from providers.registry import adapter_for

log = logging.getLogger(__name__)
PAGE_SIZE = 500
STALE_CLAIM = timedelta(hours=1)  # a sync that died without releasing its claim is taken over after this
SYNCED_FIELDS = ("external_id", "description", "tags", "current_version", "provider_created_at",
                 "provider_updated_at", "last_rotated_at", "status", "last_synced_at", "seen_generation",
                 "changed_out_of_band_at")
# Provider metadata is untrusted: capped like the metadata form's fields (providers/secret_forms.py) and the columns.
NAME_MAX, EXTERNAL_ID_MAX, VERSION_MAX, DESCRIPTION_MAX = 512, 1024, 256, 2000
TAGS_MAX, TAG_KEY_MAX, TAG_VALUE_MAX = 50, 128, 256


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    missing: int = 0
    out_of_band: list = field(default_factory=list)
    error: str = ""

    @property
    def ok(self):
        return not self.error

    def counts(self):
        data = asdict(self)
        data["out_of_band"] = len(self.out_of_band)
        return data


def claim(provider_id):
    """Take the provider's sync claim (a conditional UPDATE); None if another sync holds it."""
    now = timezone.now()
    claimed = Provider.objects.filter(pk=provider_id, enabled=True).filter(
        Q(sync_started_at__isnull=True) | Q(sync_started_at__lt=now - STALE_CLAIM)
    ).update(sync_started_at=now, sync_generation=F("sync_generation") + 1)
    return Provider.objects.get(pk=provider_id) if claimed else None


def sync_provider(provider_id, *, actor):
    """Sync one provider. Returns a SyncResult, or None when another sync of it is already running."""
    provider = claim(provider_id)
    if provider is None:
        return None
    result = SyncResult()
    try:
        for page in adapter_for(provider).list_secrets(page_size=PAGE_SIZE):
            _apply_page(provider, page, result)
    except SecretError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # an unexpected failure must still release the claim and be shown
        log.exception("sync of %s failed", provider.name)
        result.error = f"Other: {type(exc).__name__}"
    _finish(provider, result, actor)
    return result


def _apply_page(provider, page, result):
    now = timezone.now()
    # Capped names are looked up as stored; two that agree in their first 512 characters are one row (first wins).
    unique = {}
    for meta in page:
        unique.setdefault(_text(meta.name, NAME_MAX), meta)
    existing = {s.name: s for s in Secret.objects.filter(provider=provider, name__in=list(unique))}
    new, changed, drifted, seen = [], [], [], []
    for name, meta in unique.items():
        values = {
            "external_id": _text(meta.external_id, EXTERNAL_ID_MAX),
            "description": _text(meta.description, DESCRIPTION_MAX), "tags": untrusted_tags(meta.tags),
            "current_version": _text(meta.current_version, VERSION_MAX), "provider_created_at": meta.created_at,
            "provider_updated_at": meta.updated_at, "last_rotated_at": meta.last_rotated_at,
            "status": Secret.Status.ACTIVE if meta.enabled else Secret.Status.DISABLED,
        }
        secret = existing.get(name)
        if secret is None:
            new.append(Secret(provider=provider, name=name, last_synced_at=now,
                              seen_generation=provider.sync_generation, **values))
            continue
        if secret.last_rotated_at and not values["last_rotated_at"]:
            values["last_rotated_at"] = secret.last_rotated_at  # ours, when the provider keeps none
        drift = _drifted(secret, values)
        if not drift and all(getattr(secret, k) == v for k, v in values.items()):
            seen.append(secret.pk)  # the common case on a resync: only "seen now" changes
            continue
        if drift:
            secret.changed_out_of_band_at = now
            drifted.append((secret, secret.current_version, values["current_version"]))
        for key, value in values.items():
            setattr(secret, key, value)
        secret.last_synced_at, secret.seen_generation = now, provider.sync_generation
        changed.append(secret)
    result.updated += len(changed)
    result.unchanged += len(seen)
    with transaction.atomic():
        Secret.objects.bulk_create(new, batch_size=PAGE_SIZE)
        Secret.objects.bulk_update(changed, SYNCED_FIELDS, batch_size=PAGE_SIZE)
        # One plain UPDATE for the unchanged rows: bulk_update would build a CASE per field per row.
        Secret.objects.filter(pk__in=seen).update(last_synced_at=now, seen_generation=provider.sync_generation)
        for secret, old, current in drifted:
            audit.record("secret.changed_out_of_band", actor="worker", target=secret, provider=provider.name,
                         secret_name=secret.name, details={"previous_version": old, "current_version": current})
    result.created += len(new)
    result.out_of_band.extend(secret.name for secret, _, _ in drifted)


def untrusted_tags(tags):
    """A provider's tags as at most 50 string pairs, each capped; anything that is not a mapping is no tags."""
    if not isinstance(tags, dict):
        return {}
    pairs = ((_text(key, TAG_KEY_MAX), _text(value, TAG_VALUE_MAX)) for key, value in tags.items())
    return dict(islice(((key, value) for key, value in pairs if key), TAGS_MAX))


def _text(value, limit):
    """A string of at most `limit` characters; PostgreSQL refuses NUL in text and JSON, so it is dropped."""
    if value is None:
        return ""
    return (value if isinstance(value, str) else str(value)).replace("\x00", "")[:limit]


def _drifted(secret, values):
    """A version or change time that moved without a SecretsAdmin rotation."""
    if secret.rotating or secret.seen_generation == 0:
        return False
    if secret.current_version or values["current_version"]:
        return bool(secret.current_version) and values["current_version"] != secret.current_version
    # Providers whose listing carries no version id: fall back to the last-changed time.
    before, after = secret.provider_updated_at, values["provider_updated_at"]
    return bool(before and after) and after > before


def _finish(provider, result, actor):
    now = timezone.now()
    with transaction.atomic():
        if result.ok:
            # Only a complete listing may declare secrets gone; a failed one keeps the inventory as it was.
            result.missing = Secret.objects.filter(provider=provider).exclude(status=Secret.Status.MISSING).filter(
                seen_generation__lt=provider.sync_generation).update(status=Secret.Status.MISSING)
        Provider.objects.filter(pk=provider.pk).update(
            sync_started_at=None, last_sync_at=now, last_sync_ok=result.ok, last_sync_error=result.error[:2000],
            **({"last_successful_sync_at": now} if result.ok else {}))
        audit.record("inventory.synced", actor=actor, target=provider, provider=provider.name,
                     outcome="success" if result.ok else "failure", failure_reason=result.error,
                     details=result.counts())
