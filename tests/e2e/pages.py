"""What the journeys do on every page: follow the main navigation, and read a page's "N in total." count."""
import re


def nav(page, label):
    """Click a section in the main navigation (the dashboard's figures link to the same places)."""
    # The name may go on with a count ("Approvals 1 waiting").
    name = re.compile(rf"^{re.escape(label)}\b")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name=name).click()


def total(page):
    """The list's "N in total." figure, as an int (0 when the list is empty)."""
    found = page.get_by_text(re.compile(r"^\d+ in total\.$"))
    return int(found.inner_text().split()[0]) if found.count() else 0
