"""Hostile inputs, and how they travel in a form body or query string (lone surrogates included)."""
from urllib.parse import urlencode

PAYLOADS = {
    "script-tag": "<script>alert(1)</script>",
    "img-onerror": '"><img src=x onerror=alert(1)>',
    "long-10k": "x" * 10_000,
    # 10,000 characters again, as nesting: a JSON field must refuse it, not recurse until Python gives up.
    "nesting-10k": "[" * 10_000,
    "nul": "before\x00after",
    "control-chars": "bell\x07 esc\x1b[31m del\x7f bs\x08\r\nnext line",
    "rtl-override": "invoice\u202egpj.exe",
    "combining-marks": "Z\u0351\u0352\u0353\u0300\u0301a\u0308\u20dd",
    "emoji": "\U0001f510 key \U0001f469\U0001f3fd\u200d\U0001f4bb \U0001f3f3\ufe0f\u200d\U0001f308",
    # Not valid UTF-8 once encoded: the browser cannot send it, a script can (Django decodes it as U+FFFD).
    "lone-surrogate": "half \ud800 pair",
    "sql-or": "' OR 1=1 --",
    "sql-drop": "x'; DROP TABLE providers_secret; --",
    "traversal": "../../../etc/passwd",
    "traversal-encoded": "%2e%2e/%2e%2e/sys/raw",
    "traversal-slash-encoded": "..%2f..%2fsys%2fraw",
    "negative": "-1",
    "zero": "0",
    "2**63": str(2**63),
    # Past Python's limit for turning text into an int (4,300 digits): int() raises ValueError, not a number.
    "digits-10k": "9" * 10_000,
    "1e309": "1e309",
    "nan": "NaN",
}


def encode(data):
    """A form body / query string; strings are sent as UTF-8, lone surrogates as their (invalid) UTF-8 bytes."""
    return urlencode(data, doseq=True, encoding="utf-8", errors="surrogatepass")


def as_received(value):
    """What Django hands a view for a value sent with encode(): undecodable bytes become U+FFFD."""
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
