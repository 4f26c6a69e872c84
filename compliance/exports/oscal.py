"""The OSCAL assessment-results export: one result for the snapshot's period, an observation per evidence check and
a finding per control. Every UUID is a uuid5 of the snapshot's, every time is the snapshot's, keys are sorted: the
same snapshot always gives the same bytes. The tests validate it with compliance-trestle's OSCAL models.
"""
import json
import re
import uuid

from compliance.exports import FrozenSnapshot, canonical_json

OSCAL_VERSION = "1.2.1"  # the version of the OSCAL models the tests validate against (compliance-trestle's)
# Our own properties are qualified by this namespace, as OSCAL asks of names it does not define.
NS = "urn:secretsadmin:oscal"
UUID_NAMESPACE = uuid.UUID("8b0f3d5e-6c0a-4f59-9a51-2f1f4f7c6d21")  # fixed forever: ids must not move
# OSCAL's finding target status: satisfied or not, with a reason token.
STATUS = {
    "pass": ("satisfied", "pass"),
    "partial": ("not-satisfied", "other"),
    "fail": ("not-satisfied", "fail"),
    "not_applicable": ("satisfied", "other"),
}
_NOT_TOKEN = re.compile(r"[^a-z0-9._-]+")


def _uuid(snapshot, *parts):
    return str(uuid.uuid5(UUID_NAMESPACE, ":".join((snapshot.uuid, *parts))))


def _line(text, default="-"):
    """A single-line, trimmed string (OSCAL titles and property values may not hold line breaks)."""
    text = " ".join(str(text if text is not None else "").split())
    return text or default


def control_token(framework_slug, control_id):
    """An OSCAL token for a control id: "AC-2" -> "ac-2"; "§164.312(a)(1)" -> "hipaa-164.312-a-1"."""
    token = _NOT_TOKEN.sub("-", str(control_id).lower()).strip("-.")
    if not token or not (token[0].isalpha() or token[0] == "_"):
        token = f"{_NOT_TOKEN.sub('-', framework_slug.lower()).strip('-')}-{token}".rstrip("-")
    return token


def _prop(name, value, cls=None):
    prop = {"name": _NOT_TOKEN.sub("-", str(name).lower()).strip("-") or "value", "ns": NS,
            "value": _line(value if not isinstance(value, dict | list) else canonical_json(value))}
    if cls:
        prop["class"] = cls
    return prop


def _metadata(snapshot, framework_label, when):
    inputs = snapshot.inputs
    org = inputs.get("organisation") or snapshot.results.get("organisation")
    parties = [{"uuid": _uuid(snapshot, "party", "generated-by"), "type": "person",
                "name": _line(snapshot.generated.get("by"), "system")}]
    responsible = [{"role-id": "prepared-by", "party-uuids": [parties[0]["uuid"]]}]
    if org:
        parties.append({"uuid": _uuid(snapshot, "party", "organisation"), "type": "organization", "name": _line(org)})
        responsible.append({"role-id": "prepared-for", "party-uuids": [parties[1]["uuid"]]})
    return {
        "title": _line(f"Compliance assessment results: {framework_label}, {snapshot.period_label()}"),
        "published": when,
        "last-modified": when,
        "version": snapshot.digest or "unversioned",
        "oscal-version": OSCAL_VERSION,
        "props": [_prop("snapshot", snapshot.uuid), _prop("snapshot-digest-sha256", snapshot.digest or "-")],
        "roles": [{"id": "prepared-by", "title": "Prepared By"}, {"id": "prepared-for", "title": "Prepared For"}],
        "parties": parties,
        "responsible-parties": responsible,
    }


def _observation(snapshot, slug, check, when):
    props = [_prop("evidence-check", slug), _prop("status", check.get("status"))]
    props += [_prop(key, value, cls="figure") for key, value in sorted((check.get("figures") or {}).items())]
    observation = {
        "uuid": _uuid(snapshot, "observation", slug),
        "title": _line(check.get("title") or slug),
        "description": _line(check.get("summary") or check.get("title") or slug),
        "methods": ["TEST"],
        "types": ["control-objective"],
        "collected": when,
        "props": props,
    }
    drilldown = check.get("drilldown") or {}
    if drilldown.get("title"):
        shown = len(drilldown.get("rows") or [])
        observation["relevant-evidence"] = [{
            "description": f"{_line(drilldown['title'])}: {drilldown.get('total', shown)} row(s)"
                           + (f", the first {shown} in the snapshot" if drilldown.get("truncated") else ""),
            "props": [_prop("drilldown-total", drilldown.get("total", shown))],
        }]
    if check.get("rule"):
        observation["remarks"] = str(check["rule"])
    return observation


def _finding(snapshot, framework_slug, control, observation_uuids):
    token = control_token(framework_slug, control.get("id"))
    status = control.get("status") or "not_applicable"
    state, reason = STATUS.get(status, ("not-satisfied", "other"))
    target = {
        "type": "objective-id",
        "target-id": f"{token}_obj",
        "title": _line(f"{control.get('id')} {control.get('title') or ''}"),
        "status": {"state": state, "reason": reason},
    }
    if status == "not_applicable":
        target["implementation-status"] = {"state": "not-applicable"}
    if status == "partial":
        target["status"]["remarks"] = "Partially satisfied."
    props = [_prop("control-id", control.get("id")), _prop("compliance-status", status)]
    props += [_prop("related-control", f"{item.get('framework')} {item.get('id')}")
              for item in control.get("related") or []]
    finding = {
        "uuid": _uuid(snapshot, "finding", str(control.get("id"))),
        "title": _line(f"{control.get('id')} {control.get('title') or ''}"),
        "description": _line(control.get("summary") or status),
        "target": target,
        "props": props,
    }
    related = [{"observation-uuid": observation_uuids[slug]} for slug in control.get("checks") or []
               if slug in observation_uuids]
    if related:
        finding["related-observations"] = related
    if control.get("note"):
        finding["remarks"] = str(control["note"])
    return finding


def document(snapshot: FrozenSnapshot) -> dict:
    results = snapshot.results
    slug = snapshot.inputs.get("framework") or snapshot.framework.get("slug") or "framework"
    when = snapshot.generated.get("at")
    period = snapshot.inputs.get("period") or results.get("period") or {}
    label = snapshot.framework_label()
    controls = results.get("controls") or []
    checks = results.get("checks") or {}
    observations = [_observation(snapshot, key, checks[key], when) for key in sorted(checks)]
    observation_uuids = {key: item["uuid"] for key, item in zip(sorted(checks), observations, strict=True)}
    summary = results.get("summary") or {}
    result = {
        "uuid": _uuid(snapshot, "result"),
        "title": _line(f"{label}: {snapshot.period_label()}"),
        "description": (f"Evidence computed by SecretsAdmin from its own records for {label}, period "
                        f"{snapshot.period_label()}. Snapshot {snapshot.uuid}, SHA-256 {snapshot.digest}."),
        "start": f"{period.get('start')}T00:00:00Z",
        "end": f"{period.get('end')}T23:59:59Z",
        "props": [_prop(f"controls-{key}", value) for key, value in sorted(summary.items())],
        "reviewed-controls": {"control-selections": [
            {"include-controls": [{"control-id": control_token(slug, c.get("id"))} for c in controls]}
            if controls else {"include-all": {}}
        ]},
    }
    if observations:
        result["observations"] = observations
    findings = [_finding(snapshot, slug, control, observation_uuids) for control in controls]
    if findings:
        result["findings"] = findings
    if not result["props"]:
        del result["props"]
    plan = _uuid(snapshot, "assessment-plan")
    return {"assessment-results": {
        "uuid": _uuid(snapshot, "assessment-results"),
        "metadata": _metadata(snapshot, label, when),
        "import-ap": {"href": f"#{plan}"},
        "results": [result],
        "back-matter": {"resources": [{
            "uuid": plan,
            "title": _line(f"SecretsAdmin control catalog {snapshot.inputs.get('catalog_version') or ''} for {label}"),
            "description": ("The assessment plan: the control catalog's evidence checks, their rules and the "
                            "thresholds the organisation set, applied to SecretsAdmin's records."),
            "props": [_prop("catalog-version", snapshot.inputs.get("catalog_version") or "-"),
                      _prop("thresholds", snapshot.inputs.get("thresholds") or {})],
        }]},
    }}


def render(snapshot: FrozenSnapshot) -> bytes:
    return (json.dumps(document(snapshot), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
            + "\n").encode("utf-8")
