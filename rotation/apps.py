"""Rotation policies, requests, approvals and the jobs that carry rotations out."""
from django.apps import AppConfig


class RotationConfig(AppConfig):
    name = "rotation"
    verbose_name = "Rotation"
