"""Benchmark settings: the project settings (SECRETSADMIN_ENV=test) plus a bare HttpResponse view to compare against."""
from secretsadmin.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
