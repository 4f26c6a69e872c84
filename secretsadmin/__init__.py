"""SecretsAdmin: govern the secrets kept in external secret managers."""
