"""Names that read as another name: provider-supplied text with its invisible and direction-changing characters.

Secret and provider names come from the secret managers, where anyone who may create a secret chooses them. A
right-to-left override (U+202E) or a zero-width character makes a name read on screen as another one (the "Trojan
Source" trick), so an approver could approve the rotation of, or reveal, another secret than the one they read.
Wherever such a name is shown to a person (pages, emails, chat), those characters are shown as code points.
"""
import unicodedata

HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})  # controls, format (bidi, zero-width)


def is_hidden(char):
    return unicodedata.category(char) in HIDDEN_CATEGORIES


def has_hidden(text):
    return any(is_hidden(char) for char in text)


def code_point(char):
    return f"U+{ord(char):04X}"


def with_code_points(text):
    """`text` as plain text, each hidden character written as [U+XXXX]."""
    text = "" if text is None else str(text)
    return "".join(f"[{code_point(char)}]" if is_hidden(char) else char for char in text) if has_hidden(text) \
        else text
