"""The audit event catalog: stable dotted codes (never renamed once shipped) and the policy's SecretEvent types."""
from dataclasses import dataclass

# code -> what happened. Codes are stored in every row and hashed into the chain: add, never rename.
EVENT_TYPES = {
    # The policy's four SecretEvent kinds.
    "secret.retrieval": "A secret's value was read from its provider",
    "secret.creation": "A secret was created in its provider",
    "secret.rotation": "A secret was rotated",
    "secret.deletion": "A secret was deleted or revoked in its provider",
    # Secrets, as the dashboard sees them.
    "secret.revealed": "A secret's value was shown to a person",
    "secret.changed_out_of_band": "A secret changed in its provider without a SecretsAdmin rotation",
    "secret.metadata_changed": "A secret's owner, environment, description or tags were changed",
    # Rotation workflow.
    "rotation.requested": "A rotation was requested",
    "rotation.approved": "A rotation request was approved",
    "rotation.rejected": "A rotation request was rejected",
    "rotation.cancelled": "A rotation request was cancelled",
    "rotation.step_started": "A rotation step started",
    "rotation.step_finished": "A rotation step finished",
    "rotation.expired": "A rotation request expired without enough approvals",
    "rotation.retried": "A failed rotation was sent back to its workers",
    "rotation.needs_attention": "A rotation stopped retrying and needs a person",
    "rotation.review_acknowledged": "An emergency rotation's post-incident review was acknowledged",
    "rotation.policy_changed": "A rotation policy, or where it applies, was created, changed or removed",
    # Access.
    "permission.granted": "A permission or role was granted",
    "permission.revoked": "A permission or role was revoked",
    # Providers and inventory.
    "provider.created": "A provider was registered",
    "provider.changed": "A provider's settings changed",
    "provider.connection_tested": "A provider's connection was tested",
    "inventory.synced": "A provider's inventory was synchronised",
    "inventory.sync_requested": "Someone asked for a provider's inventory to be synchronised now",
    # Sessions.
    "auth.login": "A user signed in",
    "auth.logout": "A user signed out",
    "auth.login_failed": "A sign-in attempt failed",
    "auth.sso_login": "A user signed in through single sign-on (identity provider, subject, roles mapped)",
    "auth.locked_out": "Sign-in was locked for a username and address after repeated failures",
    "auth.session_expired": "A session was signed out after being idle too long",
    # Two-factor sign-in (secretsadmin.mfa). No code, key or recovery code is ever in their details.
    "auth.mfa_enrolled": "A user set up an authenticator app for two-factor sign-in",
    "auth.mfa_verified": "A user confirmed a session with a code from their authenticator app",
    "auth.mfa_failed": "A two-factor code was wrong, or refused while throttled after wrong ones",
    "auth.mfa_recovery_code_used": "A user confirmed a session with a single-use recovery code",
    "auth.mfa_recovery_codes_regenerated": "A user replaced their recovery codes",
    "auth.mfa_reset": "An administrator removed a user's two-factor authenticator and recovery codes",
    # Reports and the audit log itself.
    "report.generated": "A compliance report was generated",
    "report.exported": "A compliance report was exported",
    "audit.exported": "Audit events were exported",
    "audit.chain_verified": "The audit hash chain was verified",
    "audit.archived": "Audit events were archived and pruned (checkpoint)",
}

# Detail keys that would carry a secret value. Refused anywhere in `details`, at any depth.
FORBIDDEN_DETAIL_KEYS = frozenset({
    "value", "secret", "secret_value", "secretvalue", "password", "passwd", "passphrase", "token", "access_token",
    "refresh_token", "api_key", "apikey", "private_key", "client_secret", "secret_string", "secretstring",
    "secret_binary", "plaintext", "credential", "credentials", "new_value", "old_value", "payload",
    "otp", "otp_code", "otp_token", "totp_key", "otp_key", "recovery_code", "recovery_codes",
})


# The policy's SecretEvent: Retrieval {secret_name, success}, Creation {secret_name},
# Rotation {secret_name, success}, Deletion {secret_name}.
@dataclass(frozen=True)
class SecretEvent:
    secret_name: str
    success: bool = True
    event_type = ""


@dataclass(frozen=True)
class Retrieval(SecretEvent):
    event_type = "secret.retrieval"


@dataclass(frozen=True)
class Creation(SecretEvent):
    event_type = "secret.creation"


@dataclass(frozen=True)
class Rotation(SecretEvent):
    event_type = "secret.rotation"


@dataclass(frozen=True)
class Deletion(SecretEvent):
    event_type = "secret.deletion"
