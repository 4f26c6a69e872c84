"""Compliance control catalog, evidence and auditor reports (reads the other apps)."""
from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"
