"""Provider registry and the secret inventory. Metadata only: a secret's value is never stored."""
import uuid

from django.db import models
from django.urls import reverse
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase


class Provider(models.Model):
    class Kind(models.TextChoices):
        AWS = "aws", "AWS Secrets Manager"
        VAULT = "vault", "HashiCorp Vault / OpenBao"
        AZURE = "azure", "Azure Key Vault"
        GCP = "gcp", "Google Cloud Secret Manager"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.SlugField(max_length=63, unique=True)
    description = models.TextField(blank=True)
    # Non-secret settings only (region, endpoint, address, namespace, mount, vault URL, project id).
    settings = models.JSONField(default=dict, blank=True)
    # How to authenticate, as a reference resolved at call time (env var names, profile, ambient
    # identity) - never a raw credential.
    auth_reference = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    managed_by_config = models.BooleanField(default=False, help_text="Declared in the TOML configuration")
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_ok = models.BooleanField(null=True)
    last_sync_error = models.TextField(blank=True)
    last_successful_sync_at = models.DateTimeField(null=True, blank=True)
    sync_interval_minutes = models.PositiveIntegerField(default=60, help_text="How often the inventory is synced")
    # Claimed by a conditional UPDATE so that two syncs of one provider never run at once.
    sync_started_at = models.DateTimeField(null=True, blank=True)
    sync_generation = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("test_provider", "Can test a provider's connection"),
            ("sync_provider", "Can sync a provider's inventory"),
            # Granted on a provider, these apply to every secret of it (see PROVIDER_GRANTS).
            ("reveal_provider_secrets", "Can reveal the values of a provider's secrets"),
            ("change_provider_secrets", "Can change the metadata of a provider's secrets"),
            ("request_provider_rotation", "Can request rotations of a provider's secrets"),
            ("approve_provider_rotation", "Can approve rotations of a provider's secrets"),
            ("emergency_provider_rotation", "Can run emergency rotations of a provider's secrets"),
            ("manage_provider_permissions", "Can grant and revoke access to a provider and its secrets"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("providers:provider_detail", args=[self.uuid])

    @property
    def credential_source(self):
        """A human description of where credentials come from (never the credentials)."""
        reference = self.auth_reference or {"method": "ambient"}
        method = reference.get("method", "ambient")
        if method == "env":
            return "environment: " + ", ".join(f"{k} from ${v}" for k, v in reference.get("variables", {}).items())
        if method == "file":
            return "files: " + ", ".join(f"{k} from {v}" for k, v in reference.get("files", {}).items())
        if method == "profile":
            return f"AWS profile {reference.get('profile')}"
        if method == "config":
            return "the configuration file"
        return "the environment's own identity"


class Secret(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        MISSING = "missing", "Missing in provider"
        DISABLED = "disabled", "Disabled"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="secrets")
    # Provider-native name: Vault "path/to/secret#key", GCP "secret_id[/version]".
    name = models.CharField(max_length=512)
    external_id = models.CharField(max_length=1024, blank=True, help_text="ARN, URI or resource name")
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict, blank=True)
    owner = models.CharField(max_length=150, blank=True, help_text="Owning team or group")
    environment = models.CharField(max_length=64, blank=True)
    current_version = models.CharField(max_length=256, blank=True)
    provider_created_at = models.DateTimeField(null=True, blank=True)
    provider_updated_at = models.DateTimeField(null=True, blank=True)
    last_rotated_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    changed_out_of_band_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # The provider's sync_generation in which this secret was last listed; older means gone from the provider.
    seen_generation = models.PositiveBigIntegerField(default=0)
    # Set by the rotation worker while it changes versions, so a sync in between does not call it drift.
    rotating = models.BooleanField(default=False)

    class Meta:
        ordering = ["provider__name", "name"]
        constraints = [models.UniqueConstraint(fields=["provider", "name"], name="unique_secret_per_provider")]
        # The dashboard counts these on every visit; partial indexes keep that independent of inventory size.
        indexes = [
            models.Index(fields=["provider"], condition=models.Q(status="missing"), name="secret_missing_idx"),
            models.Index(fields=["provider"], condition=models.Q(changed_out_of_band_at__isnull=False),
                         name="secret_out_of_band_idx"),
        ]
        permissions = [
            ("reveal_secret", "Can reveal a secret's value"),
            ("request_rotation", "Can request a rotation of a secret"),
            ("approve_rotation", "Can approve or reject a rotation of a secret"),
            ("emergency_rotation", "Can run an emergency rotation of a secret"),
            ("manage_permissions", "Can grant and revoke access to a secret"),
        ]

    def __str__(self):
        return f"{self.provider.name}:{self.name}"

    def get_absolute_url(self):
        return reverse("providers:secret_detail", args=[self.uuid])


# django-guardian's direct foreign-key permission tables: real foreign keys (fast joins) that cascade, so
# deleting a provider or secret removes its grants.
class ProviderUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Provider, on_delete=models.CASCADE)


class ProviderGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Provider, on_delete=models.CASCADE)


class SecretUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Secret, on_delete=models.CASCADE)


class SecretGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Secret, on_delete=models.CASCADE)


# A grant on a provider applies to all its secrets: secret permission -> the provider permission that implies it.
PROVIDER_GRANTS = {
    "providers.view_secret": "providers.view_provider",
    "providers.reveal_secret": "providers.reveal_provider_secrets",
    "providers.change_secret": "providers.change_provider_secrets",
    "providers.request_rotation": "providers.request_provider_rotation",
    "providers.approve_rotation": "providers.approve_provider_rotation",
    "providers.emergency_rotation": "providers.emergency_provider_rotation",
    "providers.manage_permissions": "providers.manage_provider_permissions",
}

from providers.access_review import AccessReview  # noqa: E402,F401
