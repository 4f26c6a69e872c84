"""Query helpers for apps that join audit rows back to the rows they name (audit rows keep the name as text)."""
from django.db import connection
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat, Substr


def uuid_text(expression):
    """The text form str(uuid) that audit rows keep in target_id, of a UUID column (PostgreSQL: a cast;
    SQLite keeps UUIDs as 32 hex digits, so the dashes are put back)."""
    if connection.vendor == "postgresql":
        return Cast(expression, CharField())
    parts = [Substr(expression, start, length) for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))]
    dashed = [parts[0]]
    for part in parts[1:]:
        dashed += [Value("-"), part]
    return Concat(*dashed, output_field=CharField())
