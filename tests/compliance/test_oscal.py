"""The OSCAL assessment-results export: valid by compliance-trestle's OSCAL models, deterministic, faithful."""
import json
import uuid

import pytest
from pydantic import ValidationError
from trestle.oscal import OSCAL_VERSION

from compliance.exports import render
from compliance.exports.oscal import control_token
from tests.compliance.exports_fixtures import frozen, sample_document, validate_oscal


def _uuids(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uuid":
                yield value
            else:
                yield from _uuids(value)
    elif isinstance(node, list):
        for item in node:
            yield from _uuids(item)


def test_the_export_is_valid_oscal_assessment_results():
    results = validate_oscal(render("oscal", frozen()))
    assert results.metadata.oscal_version.root.root == OSCAL_VERSION
    assert results.import_ap.href.startswith("#")
    assert [resource.uuid for resource in results.back_matter.resources] == [results.import_ap.href[1:]]
    [result] = results.results
    selected = [c.control_id for c in result.reviewed_controls.control_selections[0].include_controls]
    assert selected == ["ac-2", "ia-5", "sc-12", "si-4"]
    assert str(result.start).startswith("2026-10-01") and str(result.end).startswith("2026-10-31")


def test_the_validation_is_not_vacuous_a_broken_document_is_refused():
    document = json.loads(render("oscal", frozen()))
    document["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = "passed"
    with pytest.raises(ValidationError):
        validate_oscal(json.dumps(document).encode())
    del document["assessment-results"]["import-ap"]
    with pytest.raises(ValidationError):
        validate_oscal(json.dumps(document).encode())


def _state(target):
    # The reason parses as OSCAL's enumeration or as a plain token, depending on trestle's union order.
    return target.status.state.value, getattr(target.status.reason, "value", target.status.reason)


def test_each_control_is_a_finding_with_its_status():
    [result] = validate_oscal(render("oscal", frozen())).results
    targets = {finding.target.target_id: finding.target for finding in result.findings}
    assert set(targets) == {"ac-2_obj", "ia-5_obj", "sc-12_obj", "si-4_obj"}
    assert _state(targets["ac-2_obj"]) == ("satisfied", "pass")
    assert _state(targets["ia-5_obj"]) == ("not-satisfied", "other")
    assert _state(targets["sc-12_obj"]) == ("not-satisfied", "fail")
    state = targets["si-4_obj"].implementation_status.state
    assert getattr(state, "value", state) == "not-applicable"


def test_each_check_is_an_observation_the_findings_point_to():
    document = json.loads(render("oscal", frozen()))["assessment-results"]
    [result] = document["results"]
    observations = {item["uuid"]: item for item in result["observations"]}
    assert sorted(item["title"] for item in observations.values()) == [
        "Access reviewed within 90 days", "Rotations executed without the required approvals",
        "Secrets rotated within their policy interval"]
    sc12 = next(f for f in result["findings"] if f["target"]["target-id"] == "sc-12_obj")
    linked = [observations[ref["observation-uuid"]]["title"] for ref in sc12["related-observations"]]
    assert linked == ["Secrets rotated within their policy interval",
                      "Rotations executed without the required approvals"]
    overdue = next(o for o in observations.values() if o["title"].startswith("Secrets rotated"))
    figures = {p["name"]: p["value"] for p in overdue["props"] if p.get("class") == "figure"}
    assert figures == {"compliant": "97", "percent": "97.0", "total": "100"}
    assert overdue["relevant-evidence"][0]["description"] == "Overdue secrets: 3 row(s)"


def test_uuids_are_derived_from_the_snapshot():
    snapshot = frozen()
    content = render("oscal", snapshot)
    ids = list(_uuids(json.loads(content)))
    assert len(ids) == len(set(ids)) and all(uuid.UUID(i).version == 5 for i in ids)
    assert render("oscal", frozen()) == content
    other = render("oscal", frozen(uuid="0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70"))
    assert set(_uuids(json.loads(other))).isdisjoint(ids)


@pytest.mark.parametrize(("framework", "control_id", "token"), [
    ("nist-800-53", "AC-2", "ac-2"),
    ("soc2", "CC6.1", "cc6.1"),
    ("iso27001", "A.5.15", "a.5.15"),
    ("hipaa", "§164.312(a)(1)", "hipaa-164.312-a-1"),
    ("hipaa", "§164.308(a)(1)(ii)(D)", "hipaa-164.308-a-1-ii-d"),
])
def test_control_ids_become_oscal_tokens(framework, control_id, token):
    assert control_token(framework, control_id) == token
    document = sample_document(framework=framework)
    document["controls"][0]["id"] = control_id
    [result] = validate_oscal(render("oscal", frozen(document))).results
    assert result.findings[0].target.target_id == f"{token}_obj"
    assert result.findings[0].title.startswith(control_id)


def test_multi_line_text_and_a_missing_organisation_still_validate():
    document = sample_document()
    document["organisation"] = ""
    document["checks"]["access_review_recent"]["title"] = "Access\nreviewed  "
    snapshot = frozen(document, inputs={**frozen().inputs, "organisation": ""})
    results = validate_oscal(render("oscal", snapshot))
    assert [party.type for party in results.metadata.parties] == ["person"]
    assert "Access reviewed" in [o.title for o in results.results[0].observations]


@pytest.mark.django_db
@pytest.mark.parametrize("framework", ["nist-800-53", "soc2", "iso27001", "hipaa"])
def test_every_frameworks_real_snapshot_is_valid_oscal(role_users, framework):
    from compliance.snapshots import export_snapshot, generate_snapshot_now
    from tests.compliance.exports_fixtures import report_period, seed_report_data

    seed_report_data(role_users)
    report = generate_snapshot_now(framework, **report_period(), actor=role_users["dana"])
    content = export_snapshot(report, "oscal", actor=role_users["dana"]).content
    [result] = validate_oscal(content).results
    controls = json.loads(report.frozen)["results"]["controls"]
    assert [f.title.split(" ")[0] for f in result.findings] == [c["id"] for c in controls]
    assert content == export_snapshot(report, "oscal", actor=role_users["dana"]).content
