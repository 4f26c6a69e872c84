"""The "none" target: consumers read the secret manager themselves, so nothing else needs the new value."""
from rotation.targets.base import ConfigChecker, RotationTarget, TargetContext


class NoTarget(RotationTarget):
    kind = "none"
    apply_has_effect = False

    @classmethod
    def validate(cls, config: dict) -> dict:
        ConfigChecker(cls.kind, config, allowed=set())
        return {"kind": cls.kind}

    def is_applied(self, new_value: str, context: TargetContext) -> bool:
        return True

    def apply(self, new_value: str, context: TargetContext) -> None:
        return None

    def verify(self, new_value: str, context: TargetContext) -> None:
        return None

    def describe(self) -> str:
        return "No target: consumers read the secret manager"
