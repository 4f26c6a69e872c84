"""audit.record(): the fields it fills, what it refuses, and the request context it picks up."""
import pytest
from django.urls import reverse

import audit
from audit.events import EVENT_TYPES, Creation, Deletion, Retrieval, Rotation
from audit.models import AuditEvent
from audit.recorder import AuditLogger, SecretInAuditDetails
from audit.storage import JsonLinesStorage, read_json_lines
from audit.verify import verify_records


@pytest.mark.django_db
def test_it_records_who_what_when_and_target(role_users):
    from providers.models import Provider

    provider = Provider.objects.create(kind="aws", name="aws-prod")
    stored = audit.record("provider.created", actor=role_users["erin"], target=provider, provider="aws-prod",
                          details={"kind": "aws"})
    event = AuditEvent.objects.get(sequence=stored["sequence"])
    assert event.actor == role_users["erin"] and event.actor_name == "erin" and event.actor_type == "user"
    assert event.target_type == "providers.provider" and event.target_id == str(provider.uuid)
    assert event.target_text == "aws-prod" and event.details == {"kind": "aws"}
    assert event.outcome == "success" and event.timestamp is not None
    assert event.content_matches_hash()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["value", "secret_value", "password", "Password", "token", "client-secret"])
def test_it_refuses_detail_keys_that_would_hold_a_secret(key):
    with pytest.raises(SecretInAuditDetails):
        audit.record("secret.creation", actor="system", details={key: "hunter2"})
    with pytest.raises(SecretInAuditDetails):
        audit.record("secret.creation", actor="system", details={"nested": [{key: "hunter2"}]})
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_it_refuses_unknown_event_types_and_outcomes():
    with pytest.raises(ValueError, match="unknown audit event type"):
        audit.record("secret.stolen", actor="system")
    with pytest.raises(ValueError, match="outcome"):
        audit.record("secret.creation", actor="system", outcome="maybe")


def test_event_codes_are_stable_dotted_names():
    for code in EVENT_TYPES:
        assert code.count(".") == 1 and code == code.lower(), code
    for required in ("secret.retrieval", "secret.creation", "secret.rotation", "secret.deletion", "auth.login",
                     "auth.logout", "auth.login_failed", "audit.exported", "audit.chain_verified",
                     "permission.granted", "permission.revoked", "rotation.step_finished"):
        assert required in EVENT_TYPES


@pytest.mark.django_db
def test_policy_audit_logger_logs_the_four_secret_events(role_users):
    logger = AuditLogger()
    for event in (Retrieval("db/password#value", success=False), Creation("db/password#value"),
                  Rotation("db/password#value", success=True), Deletion("db/password#value")):
        logger.log_event(event, role_users["bob"])
    rows = list(AuditEvent.objects.order_by("sequence").values_list("event_type", "outcome", "secret_name",
                                                                     "actor_name"))
    assert rows == [
        ("secret.retrieval", "failure", "db/password#value", "bob"),
        ("secret.creation", "success", "db/password#value", "bob"),
        ("secret.rotation", "success", "db/password#value", "bob"),
        ("secret.deletion", "success", "db/password#value", "bob"),
    ]


def test_policy_audit_logger_writes_to_the_storage_it_is_given(tmp_path):
    path = tmp_path / "audit.jsonl"
    logger = AuditLogger(JsonLinesStorage(path))
    logger.log_event(Retrieval("api/key", success=True), None)
    logger.log_event(Deletion("api/key"), None)
    lines = list(read_json_lines(path))
    assert [line["event_type"] for line in lines] == ["secret.retrieval", "secret.deletion"]
    assert lines[0]["timestamp"].endswith("Z")  # RFC 3339, UTC
    assert verify_records(lines).ok


@pytest.mark.django_db
def test_requests_supply_request_id_ip_and_user_agent(client, role_users):
    client.post(reverse("login"), {"username": "alice", "password": "wrong"}, HTTP_USER_AGENT="pytest-agent",
                HTTP_X_REQUEST_ID="req-1234-abcd", REMOTE_ADDR="203.0.113.9")
    event = AuditEvent.objects.get(event_type="auth.login_failed")
    assert event.request_id == "req-1234-abcd"
    assert event.client_ip == "203.0.113.9"
    assert event.user_agent == "pytest-agent"


@pytest.mark.django_db
def test_forged_request_ids_are_replaced(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="<script>x</script>")
    assert response["X-Request-ID"] != "<script>x</script>" and len(response["X-Request-ID"]) == 32


@pytest.mark.django_db
def test_forwarded_for_is_trusted_only_through_configured_proxies(client, settings):
    settings.AUDIT_FORWARDED_PROXY_COUNT = 1
    client.post(reverse("login"), {"username": "x", "password": "y"},
                HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7", REMOTE_ADDR="10.0.0.2")
    assert AuditEvent.objects.get().client_ip == "198.51.100.7"


@pytest.mark.django_db
def test_odd_text_never_breaks_an_append():
    audit.record("auth.login_failed", actor="system", outcome="failure", target=("auth.user", "", "nul\x00byte\ud800"))
    event = AuditEvent.objects.get()
    assert "\x00" not in event.target_text and event.content_matches_hash()


@pytest.mark.django_db
def test_record_many_appends_in_order_as_one_chain(role_users):
    audit.record("auth.login", actor=role_users["alice"])
    records = audit.record_many([
        ("rotation.step_finished", {"secret_name": "app/db", "details": {"step": "staging"}}),
        ("rotation.step_started", {"secret_name": "app/db", "details": {"step": "applying"}}),
        ("secret.rotation", {"secret_name": "app/db", "provider": "vault"}),
    ], actor="worker")
    events = list(AuditEvent.objects.order_by("sequence"))
    assert [e.event_type for e in events] == ["auth.login", "rotation.step_finished", "rotation.step_started",
                                              "secret.rotation"]
    assert [e.sequence for e in events] == [1, 2, 3, 4]
    assert [r["sequence"] for r in records] == [2, 3, 4]
    assert all(e.actor_type == "worker" and e.content_matches_hash() for e in events[1:])
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    audit.record("auth.logout", actor=role_users["alice"])  # the head moved by three: the next append follows on
    assert AuditEvent.objects.order_by("-sequence").first().prev_hash == events[-1].hash


@pytest.mark.django_db
def test_record_many_refuses_the_whole_batch_if_one_event_is_bad():
    with pytest.raises(SecretInAuditDetails):
        audit.record_many([("secret.rotation", {"secret_name": "a"}),
                           ("secret.rotation", {"secret_name": "b", "details": {"password": "x"}})], actor="worker")
    assert not AuditEvent.objects.exists()
