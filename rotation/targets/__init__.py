"""Rotation targets: what else must learn a rotated value (a database role, a webhook), behind a lazy registry."""
from django.utils.module_loading import import_string

from rotation.targets.base import RotationTarget, TargetConfigError, TargetContext, TargetError

__all__ = [
    "TARGET_KINDS",
    "RotationTarget",
    "TargetConfigError",
    "TargetContext",
    "TargetError",
    "target_class",
    "target_for",
    "validate_target_config",
]

# Dotted paths, imported on first use, so the web process does not load psycopg/requests for a page view.
TARGET_KINDS = {
    "none": "rotation.targets.none.NoTarget",
    "postgresql": "rotation.targets.postgresql.PostgresRoleTarget",
    "webhook": "rotation.targets.webhook.WebhookTarget",
}


def target_class(kind: str) -> type[RotationTarget]:
    if not isinstance(kind, str) or kind not in TARGET_KINDS:
        shown = kind if isinstance(kind, str) and len(kind) <= 40 else "?"
        raise TargetConfigError(f'target: "kind" must be one of {", ".join(TARGET_KINDS)} (got "{shown}")')
    return import_string(TARGET_KINDS[kind])


def validate_target_config(config: dict) -> dict:
    """The normalised config (with "kind" and defaults filled in), or TargetConfigError naming the bad field."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise TargetConfigError('target: config must be an object with a "kind"')
    cls = target_class(config.get("kind", "none"))
    return {"kind": cls.kind, **cls.validate(config)}


def target_for(config: dict) -> RotationTarget:
    # Validated again here: a stored config may predate a rule, and __init__ trusts what it is given.
    normalised = validate_target_config(config)
    return target_class(normalised["kind"])(normalised)
