"""Builders for compliance evidence: providers, secrets, policies, runs, audit rows and reviews at chosen times.

Times are given as "days ago" (fractions allowed) from now; a report for the period ending today sees them all.
Audit rows go through the real recorder and hash chain, with the timestamp the test chose.
"""
import datetime as dt
import itertools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from audit.models import ChainVerification
from audit.recorder import build_fields, configured_storages, store
from providers.access_review import AccessReview
from providers.models import Provider, Secret
from rotation.models import Approval, PolicyAssignment, RotationPolicy, RotationRequest
from tests.conftest import make_user

State = RotationRequest.State
_names = itertools.count(1)


def ago(days=0.0, hours=0.0):
    return timezone.now() - dt.timedelta(days=days, hours=hours)


class Evidence:
    """One test's data set. Every method returns the row it made."""

    def user(self, username=None, role=None, *, joined=400, superuser=False):
        user = make_user(username or f"person{next(_names)}", role)
        get_user_model().objects.filter(pk=user.pk).update(date_joined=ago(joined), is_superuser=superuser)
        user.refresh_from_db()
        return user

    def provider(self, name=None, kind="aws", *, created=400, **settings):
        defaults = {"aws": {"region": "eu-west-1"}, "vault": {"address": "https://vault.example.internal:8200"},
                    "azure": {"vault_url": "https://kv-example.vault.azure.net"},
                    "gcp": {"project_id": "example-project"}}[kind]
        provider = Provider.objects.create(name=name or f"{kind}-{next(_names)}", kind=kind,
                                           settings={**defaults, **settings})
        Provider.objects.filter(pk=provider.pk).update(created_at=ago(created))
        return provider

    def secret(self, provider, name=None, *, rotated=None, seen=400, status="active", **fields):
        secret = Secret.objects.create(provider=provider, name=name or f"app/secret-{next(_names)}", status=status,
                                       last_rotated_at=None if rotated is None else ago(rotated), **fields)
        Secret.objects.filter(pk=secret.pk).update(first_seen_at=ago(seen))
        secret.refresh_from_db()
        return secret

    def secrets(self, provider, count, **kwargs):
        return [self.secret(provider, **kwargs) for _ in range(count)]

    def policy(self, name=None, *, interval_days=90, provider=None, secret=None, **fields):
        policy = RotationPolicy.objects.create(name=name or f"policy-{next(_names)}", interval_days=interval_days,
                                               **fields)
        if provider is not None or secret is not None:
            PolicyAssignment.objects.create(policy=policy, provider=provider, secret=secret)
        return policy

    def run(self, secret, *, requester=None, state=State.SUCCEEDED, trigger="manual", required=1, approvers=(),
            created=2.0, started=1.0, promoted=None, reviewed_by=None, reviewed=None):
        """A rotation request created `created` days ago, approved by `approvers` before it started."""
        run = RotationRequest.objects.create(
            secret=secret, requested_by=requester, requested_by_name=requester.username if requester else "system",
            reason="test", trigger=trigger, state=state, required_approvals=required,
            review_required=trigger == "emergency")
        times = {"created_at": ago(created), "started_at": None if started is None else ago(started)}
        if state == State.SUCCEEDED:
            times["promoted_at"] = times["finished_at"] = ago(started if promoted is None else promoted)
        if reviewed_by is not None:
            times.update(reviewed_by=reviewed_by, reviewed_at=ago(reviewed))
        RotationRequest.objects.filter(pk=run.pk).update(**times)
        for approver in approvers:
            self.approval(run, approver, days=created - 0.1)
        run.refresh_from_db()
        return run

    def approval(self, run, approver, *, days=1.5, decision=Approval.Decision.APPROVED):
        approval = Approval.objects.create(request=run, approver=approver, decision=decision)
        Approval.objects.filter(pk=approval.pk).update(decided_at=ago(days))
        return approval

    def event(self, event_type, *, actor="system", days=0.5, target=None, outcome="success", failure_reason="",
              secret=None, **fields):
        """One audit row through the real chain, dated `days` ago. `secret` fills target, provider and name."""
        if secret is not None:
            target = target or secret
            fields.setdefault("provider", secret.provider.name)
            fields.setdefault("secret_name", secret.name)
        record = build_fields(event_type, actor=actor, target=target, outcome=outcome,
                              failure_reason=failure_reason or ("refused" if outcome == "failure" else ""), **fields)
        record["timestamp"] = ago(days)
        return store(record, configured_storages()[0])

    def run_events(self, run, *, days=1.0):
        """The audit rows a run leaves: requested, each approval, and the rotation itself when it succeeded."""
        self.event("rotation.requested", actor=run.requested_by or "system", target=run, secret=run.secret, days=days)
        for approval in run.approvals.all():
            self.event("rotation.approved", actor=approval.approver, target=run, secret=run.secret, days=days)
        if run.state == State.SUCCEEDED:
            self.event("secret.rotation", actor="worker", target=run, secret=run.secret, days=days)

    def login(self, user, *, days=1.0):
        return self.event("auth.login", actor=user, target=("auth.user", user.pk, user.username), days=days)

    def failed_logins(self, username, count, *, days=1.0):
        for _ in range(count):
            self.event("auth.login_failed", actor=AnonymousUser(), outcome="failure",
                       failure_reason="invalid credentials", target=("auth.user", "", username), days=days)

    def access_review(self, by, *, days=10.0):
        review = AccessReview.objects.create(reviewed_by=by, note="Quarterly review", rows_reviewed=12)
        AccessReview.objects.filter(pk=review.pk).update(reviewed_at=ago(days))
        return review

    def verification(self, *, ok=True, days=0.5, last_sequence=None):
        verification = ChainVerification.objects.create(ok=ok, events_checked=last_sequence or 0,
                                                         last_sequence=last_sequence,
                                                         first_broken_sequence=None if ok else 1,
                                                         problem="" if ok else "edited")
        ChainVerification.objects.filter(pk=verification.pk).update(verified_at=ago(days))
        return verification
