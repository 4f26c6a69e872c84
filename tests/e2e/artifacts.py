"""Journey artifacts: full-page screenshots of the key steps, and the screenshot and HTML of every page on failure.

Each test writes to test-artifacts/<test name>/ (git-ignored; E2E_ARTIFACTS_DIR moves it, e.g. for CI to
upload), emptied when the test starts so that what is there belongs to the last run. Every step's HTML is also
kept in memory, so a journey can check that no secret value reached any page it saw.
"""
import os
import re
import shutil
from pathlib import Path

from tests.conftest import BASE_DIR

ARTIFACTS_DIR = Path(os.environ.get("E2E_ARTIFACTS_DIR") or BASE_DIR / "test-artifacts")
# The one page allowed to show a value: the audited reveal view.
REVEAL_PATH = re.compile(r"/inventory/[0-9a-f-]{36}/reveal/")


def _slug(text):
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120]


class Artifacts:
    def __init__(self, name):
        self.directory = ARTIFACTS_DIR / _slug(name)
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)
        self.count = 0
        self.seen = []  # (url, html) of every page a step was recorded on

    def _path(self, name, suffix):
        self.count += 1
        return self.directory / f"{self.count:02d}-{_slug(name)}{suffix}"

    def shot(self, page, name):
        """Screenshot the whole page as step `name`, and keep its HTML for assert_never_shown()."""
        self.seen.append((page.url, page.content()))
        page.screenshot(path=self._path(name, ".png"), full_page=True, animations="disabled")

    def keep_failure(self, page, name):
        """On failure: the page as it was, as a screenshot and as HTML (each best effort: the test failed already)."""
        errors = []
        for suffix, save in ((".html", lambda path: path.write_text(page.content(), encoding="utf-8")),
                             (".png", lambda path: page.screenshot(path=path, full_page=True, timeout=10_000))):
            try:
                save(self._path(f"FAILED-{name}", suffix))
            except Exception as exc:  # a crashed or closed page: say so next to what could be saved
                errors.append(f"{suffix}: {type(exc).__name__}: {exc}")
        if errors:
            self._path(f"FAILED-{name}", ".txt").write_text("\n".join(errors), encoding="utf-8")

    def assert_never_shown(self, *values):
        """No value in any recorded page except the audited reveal view."""
        for url, html in self.seen:
            if REVEAL_PATH.search(url):
                continue
            for value in values:
                assert value not in html, f"a secret value appeared on {url}"
