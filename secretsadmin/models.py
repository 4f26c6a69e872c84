"""The project app's models: the recovery-code device of two-factor sign-in (secretsadmin.mfa.models)."""
from secretsadmin.mfa.models import RecoveryCode, RecoveryCodeDevice  # noqa: F401 - registered with the app
