"""Vendored front-end assets: pinned, licensed, unchanged, and nothing fetched from elsewhere."""
import hashlib
import json
import re
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
VENDOR = BASE_DIR / "static" / "vendor"
MANIFEST = json.loads((VENDOR / "MANIFEST.json").read_text())
VENDORED = sorted(p for p in VENDOR.rglob("*") if p.is_file() and p.parent != VENDOR)
# The templates may not exist yet; the checks over them then run over nothing, which the
# existence tests below keep from making this whole file vacuous.
TEMPLATES = sorted((BASE_DIR / "templates").rglob("*.html"))
EXPECTED = {
    "bootstrap/bootstrap.min.css": ("bootstrap", r"5\.3\.\d+"),
    "bootstrap/bootstrap.bundle.min.js": ("bootstrap", r"5\.3\.\d+"),
    "bootstrap/LICENSE": ("bootstrap", r"5\.3\.\d+"),
    "htmx/htmx.min.js": ("htmx.org", r"2\.0\.\d+"),
    "htmx/LICENSE": ("htmx.org", r"2\.0\.\d+"),
    "bootstrap-icons/bootstrap-icons.min.css": ("bootstrap-icons", r"1\.\d+\.\d+"),
    "bootstrap-icons/fonts/bootstrap-icons.woff2": ("bootstrap-icons", r"1\.\d+\.\d+"),
    "bootstrap-icons/fonts/bootstrap-icons.woff": ("bootstrap-icons", r"1\.\d+\.\d+"),
    "bootstrap-icons/LICENSE": ("bootstrap-icons", r"1\.\d+\.\d+"),
}


def test_the_expected_files_are_vendored_at_the_expected_versions():
    by_path = {entry["path"]: entry for entry in MANIFEST}
    assert set(by_path) == set(EXPECTED)
    for path, (package, version) in EXPECTED.items():
        assert (VENDOR / path).is_file() and (VENDOR / path).stat().st_size > 0, path
        assert by_path[path]["package"] == package, path
        assert re.fullmatch(version, by_path[path]["version"]), path
        assert by_path[path]["license"], path
    # One version per package: a half-updated package would mix files of two releases.
    for package in {package for package, _ in EXPECTED.values()}:
        assert len({e["version"] for e in MANIFEST if e["package"] == package}) == 1, package


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["path"] for e in MANIFEST])
def test_vendored_file_matches_its_manifest_checksum(entry):
    path = VENDOR / entry["path"]
    assert path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]


def test_every_vendored_file_is_in_the_manifest():
    listed = {entry["path"] for entry in MANIFEST}
    on_disk = {p.relative_to(VENDOR).as_posix() for p in VENDORED}
    assert on_disk == listed


def test_every_vendored_package_ships_its_licence():
    packages = sorted(p for p in VENDOR.iterdir() if p.is_dir())
    assert [p.name for p in packages] == ["bootstrap", "bootstrap-icons", "htmx"]
    for package in packages:
        assert (package / "LICENSE").is_file(), package.name
        assert (package / "LICENSE").stat().st_size > 0, package.name


def test_the_icon_fonts_sit_where_the_stylesheet_looks_for_them():
    css = (VENDOR / "bootstrap-icons" / "bootstrap-icons.min.css").read_text(encoding="utf-8")
    urls = re.findall(r"url\(\s*['\"]?([^'\")?#]+)", css)
    assert urls, "no url() in bootstrap-icons.min.css"
    for url in urls:
        assert (VENDOR / "bootstrap-icons" / url).is_file(), url


@pytest.mark.parametrize("path", VENDORED, ids=lambda p: p.relative_to(VENDOR).as_posix())
def test_vendored_files_reach_for_nothing_outside(path):
    data = path.read_bytes()
    # We ship no source maps, so a sourceMappingURL would make browsers request a missing file.
    assert b"sourceMappingURL" not in data
    if path.suffix == ".css":
        assert not re.search(rb"url\(\s*['\"]?(?:https?:)?//", data), "a font or image from another origin"


def test_templates_load_scripts_and_styles_only_from_our_origin():
    for template in TEMPLATES:
        html = template.read_text(encoding="utf-8")
        for tag in re.findall(r"<(?:script|link)\b[^>]*>", html, re.I):
            assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", tag, re.I), f"{template.name}: {tag}"


def test_templates_have_no_inline_script_or_style():
    # The Content-Security-Policy forbids both, so they would silently not work.
    for template in TEMPLATES:
        html = template.read_text(encoding="utf-8")
        for match in re.finditer(r"<script\b([^>]*)>(.*?)</script\s*>", html, re.S | re.I):
            assert "src=" in match.group(1) and not match.group(2).strip(), template.name
        assert "<style" not in html and " style=" not in html, template.name
        assert not re.search(r"\son[a-z]+=", html), f"{template.name} has an inline event handler"


@pytest.mark.parametrize(
    ("html", "allowed"),
    [
        ('<script src="/static/vendor/htmx/htmx.min.js" defer></script>', True),
        ('<link rel="stylesheet" href="{% static \'vendor/bootstrap/bootstrap.min.css\' %}">', True),
        ('<script src="https://cdn.example/htmx.min.js"></script>', False),
        ("<link rel='stylesheet' href='//cdn.example/bootstrap.css'>", False),
        ("<script>alert(1)</script>", False),
        ('<script src="/x.js">alert(1)</script>', False),
    ],
)
def test_the_template_checks_can_fail(html, allowed, tmp_path, monkeypatch):
    (tmp_path / "probe.html").write_text(html)
    monkeypatch.setitem(globals(), "TEMPLATES", [tmp_path / "probe.html"])
    outcomes = []
    for check in (test_templates_load_scripts_and_styles_only_from_our_origin,
                  test_templates_have_no_inline_script_or_style):
        try:
            check()
            outcomes.append(True)
        except AssertionError:
            outcomes.append(False)
    assert all(outcomes) is allowed
