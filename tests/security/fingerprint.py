"""A fingerprint of every row the application keeps, to prove that a refused request altered or lost nothing."""
import json
from dataclasses import dataclass

from django.apps import apps
from django.db import connection
from django.utils.html import escape

# The project's apps, plus accounts, groups, memberships, guardian's grants and the TOTP devices.
APP_LABELS = {"audit", "providers", "rotation", "compliance", "secretsadmin", "auth", "guardian", "otp_totp"}
# Bookkeeping that changes on every audited request (the chain head) or never (the permission catalogue).
SKIPPED = {"audit.chainhead", "auth.permission"}
# Append-only history: a refused request may add to it (a failed sign-in, a refused rotation is audited).
APPEND_ONLY = {"audit.auditevent"}


def fingerprinted_models():
    return [model for model in apps.get_models(include_auto_created=True)
            if model._meta.app_label in APP_LABELS and model._meta.label_lower not in SKIPPED]


def _plans():
    """(label, SELECT of the primary key and every column, indexes of JSON columns) per table; plain SQL, since
    the battery takes two fingerprints per submission and the ORM's query building is most of their cost."""
    quote = connection.ops.quote_name
    key = connection.vendor
    if key not in _PLANS:
        plans = []
        for model in fingerprinted_models():
            fields = model._meta.concrete_fields
            columns = ", ".join(quote(field.column) for field in fields)
            json_columns = {index + 1 for index, field in enumerate(fields)
                            if field.get_internal_type() == "JSONField"}
            # Names from the models, quoted: nothing here comes from input.
            sql = f"SELECT {quote(model._meta.pk.column)}, {columns} FROM {quote(model._meta.db_table)}"  # noqa: S608
            plans.append((model._meta.label_lower, sql, json_columns))
        _PLANS[key] = plans
    return _PLANS[key]


_PLANS = {}
JSON_COLUMNS = {}


def take():
    """{model label: {pk: row values}} for every row of every fingerprinted table."""
    snapshot = {}
    with connection.cursor() as cursor:
        for label, sql, json_columns in _plans():
            cursor.execute(sql)
            snapshot[label] = {row[0]: row for row in cursor.fetchall()}
            JSON_COLUMNS[label] = json_columns
    return snapshot


def decoded(label, row):
    """The row with its JSON columns parsed (SQLite and PostgreSQL both hand them over as text here)."""
    return [json.loads(value) if index in JSON_COLUMNS.get(label, ()) and isinstance(value, str) else value
            for index, value in enumerate(row)]


@dataclass
class Difference:
    lost: list  # (label, pk) of rows gone
    altered: list  # (label, pk) of rows whose values changed
    added: dict  # label -> [row values] of new rows

    def added_outside(self, allowed):
        return {label: rows for label, rows in self.added.items() if rows and label not in allowed}

    def new_and_changed_rows(self, after):
        rows = [decoded(label, row) for label, label_rows in self.added.items() for row in label_rows]
        return rows + [decoded(label, after[label][pk]) for label, pk in self.altered]


def compare(before, after):
    lost, altered, added = [], [], {}
    for label, rows in before.items():
        now = after[label]
        lost += [(label, pk) for pk in rows if pk not in now]
        altered += [(label, pk) for pk, row in rows.items() if pk in now and now[pk] != row]
        added[label] = [row for pk, row in now.items() if pk not in rows]
    return Difference(lost, altered, added)


def text_leaves(values):
    """Every string inside the given row values, JSON columns included."""
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            yield from text_leaves(value.keys())
            yield from text_leaves(value.values())
        elif isinstance(value, list | tuple):
            yield from text_leaves(value)


def shows_escaped(page, value):
    """The value is on the page, HTML-escaped; line by line, since multi-line text is shown with <br>."""
    lines = [line for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip()]
    return all(escape(line) in page for line in lines)


def shows_name(page, name):
    """A provider-supplied name on the page: HTML-escaped, with each invisible or direction-changing character shown
    as its marked code point (secretsadmin.lookalikes), and none of those characters anywhere on the page."""
    from secretsadmin.lookalikes import has_hidden, is_hidden
    from secretsadmin.templatetags.names import visible_controls

    if not has_hidden(name):
        return shows_escaped(page, name)
    marked = str(visible_controls(name)).removeprefix('<bdi class="has-control-chars">').removesuffix("</bdi>")
    return marked in page and not any(char in page for char in name if is_hidden(char))  # as or within a text


def raw_markup_leaks(page, value):
    """The value appears unescaped on the page although escaping would change it (it holds <, >, &, ' or ")."""
    return escape(value) != value and value in page
