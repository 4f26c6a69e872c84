"""The rotation request pages: list, approval queue, a run's page and its live partial, the actions, rq views."""
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from audit.models import AuditEvent
from providers.models import Secret
from rotation.models import Approval, RotationPolicy, RotationRequest, StepLog
from rotation.services import request_rotation, run_emergency_rotation
from tests.rotation.pages import (  # noqa: F401  (fixtures, used by name)
    body,
    db_secret_fixture,
    pending_fixture,
    provider_fixture,
    reload,
    standard_policy_fixture,
    url,
)

pytestmark = pytest.mark.django_db
State = RotationRequest.State
LIST = reverse("rotation:request_list")
QUEUE = reverse("rotation:approval_queue")

# ---------------------------------------------------------------- reading


def test_request_list_shows_requests_with_state_and_filters(client_for, role_users, pending, provider):
    other = Secret.objects.create(provider=provider, name="app/cache#token")
    done = RotationRequest.objects.create(secret=other, reason="old", state=State.SUCCEEDED,
                                          trigger=RotationRequest.Trigger.SCHEDULED)
    client = client_for(role_users["alice"])
    page = body(client.get(LIST))
    assert "app/db#password" in page and "app/cache#token" in page
    assert "Pending approval" in page and "0 of 1" in page
    assert "app/cache#token" not in body(client.get(LIST, {"state": "open"}))
    assert "app/db#password" not in body(client.get(LIST, {"state": "finished"}))
    assert "app/db#password" not in body(client.get(LIST, {"trigger": "scheduled"}))
    assert "app/cache#token" not in body(client.get(LIST, {"q": "db#"}))
    by_secret = body(client.get(LIST, {"secret": str(other.uuid)}))
    assert done.get_absolute_url() in by_secret and pending.get_absolute_url() not in by_secret
    bad = client.get(LIST, {"state": "nonsense"})
    assert bad.status_code == 200 and "Fix the filter" in body(bad)


def test_request_list_only_shows_requests_of_secrets_the_user_can_see(client_for, pending, provider, django_user_model):
    hidden = Secret.objects.create(provider=provider, name="hidden/one")
    RotationRequest.objects.create(secret=hidden, reason="not yours")
    assert "hidden/one" in body(client_for(pending.requested_by).get(LIST)), "a role sees every secret's rotations"
    grant_only = django_user_model.objects.create_user("grantee", "grantee@example.invalid", "x" * 20)
    assign_perm("providers.view_secret", grant_only, pending.secret)
    assign_perm("rotation.view_rotationrequest", grant_only)
    page = body(client_for(grant_only).get(LIST))
    assert pending.get_absolute_url() in page and "hidden/one" not in page
    assert "hidden/one" not in body(client_for(grant_only).get(LIST, {"secret": str(hidden.uuid)}))
    hidden_request = RotationRequest.objects.get(secret=hidden)
    assert client_for(grant_only).get(url("request_detail", hidden_request)).status_code == 404


def test_rotation_pages_are_404_for_someone_who_cannot_see_the_secret(client_for, mallory, pending):
    client = client_for(mallory)
    assert client.get(LIST).status_code == 403
    assert client.get(QUEUE).status_code == 403
    for name in ("request_detail", "request_status"):
        assert client.get(url(name, pending)).status_code == 404
    for name in ("request_decide", "request_cancel", "request_retry", "review_acknowledge"):
        assert client.post(url(name, pending), {"decision": "approve", "reason": "x", "note": "x"}).status_code == 404
    for name in ("request_create", "emergency_create"):
        assert client.post(url(name, pending.secret), {"reason": "x"}).status_code == 404
    assert reload(pending).state == State.PENDING_APPROVAL and not pending.approvals.exists()


def test_run_page_shows_policy_snapshot_steps_and_versions(client_for, role_users, pending):
    now = timezone.now()
    RotationRequest.objects.filter(pk=pending.pk).update(state=State.VERIFYING, old_version="3", new_version="4",
                                                         error="target answered 503", attempts=1,
                                                         step_started_at=now + timedelta(seconds=5))
    StepLog.objects.create(request=pending, step=State.STAGING, attempt=1, outcome=StepLog.Outcome.SUCCEEDED,
                           detail="staged version 4", started_at=now, finished_at=now + timedelta(seconds=2))
    StepLog.objects.create(request=pending, step=State.VERIFYING, attempt=1, outcome=StepLog.Outcome.INTERRUPTED,
                           detail="the worker stopped", started_at=now + timedelta(seconds=2),
                           finished_at=now + timedelta(seconds=5))
    page = body(client_for(role_users["alice"]).get(url("request_detail", pending)))
    assert "Quarterly rotation" in page and "bob" in page
    assert "24 characters" in page and "<code>none</code>" in page and "2 h" in page
    assert re.search(r"<code>3</code>.*<code>4</code>", page, re.S)
    assert "staged version 4" in page and "the worker stopped" in page and "target answered 503" in page
    assert re.search(r"\d+\.\d s", page), "the finished step shows its duration"
    rows = re.findall(r'data-step="(\w+)" data-outcome="(\w+)"', page)
    # The step in progress has no row yet: it is shown from the run, after the rows, and last.
    assert rows == [("staging", "succeeded"), ("verifying", "interrupted"), ("verifying", "started")]
    assert 'data-testid="decide-form"' not in page, "a Viewer gets no buttons"


def test_status_partial_polls_while_open_and_stops_when_final(client_for, role_users, pending):
    client = client_for(role_users["alice"])
    response = client.get(url("request_status", pending))
    assert response.status_code == 200
    partial = body(response)
    assert partial.lstrip().startswith("<section") and "<html" not in partial
    assert 'hx-trigger="every 2s"' in partial and 'hx-swap="outerHTML"' in partial
    assert f'hx-get="{url("request_status", pending)}"' in partial
    assert 'hx-trigger="every 2s"' in body(client.get(url("request_detail", pending)))
    RotationRequest.objects.filter(pk=pending.pk).update(state=State.SUCCEEDED, finished_at=timezone.now())
    final = body(client.get(url("request_status", pending)))
    assert "hx-get" not in final and "hx-trigger" not in final and "Succeeded" in final
    assert "hx-trigger" not in body(client.get(url("request_detail", pending)))


# ---------------------------------------------------------------- requesting and deciding


def test_request_then_approval_queues_the_run(client_for, client, role_users, db_secret,
                                              django_capture_on_commit_callbacks):
    client_for(role_users["bob"])
    response = client.post(url("request_create", db_secret), {"reason": "Leaked in a log"})
    rotation = RotationRequest.objects.get(secret=db_secret)
    assert response.status_code == 302 and response["Location"] == rotation.get_absolute_url()
    assert rotation.state == State.PENDING_APPROVAL and rotation.requested_by == role_users["bob"]
    assert "Rotation requested" in body(client.get(response["Location"]))

    client.force_login(role_users["charlie"])
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url("request_decide", rotation), {"decision": "approve", "comment": "ok"})
    assert response.status_code == 302 and response["Location"] == rotation.get_absolute_url()
    rotation = reload(rotation)
    assert rotation.state == State.QUEUED and rotation.approved_at is not None
    assert callbacks, "the run is enqueued once the approval commits"
    approval = rotation.approvals.get()
    assert (approval.approver, approval.decision, approval.comment) == (role_users["charlie"], "approved", "ok")
    assert AuditEvent.objects.filter(event_type="rotation.approved", actor=role_users["charlie"]).exists()


def test_request_needs_a_reason_and_the_request_permission(client_for, role_users, db_secret):
    bob = client_for(role_users["bob"])
    response = bob.post(url("request_create", db_secret), {"reason": "  "})
    assert response.status_code == 400 and "This field is required" in body(response)
    assert client_for(role_users["alice"]).post(url("request_create", db_secret), {"reason": "x"}).status_code == 403
    assert client_for(role_users["bob"]).get(url("request_create", db_secret)).status_code == 405
    assert not RotationRequest.objects.exists()


def test_a_refused_request_is_shown_with_the_services_message(client_for, role_users, pending):
    response = client_for(role_users["bob"]).post(url("request_create", pending.secret), {"reason": "again"})
    assert response.status_code == 400
    assert "already has an open rotation" in body(response)
    assert RotationRequest.objects.count() == 1


def test_requester_cannot_approve_their_own_request(client_for, role_users, pending):
    bob = role_users["bob"]
    assert client_for(bob).post(url("request_decide", pending), {"decision": "approve"}).status_code == 403
    assign_perm("providers.approve_rotation", bob, pending.secret)  # an approver too, but not of their own request
    response = client_for(bob).post(url("request_decide", pending), {"decision": "approve"})
    assert response.status_code == 400
    assert "You cannot approve or reject your own request." in body(response)
    assert reload(pending).state == State.PENDING_APPROVAL and not pending.approvals.exists()


def test_rejecting_needs_a_comment(client_for, role_users, pending):
    client = client_for(role_users["charlie"])
    response = client.post(url("request_decide", pending), {"decision": "reject", "comment": " "})
    assert response.status_code == 400 and "Say why you reject this request." in body(response)
    assert reload(pending).state == State.PENDING_APPROVAL
    response = client.post(url("request_decide", pending), {"decision": "reject", "comment": "Not during the freeze"})
    assert response.status_code == 302
    assert reload(pending).state == State.REJECTED
    assert pending.approvals.get().decision == Approval.Decision.REJECTED


def test_cancel_is_for_the_requester_before_the_run_starts(client_for, role_users, pending):
    assert client_for(role_users["charlie"]).post(url("request_cancel", pending), {"reason": "x"}).status_code == 403
    bob = client_for(role_users["bob"])
    assert 'data-testid="cancel-form"' in body(bob.get(url("request_detail", pending)))
    response = bob.post(url("request_cancel", pending), {"reason": ""})
    assert response.status_code == 400 and reload(pending).state == State.PENDING_APPROVAL
    assert bob.post(url("request_cancel", pending), {"reason": "Filed by mistake"}).status_code == 302
    assert reload(pending).state == State.CANCELLED
    assert AuditEvent.objects.filter(event_type="rotation.cancelled", actor=role_users["bob"]).exists()
    response = bob.post(url("request_cancel", pending), {"reason": "again"})
    assert response.status_code == 400 and "can no longer be cancelled" in body(response)


def test_whoever_administers_rotations_may_cancel_any_request(client_for, role_users, pending):
    erin = role_users["erin"]
    assign_perm("rotation.change_rotationrequest", erin)
    assert client_for(erin).post(url("request_cancel", pending), {"reason": "Change freeze"}).status_code == 302
    assert reload(pending).state == State.CANCELLED


def test_retry_sends_a_run_needing_attention_back(client_for, role_users, pending):
    RotationRequest.objects.filter(pk=pending.pk).update(state=State.NEEDS_ATTENTION, resume_state=State.APPLYING,
                                                         error="target unreachable")
    assert client_for(role_users["alice"]).post(url("request_retry", pending)).status_code == 403
    page = body(client_for(role_users["charlie"]).get(url("request_detail", pending)))
    assert 'data-testid="retry-form"' in page
    assert client_for(role_users["charlie"]).post(url("request_retry", pending)).status_code == 302
    rotation = reload(pending)
    assert (rotation.state, rotation.resume_state, rotation.error) == (State.FAILED_RETRYABLE, State.APPLYING, "")
    response = client_for(role_users["charlie"]).post(url("request_retry", pending))
    assert response.status_code == 302  # still retryable: sending it again is harmless


def test_emergency_rotation_and_its_review(client_for, role_users, db_secret):
    bob, charlie = role_users["bob"], role_users["charlie"]
    assert client_for(bob).post(url("emergency_create", db_secret), {"reason": "key on pastebin"}).status_code == 403
    assign_perm("providers.emergency_rotation", bob, db_secret)
    assert client_for(bob).post(url("emergency_create", db_secret), {"reason": ""}).status_code == 400
    response = client_for(bob).post(url("emergency_create", db_secret), {"reason": "key on pastebin"})
    rotation = RotationRequest.objects.get(secret=db_secret)
    assert response.status_code == 302 and rotation.is_emergency and rotation.state == State.QUEUED
    assert rotation.awaiting_review
    assert client_for(bob).post(url("review_acknowledge", rotation), {"note": "fine"}).status_code == 403
    client = client_for(charlie)
    assert 'data-testid="review-form"' in body(client.get(rotation.get_absolute_url()))
    assert client.post(url("review_acknowledge", rotation), {"note": ""}).status_code == 400
    assert client.post(url("review_acknowledge", rotation), {"note": "Consumers updated"}).status_code == 302
    rotation = reload(rotation)
    assert rotation.reviewed_by == charlie and rotation.review_note == "Consumers updated"


def test_an_approver_cannot_acknowledge_their_own_emergency_rotation(client_for, role_users, db_secret):
    charlie = role_users["charlie"]
    assign_perm("providers.emergency_rotation", charlie, db_secret)
    rotation = run_emergency_rotation(db_secret, actor=charlie, reason="suspected leak")
    response = client_for(charlie).post(url("review_acknowledge", rotation), {"note": "all good"})
    assert response.status_code == 400 and "Someone other than the person" in body(response)
    assert reload(rotation).awaiting_review


# ---------------------------------------------------------------- the approval queue


def test_approval_queue_lists_what_the_user_may_decide_oldest_first(client_for, role_users, provider, pending,
                                                                   django_user_model):
    later_secret = Secret.objects.create(provider=provider, name="app/later")
    later = request_rotation(later_secret, actor=role_users["bob"], reason="later one")
    RotationRequest.objects.filter(pk=later.pk).update(created_at=timezone.now() + timedelta(minutes=5))
    restricted = Secret.objects.create(provider=provider, name="app/restricted")
    elsewhere = request_rotation(restricted, actor=role_users["bob"], reason="approved by others")
    RotationRequest.objects.filter(pk=elsewhere.pk).update(frozen_policy={
        **elsewhere.frozen_policy, "approver_groups": [Group.objects.create(name="DBAs").pk]})

    charlie = client_for(role_users["charlie"])
    page = body(charlie.get(QUEUE))
    assert page.index("Quarterly rotation") < page.index("later one"), "the oldest first"
    assert "approved by others" not in page
    assert re.search(r'data-testid="nav-count">2<', page)
    charlie.post(url("request_decide", pending), {"decision": "approve"})
    page = body(charlie.get(QUEUE))
    assert "Quarterly rotation" not in page and "later one" in page

    assert client_for(role_users["bob"]).get(QUEUE).status_code == 403
    assert client_for(role_users["alice"]).get(QUEUE).status_code == 403
    # An approver by grant on one secret sees that secret's request only.
    grantee = django_user_model.objects.create_user("grantee", "grantee@example.invalid", "x" * 20)
    assign_perm("providers.view_secret", grantee, later_secret)
    assign_perm("providers.approve_rotation", grantee, later_secret)
    page = body(client_for(grantee).get(QUEUE))
    assert "later one" in page and "approved by others" not in page


def test_approval_queue_shows_progress_towards_required_approvals(client_for, role_users, db_secret, standard_policy,
                                                                 django_user_model):
    RotationPolicy.objects.filter(pk=standard_policy.pk).update(required_approvals=2)
    rotation = request_rotation(db_secret, actor=role_users["bob"], reason="two needed")
    other = django_user_model.objects.create_user("frank", "frank@example.invalid", "x" * 20)
    other.groups.add(Group.objects.get(name="Approver"))
    client_for(other).post(url("request_decide", rotation), {"decision": "approve"})
    assert reload(rotation).state == State.PENDING_APPROVAL
    page = body(client_for(role_users["charlie"]).get(QUEUE))
    assert re.search(r'data-testid="approvals-so-far">1 of 2 approvals<', page)


# ---------------------------------------------------------------- the secret's page


def test_secret_page_offers_a_rotation_to_operators_and_shows_the_open_one(client_for, role_users, db_secret):
    bob = client_for(role_users["bob"])
    page = body(bob.get(db_secret.get_absolute_url()))
    assert 'data-testid="effective-policy">standard<' in page
    assert 'data-testid="request-rotation-form"' in page and 'data-testid="emergency-rotation"' not in page
    assert 'data-testid="request-rotation-form"' not in body(
        client_for(role_users["alice"]).get(db_secret.get_absolute_url()))

    rotation = request_rotation(db_secret, actor=role_users["bob"], reason="now")
    assign_perm("providers.emergency_rotation", role_users["bob"], db_secret)
    page = body(client_for(role_users["bob"]).get(db_secret.get_absolute_url()))
    assert 'data-testid="open-rotation"' in page and rotation.get_absolute_url() in page
    assert 'data-testid="request-rotation-form"' not in page and 'data-testid="emergency-rotation"' in page
    assert f"{LIST}?secret={db_secret.uuid}" in page


# ---------------------------------------------------------------- job queues and query discipline


def test_the_job_queues_are_for_administrators(client_for, role_users):
    assert client_for(role_users["charlie"]).get("/admin/rq/").status_code == 403
    assert client_for(role_users["bob"]).get(reverse("django_rq:jobs", args=[0])).status_code == 403
    assert client_for(role_users["erin"]).get("/admin/rq/").status_code == 200


def make_requests(provider, count, users, start=0):
    for index in range(start, start + count):
        secret = Secret.objects.create(provider=provider, name=f"bulk/{index}")
        rotation = RotationRequest.objects.create(secret=secret, requested_by=users["bob"], requested_by_name="bob",
                                                  reason="bulk", state=State.SUCCEEDED)
        Approval.objects.create(request=rotation, approver=users["charlie"], decision="approved")


def test_request_list_query_count_does_not_grow_with_rows(client_for, role_users, provider):
    client = client_for(role_users["charlie"])
    make_requests(provider, 3, role_users)
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    make_requests(provider, 27, role_users, start=3)
    with CaptureQueriesContext(connection) as many:
        response = client.get(LIST)
    assert body(response).count('class="rotation-row"') == 30
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def pending_requests(provider, count, users, start=0):
    for index in range(start, start + count):
        secret = Secret.objects.create(provider=provider, name=f"queue/{index}")
        request_rotation(secret, actor=users["bob"], reason=f"bulk {index}")


def test_approval_queue_query_count_does_not_grow_with_rows(client_for, role_users, provider, standard_policy):
    client = client_for(role_users["charlie"])
    pending_requests(provider, 3, role_users)
    with CaptureQueriesContext(connection) as few:
        assert client.get(QUEUE).status_code == 200
    pending_requests(provider, 27, role_users, start=3)
    with CaptureQueriesContext(connection) as many:
        response = client.get(QUEUE)
    assert body(response).count('data-testid="approvals-so-far"') == 30
    assert len(many) == len(few)
