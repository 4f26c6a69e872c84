"""Rotation policies, requests, approvals and the jobs that carry rotations out."""
from django.apps import AppConfig


class RotationConfig(AppConfig):
    name = "rotation"
    verbose_name = "Rotation"

    def ready(self):
        from providers.rotation_schedule import register_interval_source
        from rotation.policies import PolicyIntervals

        # The inventory's age colours and "overdue" filter follow the policies from now on.
        register_interval_source(PolicyIntervals())
