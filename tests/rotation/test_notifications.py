"""Rotation notifications: who is told, by email and a real local webhook, through real RQ jobs on Redis."""
import json
import logging
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import django_rq
import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from guardian.shortcuts import assign_perm
from rq.job import Job
from rq.queue import Queue
from tenacity import wait_none

from providers.models import Provider, Secret
from rotation import notifications
from rotation.models import Approval, PendingNotification, RotationRequest
from rotation.notifications import approvers_for, request_decided, request_filed, run_finished
from rotation.reconcile import reconcile_rotations
from tests.conftest import free_port, make_user

State = RotationRequest.State
DASHBOARD = "https://secrets.example.invalid"
HOOK_TOKEN = "T0000-B0000-not-a-real-token"


class _WebhookHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def webhook_server():
    """A Slack-like receiver on 127.0.0.1 in a thread; it records each JSON body and answers `status`."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _WebhookHandler)
    server.received, server.status = [], 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def webhook(webhook_server, settings):
    webhook_server.received.clear()
    webhook_server.status = 200
    settings.ROTATION_NOTIFY_WEBHOOK_URL = f"http://127.0.0.1:{webhook_server.server_port}/services/{HOOK_TOKEN}"
    return webhook_server


@pytest.fixture(autouse=True)
def notify_settings(settings):
    settings.ROTATION_NOTIFY_EMAIL = True
    settings.ROTATION_NOTIFY_WEBHOOK_URL = ""
    settings.DASHBOARD_URL = DASHBOARD + "/"
    settings.DEFAULT_FROM_EMAIL = "secretsadmin@example.invalid"


@pytest.fixture
def enqueued(monkeypatch):
    """The jobs this test put on Redis (the queue may be shared with other runs, so we never drain it)."""
    jobs, real_enqueue_job = [], Queue.enqueue_job

    def recording(queue, job, *args, **kwargs):
        job = real_enqueue_job(queue, job, *args, **kwargs)
        jobs.append(job)
        return job

    monkeypatch.setattr(Queue, "enqueue_job", recording)
    return jobs


def work(jobs):
    """Do what a worker does with each job: fetch it from Redis, take it off the queue, perform it."""
    queue, results = django_rq.get_queue("default"), []
    for job in jobs:
        stored = Job.fetch(job.id, connection=queue.connection)
        queue.remove(stored)
        results.append(stored.perform())
    return results


@pytest.fixture
def notify_secret(db):
    provider = Provider.objects.create(kind="vault", name="notify-test",
                                       settings={"address": "http://127.0.0.1:1", "mount": "secret"})
    return Secret.objects.create(provider=provider, name="app/db#password")


def file_request(secret, requester, **fields):
    return RotationRequest.objects.create(secret=secret, requested_by=requester,
                                          requested_by_name=requester.username if requester else "system",
                                          reason="Quarterly rotation", **fields)


def mail_to(outbox):
    return sorted(address for message in outbox for address in message.to)


def test_approvers_are_role_holders_and_grantees_with_an_email(notify_secret, role_users, mallory):
    granted = make_user("grace")
    assign_perm("providers.approve_rotation", granted, notify_secret)
    via_provider_group = make_user("henry")
    provider_approvers = Group.objects.create(name="notify-provider-approvers")
    via_provider_group.groups.add(provider_approvers)
    assign_perm("providers.approve_provider_rotation", provider_approvers, notify_secret.provider)
    root = make_user("root")
    root.is_superuser = True
    root.save()
    no_email = make_user("noemail", "Approver")
    no_email.email = ""
    no_email.save()
    gone = make_user("gone", "Approver")
    gone.is_active = False
    gone.save()
    other_secret = Secret.objects.create(provider=notify_secret.provider, name="app/other#password")
    assign_perm("providers.approve_rotation", mallory, other_secret)  # a grant elsewhere counts for nothing here

    rotation = file_request(notify_secret, role_users["bob"])

    assert [u.username for u in approvers_for(rotation)] == ["charlie", "grace", "henry", "root"]


def test_approvers_leave_out_the_requester(notify_secret, role_users):
    rotation = file_request(notify_secret, role_users["charlie"])
    assert list(approvers_for(rotation)) == []


def test_approvers_are_limited_to_the_policys_approver_groups(notify_secret, role_users):
    db_team = Group.objects.create(name="db-approvers")
    member = make_user("ivan", "Approver")
    member.groups.add(db_team)
    member_without_permission = make_user("judy")
    member_without_permission.groups.add(db_team)
    rotation = file_request(notify_secret, role_users["bob"], frozen_policy={"approver_groups": [db_team.pk]})
    assert [u.username for u in approvers_for(rotation)] == ["ivan"]


def test_approvers_for_is_one_query_however_many_approvers(notify_secret, role_users, django_assert_num_queries):
    for n in range(5):
        assign_perm("providers.approve_rotation", make_user(f"grantee{n}"), notify_secret)
    rotation = file_request(notify_secret, role_users["bob"])
    with django_assert_num_queries(1):
        assert len(list(approvers_for(rotation))) == 6


def test_a_new_request_enqueues_one_job_and_emails_its_approvers_only(
        notify_secret, role_users, enqueued, mailoutbox, django_capture_on_commit_callbacks):
    rotation = file_request(notify_secret, role_users["bob"])
    with django_capture_on_commit_callbacks(execute=True):
        request_filed(rotation)
    assert [(j.origin, j.func_name, j.args) for j in enqueued] == [
        ("default", "rotation.notifications.send_rotation_notification_job", ("filed", rotation.pk))]
    assert mailoutbox == []  # nothing is sent in the caller

    work(enqueued)

    assert mail_to(mailoutbox) == ["charlie@example.invalid"]
    message = mailoutbox[0]
    assert message.subject == "[SecretsAdmin] Rotation of notify-test:app/db#password needs your approval"
    assert message.from_email == "secretsadmin@example.invalid"
    assert "Requested by: bob" in message.body and "Reason: Quarterly rotation" in message.body
    assert "State: Pending approval" in message.body
    assert f"{DASHBOARD}/rotations/{rotation.uuid}/" in message.body


def test_an_emergency_rotation_asks_approvers_for_the_post_incident_review(
        notify_secret, role_users, enqueued, mailoutbox, django_capture_on_commit_callbacks):
    rotation = file_request(notify_secret, role_users["bob"], trigger=RotationRequest.Trigger.EMERGENCY,
                            state=State.QUEUED, required_approvals=0, review_required=True)
    with django_capture_on_commit_callbacks(execute=True):
        request_filed(rotation)
    work(enqueued)
    assert mail_to(mailoutbox) == ["charlie@example.invalid"]
    assert "post-incident review" in mailoutbox[0].subject


def test_a_request_decided_before_the_job_ran_sends_nothing(
        notify_secret, role_users, enqueued, mailoutbox, django_capture_on_commit_callbacks):
    rotation = file_request(notify_secret, role_users["bob"])
    with django_capture_on_commit_callbacks(execute=True):
        request_filed(rotation)
    RotationRequest.objects.filter(pk=rotation.pk).update(state=State.REJECTED)
    work(enqueued)
    assert len(enqueued) == 1 and mailoutbox == []


def test_a_rejection_emails_the_requester_with_the_reason(
        notify_secret, role_users, enqueued, mailoutbox, django_capture_on_commit_callbacks):
    rotation = file_request(notify_secret, role_users["bob"], state=State.REJECTED)
    Approval.objects.create(request=rotation, approver=role_users["charlie"], decision=Approval.Decision.REJECTED,
                            comment="Not during the freeze")
    with django_capture_on_commit_callbacks(execute=True):
        request_decided(rotation, approve=False, final=True)
    owed = PendingNotification.objects.get(request=rotation)
    assert enqueued[0].kwargs == {"approve": False, "final": True, "notification": owed.pk}
    work(enqueued)
    assert mail_to(mailoutbox) == ["bob@example.invalid"]
    assert mailoutbox[0].subject.endswith("was rejected")
    assert "Decided by: charlie" in mailoutbox[0].body and "Comment: Not during the freeze" in mailoutbox[0].body


def test_an_approval_short_of_the_quorum_tells_the_requester_the_count(
        notify_secret, role_users, enqueued, mailoutbox, django_capture_on_commit_callbacks):
    rotation = file_request(notify_secret, role_users["bob"], required_approvals=2)
    Approval.objects.create(request=rotation, approver=role_users["charlie"], decision=Approval.Decision.APPROVED)
    with django_capture_on_commit_callbacks(execute=True):
        request_decided(rotation, approve=True, final=False)
    work(enqueued)
    assert mail_to(mailoutbox) == ["bob@example.invalid"]
    assert mailoutbox[0].subject.endswith("has 1 of 2 approvals")


def test_a_decision_on_a_scheduled_request_emails_nobody(
        notify_secret, role_users, enqueued, mailoutbox, django_capture_on_commit_callbacks):
    rotation = file_request(notify_secret, None, trigger=RotationRequest.Trigger.SCHEDULED, state=State.QUEUED)
    with django_capture_on_commit_callbacks(execute=True):
        request_decided(rotation, approve=True, final=True)
    work(enqueued)
    assert len(enqueued) == 1 and mailoutbox == []


def test_a_successful_run_emails_the_requester(
        notify_secret, role_users, enqueued, mailoutbox, django_capture_on_commit_callbacks):
    rotation = file_request(notify_secret, role_users["bob"], state=State.SUCCEEDED, new_version="7")
    with django_capture_on_commit_callbacks(execute=True):
        run_finished(rotation)
    work(enqueued)
    assert mail_to(mailoutbox) == ["bob@example.invalid"]
    assert mailoutbox[0].subject.endswith("Rotation of notify-test:app/db#password succeeded")
    assert "New version: 7" in mailoutbox[0].body


def test_a_run_needing_attention_tells_requester_and_approvers_the_error_line(
        notify_secret, role_users, enqueued, mailoutbox, django_capture_on_commit_callbacks):
    rotation = file_request(notify_secret, role_users["bob"], state=State.NEEDS_ATTENTION,
                            error="NetworkError: provider unreachable\nsecond line")
    with django_capture_on_commit_callbacks(execute=True):
        run_finished(rotation)
    work(enqueued)
    assert mail_to(mailoutbox) == ["bob@example.invalid", "charlie@example.invalid"]
    body = mailoutbox[0].body
    assert "Error: NetworkError: provider unreachable" in body and "second line" not in body


def test_the_webhook_receives_slack_json(notify_secret, role_users, enqueued, webhook,
                                         django_capture_on_commit_callbacks):
    rotation = file_request(notify_secret, role_users["bob"])
    with django_capture_on_commit_callbacks(execute=True):
        request_filed(rotation)
    work(enqueued)
    [(content_type, payload)] = webhook.received
    assert content_type == "application/json" and list(payload) == ["text"]
    assert payload["text"].startswith("Rotation of notify-test:app/db#password needs your approval (requested by bob)")
    assert payload["text"].endswith(f"{DASHBOARD}/rotations/{rotation.uuid}/")


def test_a_failing_webhook_is_retried_three_times_then_logged_not_raised(
        notify_secret, role_users, enqueued, webhook, mailoutbox, caplog, monkeypatch,
        django_capture_on_commit_callbacks):
    monkeypatch.setattr(notifications._post_webhook.retry, "wait", wait_none())
    webhook.status = 500
    rotation = file_request(notify_secret, role_users["bob"])
    with django_capture_on_commit_callbacks(execute=True):
        request_filed(rotation)
    with caplog.at_level(logging.WARNING, logger="secretsadmin.rotation"):
        work(enqueued)
    assert len(webhook.received) == 3
    assert mail_to(mailoutbox) == ["charlie@example.invalid"]  # email does not depend on the webhook
    assert "webhook failed (WebhookServerError 500)" in caplog.text
    assert HOOK_TOKEN not in caplog.text  # a webhook URL is a credential


def test_email_can_be_turned_off(notify_secret, role_users, enqueued, webhook, mailoutbox, settings,
                                 django_capture_on_commit_callbacks):
    settings.ROTATION_NOTIFY_EMAIL = False
    rotation = file_request(notify_secret, role_users["bob"])
    with django_capture_on_commit_callbacks(execute=True):
        request_filed(rotation)
    work(enqueued)
    assert mailoutbox == []
    assert len(webhook.received) == 1


def test_an_unreachable_redis_does_not_fail_the_caller_and_the_reconciler_sends_it_later(
        notify_secret, role_users, settings, caplog, enqueued, mailoutbox, django_capture_on_commit_callbacks):
    reachable = settings.RQ_QUEUES
    settings.RQ_QUEUES = {**reachable, "default": {"URL": f"redis://127.0.0.1:{free_port()}/0"}}
    rotation = file_request(notify_secret, role_users["bob"])
    with caplog.at_level(logging.WARNING, logger="secretsadmin.rotation"), \
            django_capture_on_commit_callbacks(execute=True) as callbacks:
        request_filed(rotation)
    assert len(callbacks) == 1 and enqueued == []
    assert f"rotation {rotation.pk}: filed notification not enqueued (ConnectionError)" in caplog.text
    [owed] = PendingNotification.objects.filter(request=rotation)
    assert owed.kind == "filed"

    settings.RQ_QUEUES = reachable  # Redis is back
    assert reconcile_rotations(now=owed.created_at + timedelta(seconds=30)).notifications == 0  # not yet due
    assert reconcile_rotations(now=owed.retry_at).notifications == 1
    assert reconcile_rotations(now=owed.retry_at).notifications == 0  # once per retry interval, not per pass
    work(enqueued)

    assert mail_to(mailoutbox) == ["charlie@example.invalid"]
    assert not PendingNotification.objects.exists()


def test_the_owed_notification_is_part_of_the_callers_transaction(notify_secret, role_users, enqueued,
                                                                   django_capture_on_commit_callbacks):
    rotation = file_request(notify_secret, role_users["bob"])
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        request_filed(rotation)
        assert PendingNotification.objects.filter(request=rotation).count() == 1
        raise RuntimeError("the change it tells of is rolled back")
    assert enqueued == [] and not PendingNotification.objects.exists()


def test_of_two_jobs_for_one_owed_notification_one_sends(notify_secret, role_users, enqueued, mailoutbox,
                                                        django_capture_on_commit_callbacks):
    rotation = file_request(notify_secret, role_users["bob"])
    with django_capture_on_commit_callbacks(execute=True):
        request_filed(rotation)
    owed = PendingNotification.objects.get(request=rotation)
    assert reconcile_rotations(now=owed.retry_at).notifications == 1  # the first job is late, say
    assert len(enqueued) == 2 and {job.kwargs["notification"] for job in enqueued} == {owed.pk}

    assert work(enqueued) == ["filed: 1 email(s)", "already sent"]
    assert mail_to(mailoutbox) == ["charlie@example.invalid"]
