#!/usr/bin/env python
"""Django's command-line entry point for SecretsAdmin."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secretsadmin.settings")
    from secretsadmin.config import ConfigError

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except ConfigError as exc:
        # A bad configuration is an operator's mistake, not a bug: one line, no traceback.
        sys.stderr.write(f"secretsadmin: configuration error: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
