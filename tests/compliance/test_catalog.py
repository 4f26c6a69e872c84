"""The control catalog: every framework complete and valid, the corrections recorded, the cross-walk whole."""
import shutil

import pytest

from compliance.catalog import (
    CATALOG_DIR,
    FRAMEWORK_SLUGS,
    CatalogError,
    UnknownFramework,
    catalog,
    crosswalk,
    get_framework,
    load_catalog,
)
from compliance.checks import CHECKS

REQUIRED = {
    "nist-800-53": ["AC-2", "AC-3", "AC-5", "AC-6", "AU-2", "AU-3", "AU-6", "AU-9", "AU-11", "AU-12", "CM-3", "IA-5",
                    "SC-8", "SC-12", "SC-13", "SC-28", "SI-4"],
    "soc2": ["CC6.1", "CC6.2", "CC6.3", "CC6.6", "CC6.7", "CC7.1", "CC7.2", "CC7.3", "CC8.1"],
    "iso27001": ["A.5.15", "A.5.16", "A.5.17", "A.5.18", "A.8.2", "A.8.5", "A.8.15", "A.8.16", "A.8.24", "A.5.33"],
    "hipaa": ["§164.312(a)(1)", "§164.312(a)(2)(i)", "§164.312(a)(2)(iv)", "§164.312(b)", "§164.312(c)(1)",
              "§164.312(d)", "§164.312(e)(1)", "§164.308(a)(1)(ii)(D)", "§164.308(a)(5)(ii)(D)"],
}
# Official short titles (NIST SP 800-53 Rev. 5; ISO/IEC 27001:2022 Annex A).
TITLES = {
    ("nist-800-53", "AU-2"): "Event Logging", ("nist-800-53", "AU-6"): "Audit Record Review, Analysis, and Reporting",
    ("nist-800-53", "SC-12"): "Cryptographic Key Establishment and Management",
    ("nist-800-53", "SC-28"): "Protection of Information at Rest", ("iso27001", "A.8.24"): "Use of cryptography",
    ("iso27001", "A.5.17"): "Authentication information", ("iso27001", "A.8.2"): "Privileged access rights",
    ("hipaa", "§164.312(c)(1)"): "Integrity",
}


def test_every_framework_has_its_controls_in_order():
    frameworks = catalog()
    assert list(frameworks) == list(FRAMEWORK_SLUGS)
    for slug, required in REQUIRED.items():
        ids = [control.id for control in frameworks[slug].controls]
        assert set(required) <= set(ids), slug
        assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("key", "title"), TITLES.items())
def test_titles_are_the_official_ones(key, title):
    assert get_framework(key[0]).control(key[1]).title == title


def test_every_control_names_existing_checks():
    for framework in catalog().values():
        for control in framework.controls:
            assert control.checks and all(slug in CHECKS for slug in control.checks), control.id


def test_the_frameworks_state_their_versions():
    versions = {slug: (f.name, f.version, f.catalog_version) for slug, f in catalog().items()}
    assert versions["nist-800-53"][:2] == ("NIST SP 800-53", "Rev. 5")
    assert versions["iso27001"][1] == "2022" and get_framework("iso27001").edition == "2022"
    assert versions["soc2"][1].startswith("2017")
    assert len({v[2] for v in versions.values()}) == 1


def test_the_policy_s_mis_mappings_are_corrected_with_a_note():
    cc62 = get_framework("soc2").control("CC6.2")
    assert "audit_coverage" not in cc62.checks and "dormant_accounts" in cc62.checks
    assert "audit logging" in cc62.note and "registering" in cc62.note
    assert "Only detection fits CC7.1" in get_framework("soc2").control("CC7.1").note
    assert "Audit Events" in get_framework("nist-800-53").control("AU-2").note


def test_iso_2022_controls_map_back_to_the_2013_numbering():
    iso = get_framework("iso27001")
    older = {c.id: [r["id"] for r in c.related if r["framework"] == "iso27001-2013"] for c in iso.controls}
    assert older["A.5.33"] == ["A.18.1.3"]
    assert older["A.8.24"] == ["A.10.1.1", "A.10.1.2"]
    assert older["A.8.15"] == ["A.12.4.1", "A.12.4.2", "A.12.4.3"]
    policy_2013 = {"A.9.2", "A.10.1", "A.12.4", "A.18.1.3"}
    mapped = {i for ids in older.values() for i in ids}
    assert all(any(m == p or m.startswith(p + ".") for m in mapped) for p in policy_2013)
    assert older["A.8.16"] == []  # new in 2022


def test_the_crosswalk_covers_every_check_and_every_control():
    walk = dict(crosswalk())
    assert set(walk) == set(CHECKS)
    assert all(walk.values()), [slug for slug, served in walk.items() if not served]
    served = {(f.slug, c.id) for pairs in walk.values() for f, c in pairs}
    assert served == {(f.slug, c.id) for f in catalog().values() for c in f.controls}
    assert len({f.slug for f, _ in walk["provider_tls"]}) == 4  # one check, four frameworks


def test_an_unknown_framework_is_refused():
    with pytest.raises(UnknownFramework, match="pci"):
        get_framework("pci")


@pytest.fixture
def catalog_copy(tmp_path):
    for slug in FRAMEWORK_SLUGS:
        shutil.copy(CATALOG_DIR / f"{slug}.toml", tmp_path / f"{slug}.toml")
    return tmp_path


def _edit(directory, slug, old, new):
    path = directory / f"{slug}.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_copy_of_the_catalog_loads(catalog_copy):
    assert load_catalog(catalog_copy) == catalog()


@pytest.mark.parametrize(("slug", "old", "new", "message"), [
    ("soc2", '"dormant_accounts", "access_review_recent"]', '"no_such_check"]', "unknown check no_such_check"),
    ("nist-800-53", 'id = "AC-3"', 'id = "AC-2"', "control AC-2 appears twice"),
    ("hipaa", 'catalog_version = "2026.11.2"', 'catalog_version = "2027.1.0"', "disagree on catalog_version"),
    ("iso27001", 'slug = "iso27001"', 'slug = "iso"', "expected 'iso27001'"),
    ("soc2", 'checks = ["provider_tls"]', "checks = []", "at least one evidence check"),
    ("nist-800-53", 'title = "Least Privilege"', 'title = ""', "title must be a non-empty string"),
    ("nist-800-53", 'id = "SI-4"', 'id = "SI-4"\nowner = "x"', "unknown key owner"),
    ("hipaa", "[[controls]]", "controls = 3\n[[x]]", "cannot be read"),
])
def test_a_malformed_catalog_is_refused_with_a_reason(catalog_copy, slug, old, new, message):
    _edit(catalog_copy, slug, old, new)
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_catalog(catalog_copy)


def test_a_framework_without_controls_is_refused(catalog_copy):
    path = catalog_copy / "soc2.toml"
    path.write_text(path.read_text(encoding="utf-8").split("[[controls]]")[0], encoding="utf-8")
    with pytest.raises(CatalogError, match="at least one"):
        load_catalog(catalog_copy)
