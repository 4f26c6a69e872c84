"""Vendored front-end assets: pinned, licensed, unchanged, and nothing fetched from elsewhere."""
import hashlib
import json
import re
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
VENDOR = BASE_DIR / "static" / "vendor"
MANIFEST = json.loads((VENDOR / "MANIFEST.json").read_text())
TEMPLATES = sorted((BASE_DIR / "templates").rglob("*.html"))


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["path"] for e in MANIFEST])
def test_vendored_file_matches_its_manifest_checksum(entry):
    path = VENDOR / entry["path"]
    assert path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]


def test_every_vendored_package_ships_its_licence():
    packages = {entry["path"].split("/")[0] for entry in MANIFEST}
    assert packages == {"bootstrap", "bootstrap-icons", "htmx"}
    for package in packages:
        assert (VENDOR / package / "LICENSE").is_file(), package


def test_every_vendored_file_is_in_the_manifest():
    listed = {entry["path"] for entry in MANIFEST}
    on_disk = {str(p.relative_to(VENDOR)) for p in VENDOR.rglob("*") if p.is_file()} - {"MANIFEST.json", "README.md"}
    assert on_disk == listed


def test_vendored_files_reach_for_nothing_outside():
    for path in VENDOR.rglob("*"):
        if path.suffix in {".css", ".js"}:
            text = path.read_text(encoding="utf-8")
            assert "sourceMappingURL" not in text, path
            assert not re.search(r"url\(\s*['\"]?https?:", text), path


def test_templates_load_scripts_and_styles_only_from_our_origin():
    assert TEMPLATES, "no templates found"
    for template in TEMPLATES:
        html = template.read_text(encoding="utf-8")
        for tag in re.findall(r"<(?:script|link)\b[^>]*>", html):
            assert not re.search(r"(?:src|href)=[\"']?(?:https?:)?//", tag), f"{template.name}: {tag}"


def test_templates_have_no_inline_script_or_style():
    # The Content-Security-Policy forbids both, so they would silently not work.
    for template in TEMPLATES:
        html = template.read_text(encoding="utf-8")
        for match in re.finditer(r"<script\b([^>]*)>(.*?)</script>", html, re.S):
            assert "src=" in match.group(1) and not match.group(2).strip(), template.name
        assert "<style" not in html and " style=" not in html, template.name
        assert not re.search(r"\son[a-z]+=", html), f"{template.name} has an inline event handler"
