"""Settings for the test suite: the project's settings with SECRETSADMIN_ENV defaulting to "test"."""
import os

os.environ.setdefault("SECRETSADMIN_ENV", "test")

from secretsadmin.settings import *  # noqa: F403

# Hashing passwords slowly is a production feature, not something to measure in every test.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Worker and demo processes started by tests must see the test database, so SQLite uses a file; one per
# test run, so that two runs on one machine do not share it.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}  # noqa: F405
