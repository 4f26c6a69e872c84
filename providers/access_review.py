"""A recorded access review: who looked at the access matrix, when, over what scope, and what they concluded."""
import uuid

from django.conf import settings
from django.db import models


# Imported at the end of providers/models.py so that Django registers it with the providers app.
class AccessReview(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # PROTECT: a review is evidence; deleting its reviewer must not erase it.
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_reviews")
    reviewed_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField()
    # "all", or the filters the reviewer looked at ("provider=aws-prod, user=alice, action=reveal_secret").
    scope = models.CharField(max_length=255, default="all")
    rows_reviewed = models.PositiveIntegerField(default=0)

    class Meta:
        app_label = "providers"
        ordering = ["-reviewed_at", "-pk"]

    def __str__(self):
        when = f" on {self.reviewed_at:%Y-%m-%d %H:%M}" if self.reviewed_at else ""
        return f"Access review of {self.scope}{when}"
