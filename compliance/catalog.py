"""The control catalog: one data file per framework in compliance/catalog/, loaded, validated and cross-walked."""
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATALOG_DIR = Path(__file__).resolve().parent / "catalog"
FRAMEWORK_SLUGS = ("nist-800-53", "soc2", "iso27001", "hipaa")  # also the display order
_FRAMEWORK_KEYS = {"catalog_version", "slug", "name", "version", "edition", "source", "controls"}
_CONTROL_KEYS = {"id", "title", "description", "checks", "note", "related"}


class CatalogError(ValueError):
    """A catalog file is malformed or names a check that does not exist."""


class UnknownFramework(LookupError):
    pass


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    description: str
    checks: tuple
    note: str | None
    related: tuple  # ({"framework", "id", "title"}, ...)


@dataclass(frozen=True)
class Framework:
    slug: str
    name: str
    version: str
    catalog_version: str
    edition: str | None
    source: str
    controls: tuple

    def control(self, control_id):
        for control in self.controls:
            if control.id == control_id:
                return control
        raise LookupError(control_id)

    def check_slugs(self):
        """Every check the framework's controls use, in first-use order."""
        return list(dict.fromkeys(slug for control in self.controls for slug in control.checks))


def _text(value, where, *, required=True):
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise CatalogError(f"{where} must be a non-empty string")
    return value.strip() or None


def _control(data, where, known_checks):
    if not isinstance(data, dict):
        raise CatalogError(f"{where} must be a table")
    unknown = set(data) - _CONTROL_KEYS
    if unknown:
        raise CatalogError(f"{where} has unknown key {sorted(unknown)[0]}")
    control_id = _text(data.get("id"), f"{where} id")
    where = f"{where} ({control_id})"
    checks = data.get("checks")
    if not isinstance(checks, list) or not checks or not all(isinstance(c, str) for c in checks):
        raise CatalogError(f"{where} must list at least one evidence check")
    missing = [c for c in checks if c not in known_checks]
    if missing:
        raise CatalogError(f"{where} names unknown check {missing[0]}")
    if len(set(checks)) != len(checks):
        raise CatalogError(f"{where} lists a check twice")
    related = data.get("related", [])
    if not isinstance(related, list) or not all(isinstance(r, dict) and {"framework", "id"} <= set(r)
                                                and set(r) <= {"framework", "id", "title"} for r in related):
        raise CatalogError(f"{where} related must be a list of {{framework, id[, title]}} tables")
    return Control(
        id=control_id, title=_text(data.get("title"), f"{where} title"),
        description=_text(data.get("description", ""), f"{where} description", required=False) or "",
        checks=tuple(checks), note=_text(data.get("note"), f"{where} note", required=False),
        related=tuple({"framework": r["framework"], "id": r["id"], "title": r.get("title", "")} for r in related),
    )


def parse_framework(data, source, known_checks):
    """A Framework from one file's data; raises CatalogError naming the file and the entry at fault."""
    unknown = set(data) - _FRAMEWORK_KEYS
    if unknown:
        raise CatalogError(f"{source}: unknown key {sorted(unknown)[0]}")
    controls = data.get("controls")
    if not isinstance(controls, list) or not controls:
        raise CatalogError(f"{source}: a framework needs at least one [[controls]] entry")
    parsed = tuple(_control(c, f"{source}: control #{n}", known_checks) for n, c in enumerate(controls, 1))
    ids = [c.id for c in parsed]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise CatalogError(f"{source}: control {duplicates[0]} appears twice")
    return Framework(
        slug=_text(data.get("slug"), f"{source}: slug"), name=_text(data.get("name"), f"{source}: name"),
        version=_text(data.get("version"), f"{source}: version"),
        catalog_version=_text(data.get("catalog_version"), f"{source}: catalog_version"),
        edition=_text(data.get("edition"), f"{source}: edition", required=False),
        source=_text(data.get("source", ""), f"{source}: source", required=False) or "", controls=parsed,
    )


def load_catalog(directory=CATALOG_DIR, known_checks=None):
    """{slug: Framework} for every framework file, validated against the registered checks."""
    if known_checks is None:
        from compliance.checks import CHECKS

        known_checks = CHECKS
    frameworks = {}
    for slug in FRAMEWORK_SLUGS:
        path = Path(directory) / f"{slug}.toml"
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise CatalogError(f"{path.name}: cannot be read ({exc})") from None
        framework = parse_framework(data, path.name, known_checks)
        if framework.slug != slug:
            raise CatalogError(f"{path.name}: slug is {framework.slug!r}, expected {slug!r}")
        frameworks[slug] = framework
    versions = {f.catalog_version for f in frameworks.values()}
    if len(versions) != 1:
        raise CatalogError(f"the framework files disagree on catalog_version: {', '.join(sorted(versions))}")
    return frameworks


@cache
def catalog():
    return load_catalog()


def get_framework(slug):
    try:
        return catalog()[slug]
    except KeyError:
        raise UnknownFramework(f"No framework {slug!r}; known: {', '.join(FRAMEWORK_SLUGS)}") from None


def crosswalk():
    """[(check slug, [(framework, control), ...]), ...]: each evidence check and every control it serves."""
    from compliance.checks import CHECKS

    served = {slug: [] for slug in CHECKS}
    for framework in catalog().values():
        for control in framework.controls:
            for slug in control.checks:
                served[slug].append((framework, control))
    return list(served.items())
