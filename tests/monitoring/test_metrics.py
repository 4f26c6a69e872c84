"""/metrics: who may scrape it, the policy's SecretMetrics and SecretOperationTimer, posture gauges, and a
rotation carried out by a real worker process showing up in the web's scrape."""
from datetime import timedelta

import django_rq
import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from audit.models import ChainVerification
from providers.models import Provider, Secret
from rotation.models import PolicyAssignment, RotationPolicy, RotationRequest
from secretsadmin.jobs import clear_expired_sessions_job
from secretsadmin.metrics import SecretMetrics, SecretOperationTimer, secret_label
from secretsadmin.posture import compute_inventory_snapshot

pytestmark = pytest.mark.django_db
TOKEN = "t" * 16 + "metrics-test-token-only"  # an obvious fixture


def scrape(client, **headers):
    answer = client.get(reverse("metrics"), **headers)
    assert answer.status_code == 200, answer.content
    return {sample.name + str(sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(answer.content.decode()) for sample in family.samples}


def value(samples, name, **labels):
    return samples.get(name + str(sorted(labels.items())))


def test_metrics_need_the_token_or_an_allowed_address(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = []
    settings.METRICS_TOKEN = ""
    assert client.get(reverse("metrics")).status_code == 403  # nothing configured: closed
    settings.METRICS_TOKEN = TOKEN
    refused = client.get(reverse("metrics"))
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get(reverse("metrics"), HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get(reverse("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get(reverse("metrics"), REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get(reverse("metrics"), REMOTE_ADDR="192.0.2.1").status_code == 403
    assert client.get(reverse("metrics"), REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 200
    assert client.get(reverse("metrics"), REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403


def test_metrics_are_served_to_any_host_over_plain_http_but_nothing_else_is(client, settings):
    settings.ALLOWED_HOSTS = ["secrets.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []
    pod = {"HTTP_HOST": "10.42.0.7:8000"}
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **pod).status_code == 200
    assert client.get("/metrics", **pod).status_code == 401
    assert client.get("/audit/", **pod).status_code == 400  # every other path: host validation as before
    assert client.get("/audit/", HTTP_HOST="secrets.example.com").status_code == 301  # and the HTTPS redirect


def test_secret_metrics_are_exposed_with_their_total_suffix(client):
    before = scrape(client)
    SecretMetrics.record_secret_retrieval("app/db#password", True, provider="p1")
    SecretMetrics.record_secret_retrieval("app/db#password", False, provider="p1")
    SecretMetrics.record_secret_rotation("app/db#password", False, provider="p1")
    samples = scrape(client)
    labels = {"secret_name": "app/db#password", "provider": "p1"}
    for name in ("secret_retrieval_success_count_total", "secret_retrieval_failure_count_total",
                 "secret_rotation_failure_count_total"):
        assert value(samples, name, **labels) == (value(before, name, **labels) or 0) + 1


def test_the_secret_name_label_can_be_bucketed_or_dropped(settings):
    settings.METRICS_SECRET_NAME_LABEL = "bucket"
    bucket = secret_label("prod/payments/db")
    assert bucket.startswith("bucket-") and bucket == secret_label("prod/payments/db")
    assert len({secret_label(f"s-{i}") for i in range(5000)}) <= 64
    settings.METRICS_SECRET_NAME_LABEL = "drop"
    assert secret_label("prod/payments/db") == ""


def test_the_operation_timer_is_a_context_manager_and_a_decorator(client):
    with SecretOperationTimer("get_secret", provider="timer-test"):
        pass

    @SecretOperationTimer("list_secrets", provider="timer-test")
    def listing():
        return 42

    assert listing() == 42
    samples = scrape(client)
    assert value(samples, "secret_operation_duration_seconds_count", operation="get_secret", provider="timer-test") >= 1
    assert value(samples, "secret_operation_duration_seconds_count", operation="list_secrets",
                 provider="timer-test") >= 1


def test_posture_gauges(client, role_users):
    provider = Provider.objects.create(kind="vault", name="posture", settings={"address": "http://127.0.0.1:1"},
                                       last_successful_sync_at=timezone.now() - timedelta(minutes=5),
                                       last_sync_ok=True)
    old = timezone.now() - timedelta(days=40)
    late = Secret.objects.create(provider=provider, name="late#k", last_rotated_at=old)
    Secret.objects.create(provider=provider, name="fresh#k", last_rotated_at=timezone.now())
    Secret.objects.create(provider=provider, name="gone#k", status=Secret.Status.MISSING, last_rotated_at=old)
    policy = RotationPolicy.objects.create(name="monthly", interval_days=30)
    PolicyAssignment.objects.create(policy=policy, provider=provider)
    pending = RotationRequest.objects.create(secret=late, reason="r", requested_by=role_users["bob"])
    RotationRequest.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(hours=2))
    ChainVerification.objects.create(ok=True, events_checked=10)
    compute_inventory_snapshot()
    reports = django_rq.get_queue("reports", commit_mode="auto")
    reports.empty()
    reports.enqueue(clear_expired_sessions_job)
    try:
        samples = scrape(client)
        waiting = reports.count
    finally:
        reports.empty()
    assert value(samples, "secretsadmin_secrets", provider="posture") == 2
    assert value(samples, "secretsadmin_secrets_overdue", provider="posture") == 1
    assert value(samples, "secretsadmin_rotations", state="pending_approval") == 1
    assert value(samples, "secretsadmin_rotations", state="needs_attention") == 0
    assert 7100 < value(samples, "secretsadmin_oldest_pending_approval_seconds") < 7300
    assert 290 < value(samples, "secretsadmin_provider_sync_age_seconds", provider="posture") < 400
    assert value(samples, "secretsadmin_provider_last_sync_ok", provider="posture") == 1
    assert value(samples, "secretsadmin_audit_chain_verified") == 1
    assert value(samples, "secretsadmin_rq_queue_depth", queue="reports") == waiting == 1
    assert value(samples, "secretsadmin_rq_workers") is not None
    assert value(samples, "secretsadmin_posture_up") == 1


def test_the_inventory_gauges_come_from_the_snapshot_not_the_table(client, django_assert_max_num_queries):
    Provider.objects.create(kind="aws", name="snap", settings={"region": "us-east-1"})
    compute_inventory_snapshot()
    scrape(client)
    # A scrape: rotations by state, oldest approval, providers, chain verification; never the inventory.
    with django_assert_max_num_queries(6) as captured:
        scrape(client)
    assert not any("providers_secret" in query["sql"] for query in captured.captured_queries)


def test_cache_hits_and_misses_are_counted(client):
    from django.core.cache import cache

    before = scrape(client)
    cache.set("metrics-test-key", "x", 30)
    assert cache.get("metrics-test-key") == "x" and cache.get("metrics-test-absent", "fallback") == "fallback"
    after = scrape(client)
    for name in ("django_cache_get_hits_total", "django_cache_get_misses_total"):
        assert value(after, name, backend="redis") >= (value(before, name, backend="redis") or 0) + 1


def test_a_scrape_while_the_cache_server_is_down_counts_the_inventory_itself(client, settings):
    from secretsadmin.process_group import free_port

    provider = Provider.objects.create(kind="aws", name="cacheless", settings={"region": "us-east-1"})
    Secret.objects.create(provider=provider, name="one#k", last_rotated_at=timezone.now())
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{free_port()}/0"}}
    assert value(scrape(client), "secretsadmin_secrets", provider="cacheless") == 1
