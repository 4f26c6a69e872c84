"""CSV exports that are safe to open in a spreadsheet."""

# A spreadsheet runs a cell starting with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text) -> str:
    text = str(text)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text
