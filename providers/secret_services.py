"""Changes to secrets made from the dashboard: metadata edits and new secrets, each audited."""
from django.db import transaction

import audit
from providers.models import Secret
from providers.registry import adapter_for

EDITABLE = ("owner", "environment", "description", "tags")


@transaction.atomic
def change_secret_metadata(secret, *, actor, **fields):
    locked = Secret.objects.select_for_update().get(pk=secret.pk)
    before = {field: getattr(locked, field) for field in EDITABLE}
    for field, value in fields.items():
        if field not in EDITABLE:
            raise ValueError(f"{field} is not editable")
        setattr(locked, field, value)
    changed = sorted(f for f in EDITABLE if getattr(locked, f) != before[f])
    if changed:
        locked.save(update_fields=changed)
        audit.record("secret.metadata_changed", actor=actor, target=locked, provider=locked.provider.name,
                     secret_name=locked.name, details={"changed": changed,
                                                       "before": {f: before[f] for f in changed},
                                                       "after": {f: getattr(locked, f) for f in changed}})
    return locked


def create_secret_in_provider(provider, *, actor, name, value, owner="", environment="", description=""):
    """Create the secret in the provider first, then the inventory row; the value goes nowhere else.

    A provider failure raises SecretError and is audited as a failed creation (outside any transaction,
    so the failure record stays).
    """
    try:
        adapter_for(provider).create_secret(name, value)
    except Exception as exc:
        audit.record("secret.creation", actor=actor, target=provider, provider=provider.name, secret_name=name,
                     outcome="failure", failure_reason=type(exc).__name__)
        raise
    with transaction.atomic():
        secret, _ = Secret.objects.update_or_create(
            provider=provider, name=name,
            defaults={"owner": owner, "environment": environment, "description": description,
                      "status": Secret.Status.ACTIVE},
        )
        audit.record("secret.creation", actor=actor, target=secret, provider=provider.name, secret_name=name)
    return secret


def revoke_secret_in_provider(secret, *, actor, reason):
    """The policy's revoke_secret: make the secret unusable in its provider (recoverably where the provider
    allows), mark the inventory row disabled, and audit it. A refusal is audited as a failed deletion."""
    try:
        adapter_for(secret.provider).revoke_secret(secret.name)
    except Exception as exc:
        audit.record("secret.deletion", actor=actor, target=secret, provider=secret.provider.name,
                     secret_name=secret.name, outcome="failure", failure_reason=type(exc).__name__,
                     details={"reason": reason})
        raise
    with transaction.atomic():
        Secret.objects.filter(pk=secret.pk).update(status=Secret.Status.DISABLED)
        audit.record("secret.deletion", actor=actor, target=secret, provider=secret.provider.name,
                     secret_name=secret.name, details={"reason": reason})
