"""Rotation metrics: every step's outcome and duration, and every run's end (scraped through /metrics)."""
from prometheus_client import Counter, Histogram

STEPS = Counter("secretsadmin_rotation_steps", "Rotation steps finished, by step and outcome",
                ["step", "outcome", "provider"])
STEP_SECONDS = Histogram("secretsadmin_rotation_step_seconds", "Duration of rotation steps (external calls)",
                         ["step", "provider"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))


def step_finished(rotation, step, outcome, seconds):
    provider = rotation.secret.provider.name
    STEPS.labels(step=step, outcome=outcome, provider=provider).inc()
    STEP_SECONDS.labels(step=step, provider=provider).observe(seconds)
