"""The alert definitions in deploy/alerts/: promtool checks and unit-tests the Prometheus rules; the Google Cloud
and Datadog definitions keep the policy's values; all three use only exposed metrics and link to the runbook."""
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parents[2]
ALERTS = BASE_DIR / "deploy" / "alerts"
PROMETHEUS_RULES = ALERTS / "prometheus-rules.yml"
RULE_TESTS = ALERTS / "tests" / "prometheus-rules.test.yml"
GCP_POLICIES = ALERTS / "gcp-alert-policies.yaml"
DATADOG_MONITORS = ALERTS / "datadog-monitors.yaml"
EXPOSED_METRICS = ALERTS / "exposed-metrics.txt"
RUNBOOK = BASE_DIR / "docs" / "runbook.md"
DASHBOARD = BASE_DIR / "deploy" / "grafana" / "secretsadmin-dashboard.json"

RULES = [rule for group in yaml.safe_load(PROMETHEUS_RULES.read_text())["groups"] for rule in group["rules"]]
ALERT_RULES = {rule["alert"]: rule for rule in RULES if "alert" in rule}
GCP = [doc for doc in yaml.safe_load_all(GCP_POLICIES.read_text()) if doc]
DATADOG = [doc for doc in yaml.safe_load_all(DATADOG_MONITORS.read_text()) if doc]
# Metrics Prometheus makes itself rather than scraping them from the app.
PROMETHEUS_OWN = {"up"}
# Prometheus alerts with no Google Cloud or Datadog equivalent (the two files' headers say why).
NOT_MIRRORED = {"AuditChainNotVerified", "SecretsAdminMetricsDown"}


@dataclass(frozen=True)
class Metric:
    name: str
    type: str
    labels: frozenset


def _exposed_metrics():
    metrics = {}
    for line in EXPOSED_METRICS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind, labels, _meaning = line.split(maxsplit=3)
            metrics[name] = Metric(name, kind, frozenset() if labels == "-" else frozenset(labels.split(",")))
    return metrics


EXPOSED = _exposed_metrics()


def _promtool(*args):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: the alert rules cannot be checked. Install Debian's `prometheus` "
                    "package (apt-get install --no-install-recommends prometheus), as .ci/run does.", pytrace=False)
    result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=300, cwd=BASE_DIR)
    return result.returncode, result.stdout + result.stderr


def _anchor(heading):
    """The fragment GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _runbook_anchors():
    return {_anchor(line[3:]) for line in RUNBOOK.read_text().splitlines() if line.startswith("## ")}


def _runbook_links(text):
    return re.findall(r"docs/runbook\.md#([\w-]+)", text)


# --- Prometheus -------------------------------------------------------------------------------------------------

def test_promtool_accepts_every_rule_file_prometheus_loads():
    # Prometheus loads /etc/prometheus/rules/*.yml, i.e. deploy/prometheus/rules/*.yml.
    loaded = sorted((BASE_DIR / "deploy" / "prometheus" / "rules").glob("*.yml"))
    assert [path.resolve() for path in loaded] == [PROMETHEUS_RULES.resolve()]
    returncode, output = _promtool("check", "rules", *map(str, loaded))
    assert returncode == 0, output
    assert f"SUCCESS: {len(RULES)} rules found" in output, output


def test_promtool_unit_tests_pass():
    returncode, output = _promtool("test", "rules", str(RULE_TESTS))
    assert returncode == 0, output
    assert "SUCCESS" in output and "FAILED" not in output, output


def test_unit_tests_show_every_alert_firing_and_staying_silent():
    tests = yaml.safe_load(RULE_TESTS.read_text())
    assert tests["rule_files"] == ["../prometheus-rules.yml"]
    firing, silent = set(), set()
    for test in tests["tests"]:
        for case in test["alert_rule_test"]:
            expected = case.get("exp_alerts") or []
            (firing if expected else silent).add(case["alertname"])
            for alert in expected:
                assert alert["exp_labels"]["severity"] == ALERT_RULES[case["alertname"]]["labels"]["severity"]
                assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}, test["name"]
    assert firing == set(ALERT_RULES), set(ALERT_RULES) - firing
    assert silent == set(ALERT_RULES), set(ALERT_RULES) - silent


@pytest.mark.parametrize("name", sorted(ALERT_RULES))
def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook_section(name):
    rule = ALERT_RULES[name]
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"].strip() and rule["annotations"]["description"].strip()
    assert rule["annotations"]["runbook_url"] == f"docs/runbook.md#{name.lower()}"
    assert name.lower() in _runbook_anchors()


def test_the_runbook_has_one_section_per_alert_and_no_other():
    headings = [line[3:].strip() for line in RUNBOOK.read_text().splitlines() if line.startswith("## ")]
    assert sorted(headings) == sorted(ALERT_RULES)


def test_the_policys_two_rules_keep_their_thresholds():
    retrieval = ALERT_RULES["HighSecretRetrievalFailureRate"]
    assert re.fullmatch(r"sum by \(provider\) \(rate\(secret_retrieval_failure_count_total\[5m\]\)\) > 0\.1",
                        retrieval["expr"].strip())
    assert (retrieval["for"], retrieval["labels"]["severity"]) == ("5m", "warning")
    rotation = ALERT_RULES["SecretRotationFailure"]
    assert "secret_rotation_failure_count_total" in rotation["expr"]
    assert rotation["labels"]["severity"] == "critical"


def test_prometheus_loads_the_rules_from_deploy_alerts():
    # deploy/prometheus/rules is a link to deploy/alerts, which docker-compose.yml mounts at /etc/prometheus/rules.
    assert (BASE_DIR / "deploy" / "prometheus" / "rules").resolve() == ALERTS.resolve()
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    mounts = dict(volume.split(":")[1::-1] for volume in compose["services"]["prometheus"]["volumes"])
    assert mounts["/etc/prometheus/rules"] == "./deploy/prometheus/rules"
    config = yaml.safe_load((BASE_DIR / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]


# --- Metric names -----------------------------------------------------------------------------------------------

PROMQL_WORDS = {"sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile",
                "count_values", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
                "unless", "offset", "bool"}


def promql_metric_names(expr):
    """The metric names of an expression's selectors."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # label lists
    words = re.findall(r"(?<![\w.])([A-Za-z_:][\w:]*)\b(?!\s*\()", expr)  # a name followed by "(" is a function
    return set(words) - PROMQL_WORDS


def test_the_promql_name_parser_finds_selectors_only():
    expr = 'sum by (provider) (rate(a_total{x="y z", w!~"b.*"}[5m])) > 0.1 or b unless on (q) c offset 15m'
    assert promql_metric_names(expr) == {"a_total", "b", "c"}
    assert promql_metric_names("time() - max(d_seconds) > 30 * 3600") == {"d_seconds"}


def test_the_exposed_metrics_list_is_well_formed():
    assert len(EXPOSED) >= 20
    for metric in EXPOSED.values():
        assert metric.type in {"counter", "gauge", "histogram"}, metric
        if metric.type == "counter":
            assert metric.name.endswith("_total"), metric
        if metric.type == "histogram":
            assert re.search(r"_(bucket|sum|count)$", metric.name), metric
            assert ("le" in metric.labels) == metric.name.endswith("_bucket"), metric


@pytest.mark.parametrize("name", sorted(ALERT_RULES))
def test_prometheus_rules_use_only_exposed_metrics(name):
    used = promql_metric_names(ALERT_RULES[name]["expr"])
    assert used, "the rule reads no metric"
    assert used <= set(EXPOSED) | PROMETHEUS_OWN, used - set(EXPOSED)


def _histogram_base(name):
    return re.sub(r"_(bucket|sum|count)$", "", name)


def gcp_metric_types():
    """Managed Prometheus's metric type of every exposed metric, with its labels (gcp-alert-policies.yaml)."""
    types = {}
    for metric in EXPOSED.values():
        if metric.type == "histogram":
            types[f"prometheus.googleapis.com/{_histogram_base(metric.name)}/histogram"] = metric.labels - {"le"}
        else:
            types[f"prometheus.googleapis.com/{metric.name}/{metric.type}"] = metric.labels
    return types


def datadog_metric_names():
    """The OpenMetrics check's name of every exposed metric, with its tags (datadog-monitors.yaml)."""
    names = {}
    for metric in EXPOSED.values():
        name = metric.name.removeprefix("secretsadmin_")
        if metric.type == "counter":
            name = name.removesuffix("_total") + ".count"
        elif metric.type == "histogram":
            name = re.sub(r"_(bucket|sum|count)$", r".\1", name)
        names[f"secretsadmin.{name}"] = metric.labels - {"le"}
    return names


def _conditions(policy):
    return [condition["conditionThreshold"] for condition in policy["conditions"]]


@pytest.mark.parametrize("policy", GCP, ids=lambda policy: policy["displayName"])
def test_gcp_policies_use_only_exposed_metrics_and_their_labels(policy):
    known = gcp_metric_types()
    for condition in _conditions(policy):
        [metric_type] = re.findall(r'metric\.type\s*=\s*"([^"]+)"', condition["filter"])
        assert metric_type in known, metric_type
        used = set(re.findall(r"metric\.label\.(\w+)", condition["filter"]))
        for aggregation in condition["aggregations"]:
            used |= {field.removeprefix("metric.label.") for field in aggregation.get("groupByFields", [])}
        assert used <= known[metric_type], used - known[metric_type]


@pytest.mark.parametrize("monitor", DATADOG, ids=lambda monitor: monitor["name"])
def test_datadog_monitors_use_only_exposed_metrics_and_their_tags(monitor):
    known = datadog_metric_names()
    selectors = re.findall(r"\b(?:sum|avg|max|min):([\w.]+)\{([^}]*)\}(?:\s*by\s*\{([^}]*)\})?", monitor["query"])
    assert selectors, monitor["query"]
    for name, tag_filter, group_by in selectors:
        assert name in known, name
        tags = {tag.split(":")[0] for tag in tag_filter.split(",") if tag not in {"*", ""}}
        tags |= {tag.strip() for tag in group_by.split(",") if tag.strip()}
        assert tags <= known[name], tags - known[name]



def test_the_grafana_dashboard_shows_the_alerted_gauges_from_exposed_metrics_only():
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    exprs += [annotation["expr"] for annotation in dashboard["annotations"]["list"]]
    shown = set().union(*map(promql_metric_names, exprs))
    assert shown <= set(EXPOSED) | PROMETHEUS_OWN | {"ALERTS"}, shown - set(EXPOSED)
    alerted = set().union(*(promql_metric_names(rule["expr"]) for rule in ALERT_RULES.values()))
    alerted_gauges = {name for name in alerted if name in EXPOSED and EXPOSED[name].type == "gauge"}
    assert alerted_gauges <= shown, alerted_gauges - shown

# --- Google Cloud Monitoring ------------------------------------------------------------------------------------

def test_gcp_keeps_the_policys_secret_retrieval_failures_policy():
    [policy] = [policy for policy in GCP if policy["displayName"] == "Secret Retrieval Failures"]
    [condition] = _conditions(policy)
    assert "prometheus.googleapis.com/secret_retrieval_failure_count_total/counter" in condition["filter"]
    [aggregation] = condition["aggregations"]
    assert (aggregation["perSeriesAligner"], aggregation["alignmentPeriod"]) == ("ALIGN_RATE", "300s")
    assert (condition["comparison"], condition["thresholdValue"]) == ("COMPARISON_GT", 0.1)
    assert policy["alertStrategy"]["autoClose"] == "7200s"


@pytest.mark.parametrize("policy", GCP, ids=lambda policy: policy["displayName"])
def test_gcp_policies_follow_the_alert_policy_schema(policy):
    assert policy["displayName"].strip()
    assert policy["combiner"] in {"OR", "AND"}
    assert policy["severity"] in {"CRITICAL", "WARNING"}
    assert re.fullmatch(r"\d+s", policy["alertStrategy"]["autoClose"])
    assert policy["conditions"]
    for condition in policy["conditions"]:
        assert condition["displayName"].strip()
        threshold = condition["conditionThreshold"]
        assert 'resource.type = "prometheus_target"' in threshold["filter"]
        assert threshold["comparison"] in {"COMPARISON_GT", "COMPARISON_LT"}
        assert isinstance(threshold["thresholdValue"], int | float)
        assert re.fullmatch(r"\d+s", threshold["duration"])
        for aggregation in threshold["aggregations"]:
            assert re.fullmatch(r"\d+s", aggregation["alignmentPeriod"])
            assert aggregation["perSeriesAligner"] in {"ALIGN_RATE", "ALIGN_DELTA", "ALIGN_MAX", "ALIGN_MIN"}
            assert aggregation["crossSeriesReducer"] in {"REDUCE_SUM", "REDUCE_MAX", "REDUCE_MIN"}
    [link] = _runbook_links(policy["documentation"]["content"])
    assert link in _runbook_anchors()


# --- Datadog ----------------------------------------------------------------------------------------------------

def test_datadog_keeps_the_policys_secret_rotation_failure_monitor():
    [monitor] = [monitor for monitor in DATADOG if monitor["name"] == "Secret Rotation Failure"]
    assert monitor["type"] == "query alert"
    assert re.fullmatch(r"sum\(last_5m\):sum:secretsadmin\.secret_rotation_failure_count\.count\{\*\}.*"
                        r"\.as_count\(\) > 0", monitor["query"])
    assert monitor["options"]["thresholds"]["critical"] == 0


@pytest.mark.parametrize("monitor", DATADOG, ids=lambda monitor: monitor["name"])
def test_datadog_monitors_follow_the_monitor_schema(monitor):
    assert monitor["name"].strip() and monitor["type"] == "query alert"
    # The API refuses a monitor whose critical threshold differs from the query's.
    comparison = re.search(r"([<>]=?)\s*(-?[\d.]+)$", monitor["query"])
    assert comparison, monitor["query"]
    assert float(comparison.group(2)) == monitor["options"]["thresholds"]["critical"]
    assert re.search(r"@[\w-]+", monitor["message"]), "no @-handle to notify"
    assert any(tag in monitor["tags"] for tag in ("severity:warning", "severity:critical"))
    [link] = _runbook_links(monitor["message"])
    assert link in _runbook_anchors()


def test_gcp_and_datadog_mirror_every_prometheus_alert_but_the_documented_two():
    mirrored = {name.lower() for name in set(ALERT_RULES) - NOT_MIRRORED}
    assert {_runbook_links(policy["documentation"]["content"])[0] for policy in GCP} == mirrored
    assert {_runbook_links(monitor["message"])[0] for monitor in DATADOG} == mirrored
