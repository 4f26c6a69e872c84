"""Audit log exports as CSV and JSON lines, streamed in constant memory however many rows there are."""
import csv
import io
import json
from uuid import UUID

from audit.chain import HASHED_FIELDS, format_timestamp
from secretsadmin.spreadsheets import spreadsheet_safe

CSV_COLUMNS = (
    "sequence", "uuid", "timestamp", "actor_name", "actor_type", "event_type", "outcome", "failure_reason",
    "target_type", "target_id", "target_text", "provider", "secret_name", "details", "request_id", "client_ip",
    "user_agent", "prev_hash", "hash",
)
# The shape of audit.storage.record_as_json, so an unfiltered export verifies like a JSON-lines log.
JSONL_FIELDS = (*HASHED_FIELDS, "prev_hash", "hash")

FETCH_SIZE = 2000  # rows per database round trip (a server-side cursor on PostgreSQL)
ROWS_PER_CHUNK = 500  # rows per chunk handed to the response

def _rows(queryset, fields):
    return queryset.values_list(*fields).iterator(chunk_size=FETCH_SIZE)


def _json_value(value):
    if isinstance(value, UUID):
        return str(value)
    if hasattr(value, "astimezone"):
        return format_timestamp(value)
    return value


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, int):
        return value
    if hasattr(value, "astimezone"):
        return format_timestamp(value)
    return spreadsheet_safe(str(value))


def _compact_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def csv_lines(queryset):
    """The header, then one CSV record per event, yielded a few hundred rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    details_index = CSV_COLUMNS.index("details")
    pending = 0
    for row in _rows(queryset, CSV_COLUMNS):
        cells = [_csv_cell(value) for value in row]
        # Compact JSON whatever the stored value (even a bare string or number), so the column always parses.
        cells[details_index] = spreadsheet_safe(_compact_json(row[details_index]))
        writer.writerow(cells)
        pending += 1
        if pending == ROWS_PER_CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if buffer.tell():
        yield buffer.getvalue()


def jsonl_lines(queryset):
    """One JSON object per line (the hashed fields plus prev_hash and hash), a few hundred lines at a time."""
    batch = []
    for row in _rows(queryset, JSONL_FIELDS):
        data = {name: _json_value(value) for name, value in zip(JSONL_FIELDS, row, strict=True)}
        batch.append(_compact_json(data))
        if len(batch) == ROWS_PER_CHUNK:
            yield "\n".join(batch) + "\n"
            batch = []
    if batch:
        yield "\n".join(batch) + "\n"
