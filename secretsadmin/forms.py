"""Form plumbing shared by every app: Bootstrap classes on widgets, and list-filter helpers."""
from django import forms
from django.http import QueryDict


class BootstrapFormMixin:
    """Puts Bootstrap's classes on every widget (errors are marked by Django's aria-invalid)."""

    field_size = ""  # "sm" for compact filter bars

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.style_widgets()

    def style_widgets(self):
        """Also for forms that add fields after __init__: call it again then."""
        for field in self.fields.values():
            if isinstance(field.widget, forms.CheckboxInput):
                continue
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            sized = f"{css} {css}-{self.field_size}" if self.field_size else css
            field.widget.attrs.setdefault("class", sized)


class FilterForm(BootstrapFormMixin, forms.Form):
    field_size = "sm"


def text_input(placeholder):
    return forms.TextInput(attrs={"placeholder": placeholder})


def filter_querystring(filterset):
    """The filters in use as a query string, for pagination and export links (never the page number)."""
    params = QueryDict(mutable=True)
    for name in filterset.filters:
        value = filterset.data.get(name, "")
        if value:
            params[name] = value
    return params.urlencode()
