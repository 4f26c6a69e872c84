"""RQ jobs of the providers app: they take ids, reload rows, and are safe to run twice."""
from datetime import timedelta

import django_rq
from django.db import transaction
from django.utils import timezone

from providers.models import Provider
from providers.sync import sync_provider


def sync_provider_job(provider_id):
    result = sync_provider(provider_id, actor="worker")
    return "already running" if result is None else result.counts()


def enqueue_sync(provider):
    # On commit: the job must not start before the request that asked for it has been saved.
    transaction.on_commit(lambda: django_rq.get_queue("sync").enqueue(sync_provider_job, provider.pk,
                                                                       job_timeout=3600))


def enqueue_due_syncs_job():
    """Scheduled every few minutes: queue a sync for each enabled provider whose interval has passed."""
    now = timezone.now()
    names = []
    # A handful of providers: the interval arithmetic is clearer here than in SQL.
    for provider in Provider.objects.filter(enabled=True, sync_started_at__isnull=True):
        if provider.last_sync_at is None or provider.last_sync_at + timedelta(
                minutes=provider.sync_interval_minutes) <= now:
            django_rq.get_queue("sync").enqueue(sync_provider_job, provider.pk, job_timeout=3600)
            names.append(provider.name)
    return names
