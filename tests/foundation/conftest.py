"""Fixtures of the foundation suites: the dashboard's data set and a cache without its snapshot (dashboard_data)."""
from tests.foundation.dashboard_data import (  # noqa: F401  (registered as fixtures)
    fresh_snapshot_fixture,
    scenario_fixture,
    vault_viewer_fixture,
)
