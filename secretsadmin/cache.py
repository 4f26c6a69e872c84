"""Django's Redis cache, counted in django-prometheus's cache metrics (hits, misses, failed gets), and reads and
writes of values that can be computed again, which a Redis outage must only slow down.

django-prometheus ships such a backend only on top of django-redis; this is the same counting on Django's
own RedisCache, which the project uses.
"""
import logging

from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from django_prometheus.cache.metrics import (
    django_cache_get_fail_total,
    django_cache_get_total,
    django_cache_hits_total,
    django_cache_misses_total,
)
from redis.exceptions import RedisError

_MISSING = object()
log = logging.getLogger(__name__)


class InstrumentedRedisCache(RedisCache):
    def get(self, key, default=None, version=None):
        django_cache_get_total.labels(backend="redis").inc()
        try:
            value = super().get(key, _MISSING, version=version)
        except Exception:
            django_cache_get_fail_total.labels(backend="redis").inc()
            raise
        if value is _MISSING:
            django_cache_misses_total.labels(backend="redis").inc()
            return default
        django_cache_hits_total.labels(backend="redis").inc()
        return value


def get_or_none(key):
    """cache.get(key), or None when the cache server cannot be answered (Redis restarting): for snapshots the
    caller computes again, so a page shows fresh figures instead of failing (the failed get is counted)."""
    try:
        return cache.get(key)
    except RedisError as exc:
        log.warning("cache unavailable (%s): computing %s afresh", type(exc).__name__, key.split(":", 1)[0])
        return None


def set_if_possible(key, value, timeout):
    """cache.set, skipped when the cache server cannot be answered (the value is computed again next time)."""
    try:
        cache.set(key, value, timeout)
    except RedisError as exc:
        log.warning("cache unavailable (%s): %s not stored", type(exc).__name__, key.split(":", 1)[0])
