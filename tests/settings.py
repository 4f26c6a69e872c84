"""Settings for the test suite: the project's settings with SECRETSADMIN_ENV defaulting to "test"."""
import os

os.environ.setdefault("SECRETSADMIN_ENV", "test")
# One metrics directory per test run (the workers a test starts inherit it), never shared with the demo.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "var", f"prometheus-test-{os.getpid()}"))

from secretsadmin.settings import *  # noqa: F403

# Hashing passwords slowly is a production feature, not something to measure in every test.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Worker and demo processes started by tests must see the test database, so SQLite uses a file; one per
# test run, so that two runs on one machine do not share it.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}  # noqa: F405

# Several test runs (and the demo) may share the embedded redis-server of this checkout: give each run a
# database of its own, so that one run's workers never take another run's jobs.
if REDIS_EMBEDDED:  # noqa: F405
    REDIS_URL = REDIS_URL.replace("?db=0", f"?db={1 + os.getpid() % 15}")  # noqa: F405
    CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
    RQ_QUEUES = {name: {**queue, "URL": REDIS_URL} for name, queue in RQ_QUEUES.items()}  # noqa: F405
