"""`{{ name|visible_controls }}`: a provider-supplied name with its hidden characters shown (secretsadmin.lookalikes).

Each invisible or direction-changing character is a marked code point (`U+202E`, its name on hover), and the name
is isolated so it cannot reorder the text around it. `visible_controls:"text"`, for a page's <title> where no
markup renders, writes them as `[U+202E]`.
"""
import unicodedata

from django import template
from django.utils.html import conditional_escape, format_html, format_html_join

from secretsadmin.lookalikes import code_point, has_hidden, is_hidden, with_code_points

register = template.Library()


def _marker(char):
    return format_html('<span class="control-char" title="{}">{}</span>',
                       unicodedata.name(char, code_point(char)), code_point(char))


@register.filter
def visible_controls(name, form="html"):
    text = "" if name is None else str(name)
    if not has_hidden(text):
        return conditional_escape(text)
    if form == "text":
        return conditional_escape(with_code_points(text))
    parts = format_html_join("", "{}", ((_marker(char) if is_hidden(char) else char,) for char in text))
    return format_html('<bdi class="has-control-chars">{}</bdi>', parts)  # parts: already escaped, kept as is
