"""The Helm chart (helm/renkei): renders it with Helm's own engine (helm-python-sdk, no helm
binary, no cluster) and checks every manifest against the Kubernetes API schemas
(kubernetes-validate, strict: unknown fields fail), then the properties the deployment relies on.
Run by scripts/helm-test.sh."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "renkei"
PRODUCTION = ROOT / "helm" / "values-production.yaml"
RELEASE, NAMESPACE = "renkei", "renkei"

# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schema shipped.
KUBE_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
# Objects without a schema in kubernetes-validate (CRDs); checked by hand below.
CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
# Variables that carry credentials and must only come from a Secret.
SECRET_VARS = {"DATABASE_URL", "MIGRATION_DATABASE_URL", "REDIS_URL"}
UID = 10001


def production_values() -> dict[str, Any]:
    return yaml.safe_load(PRODUCTION.read_text())


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


# name -> user values (what `-f`/`--set` would give); every case must render and validate.
CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "production": production_values(),
    "ingress": {"ingress": {"enabled": True, "className": "nginx",
                            "tls": [{"secretName": "renkei-tls", "hosts": ["renkei.local"]}]}},
    "servicemonitor": {"metrics": {"serviceMonitor": {"enabled": True}}},
    "jwks": {"jwt": {"jwksUrl": "https://id.example.jp/jwks", "publicKey": {"secretName": ""}}},
    "pem-configmap": {"jwt": {"publicKey": {"secretName": "", "configMapName": "renkei-jwt", "keyId": "k1"}}},
    "scaled-worker": {"worker": {"replicaCount": 2, "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule"}]}},
    "production-no-hpa": merged(production_values(), {"api": {"autoscaling": {"enabled": False}}}),
    "existing-serviceaccount": {"serviceAccount": {"create": False, "name": "renkei-sa"},
                                "imagePullSecrets": [{"name": "regcred"}],
                                "nodeSelector": {"kubernetes.io/os": "linux"},
                                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "renkei",
                                                 "effect": "NoSchedule"}],
                                "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                                    {"weight": 1, "preference": {"matchExpressions": [
                                        {"key": "node-role", "operator": "In", "values": ["app"]}]}}]}},
                                "podAnnotations": {"example.org/team": "renkei"}},
}


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every object the chart renders (hooks included), as dicts."""
    with helm.Chart.load(CHART) as chart:
        files = chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = []
    for path, text in sorted(files.items()):
        if not path.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        for doc in yaml.safe_load_all(text):
            if doc is not None:
                doc["__template__"] = path
                objects.append(doc)
    return objects


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(CASES[request.param])


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    return render({})


@pytest.fixture(scope="module")
def production_objects() -> list[dict[str, Any]]:
    return render(production_values())


def k8s(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "__template__"}


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, component: str | None = None) -> dict[str, Any]:
    found = [o for o in of_kind(objects, kind)
             if component is None or o["metadata"]["labels"].get("app.kubernetes.io/component") == component]
    assert len(found) == 1, f"expected one {kind} {component or ''}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
            for o in objects if o["kind"] in ("Deployment", "Job")]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod.get("initContainers", []) + pod["containers"]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def api_env(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return env_of(one(objects, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0])


# --- schema validation ------------------------------------------------------------------------


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_every_manifest_validates_strictly(case, kube_version):
    name, objects = case
    assert objects, f"{name}: nothing rendered"
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(k8s(obj), kube_version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            pytest.fail(f"{name}: {obj['__template__']} {obj['kind']}/{obj['metadata']['name']}: {path}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            pytest.fail(f"{name}: {obj['__template__']}: {e.message}")


def test_validator_rejects_unknown_fields_and_wrong_types(default_objects):
    """The strict check must bite; otherwise the test above proves nothing."""
    deployment = k8s(one(default_objects, "Deployment", "api"))
    kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(typo, KUBE_VERSIONS[0], strict=True)
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong_type, KUBE_VERSIONS[0], strict=True)


@pytest.mark.parametrize("values", [CASES["defaults"], CASES["production"]], ids=["defaults", "production"])
def test_helm_lint_is_clean(values):
    report = helm.lint(CHART, values, strict=True, kube_version="v1.30.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert not report["errors"] and not problems, report


# --- the ServiceMonitor (a CRD: checked by hand) ------------------------------------------------


def test_servicemonitor_only_when_enabled(default_objects):
    assert not of_kind(default_objects, "ServiceMonitor")


@pytest.mark.parametrize("values", [CASES["servicemonitor"], CASES["production"]], ids=["toggle", "production"])
def test_servicemonitor_scrapes_metrics_of_api_and_worker(values):
    objects = render(values)
    monitor = one(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor) == {"apiVersion", "kind", "metadata", "spec", "__template__"}
    assert monitor["metadata"]["name"]
    spec = monitor["spec"]
    assert set(spec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    endpoints = spec["endpoints"]
    assert isinstance(endpoints, list) and endpoints
    for endpoint in endpoints:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
        assert endpoint["path"] == "/metrics"
        assert re.fullmatch(r"\d+[smh]", endpoint["interval"])
    # Which Services the selector picks, and the port each endpoint scrapes on them.
    selected = [s for s in of_kind(objects, "Service") if selects(spec["selector"], s["metadata"]["labels"])]
    by_component = {s["metadata"]["labels"]["app.kubernetes.io/component"]: s for s in selected}
    assert set(by_component) == {"api", "worker"}
    # The API's metrics have their own port (METRICS_BIND_ADDRESS), never the one the Ingress
    # routes to; the worker's share its probes' port.
    for component, target, port in (("api", "metrics", 9464), ("worker", "http", 8081)):
        ports = by_component[component]["spec"]["ports"]
        scraped = [p for p in ports for e in endpoints if p["name"] == e["port"]]
        assert scraped, f"no endpoint port on the {component} Service"
        assert all(p["targetPort"] == target and p["port"] == port for p in scraped)
    worker_port = one(objects, "Deployment", "worker")["spec"]["template"]["spec"]["containers"][0]["ports"][0]
    assert worker_port == {"name": "http", "containerPort": 8081, "protocol": "TCP"}
    if values is CASES["production"]:
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        assert expr["operator"] == "In", expr
        if labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


# --- the migration hook ------------------------------------------------------------------------


def test_migration_job_is_a_pre_install_and_pre_upgrade_hook(default_objects):
    job = one(default_objects, "Job")
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    policy = set(annotations["helm.sh/hook-delete-policy"].split(","))
    assert "before-hook-creation" in policy
    assert isinstance(job["spec"]["backoffLimit"], int) and 0 <= job["spec"]["backoffLimit"] <= 5
    assert job["spec"]["activeDeadlineSeconds"] > 0
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    # The chart's ServiceAccount does not exist yet when a pre-install hook runs.
    assert "serviceAccountName" not in pod
    (container,) = pod["containers"]
    assert container["command"] + container.get("args", []) == ["renkei-api", "migrate"]
    env = env_of(container)
    assert env["MIGRATION_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "renkei-database", "key": "MIGRATION_DATABASE_URL"}
    assert "DATABASE_URL" not in env


def test_migration_credentials_reach_only_the_job(production_objects):
    for where, pod in pod_specs(production_objects):
        for c in containers(pod):
            refs = [e["valueFrom"]["secretKeyRef"]["name"] for e in c.get("env", []) if "valueFrom" in e]
            if where.startswith("Job/"):
                assert refs == ["renkei-database-owner"]
            else:
                assert "renkei-database-owner" not in refs, where


def test_migrations_can_be_turned_off():
    assert not of_kind(render({"migrations": {"enabled": False}}), "Job")


# --- pods: security, probes, resources, secrets ---------------------------------------------------


def test_every_container_is_locked_down(case):
    name, objects = case
    pods = pod_specs(objects)
    assert {w.split("/")[0] for w, _ in pods} == {"Deployment", "Job"}
    for where, pod in pods:
        pod_sc = pod.get("securityContext", {})
        assert pod.get("automountServiceAccountToken") is False, where
        tmp_volumes = [v for v in pod["volumes"] if v["name"] == "tmp"]
        assert len(tmp_volumes) == 1 and "emptyDir" in tmp_volumes[0], where
        for c in containers(pod):
            sc = c["securityContext"]
            label = f"{name}: {where} container {c['name']}"
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, label
            assert sc.get("runAsUser", pod_sc.get("runAsUser")) == UID, label
            assert sc.get("runAsGroup", pod_sc.get("runAsGroup")) == UID, label
            assert sc["readOnlyRootFilesystem"] is True, label
            assert sc["allowPrivilegeEscalation"] is False, label
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add"), label
            assert sc.get("seccompProfile", pod_sc.get("seccompProfile")) == {"type": "RuntimeDefault"}, label
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"], label
            assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"], label
            assert c["resources"]["limits"]["memory"], label


def test_image_user_matches_the_chart():
    containerfile = (ROOT / "Containerfile").read_text()
    assert re.search(rf"useradd\b[^\n]*--uid {UID}\b", containerfile)
    assert re.search(rf"groupadd\b[^\n]*--gid {UID}\b", containerfile)
    assert re.search(rf"^USER {UID}:{UID}$", containerfile, re.M)


def test_probes_and_listen_addresses(case):
    name, objects = case
    expected = {"api": ("0.0.0.0:8080", "BIND_ADDRESS", 8080), "worker": ("0.0.0.0:8081", "WORKER_BIND_ADDRESS", 8081)}
    for component, (address, variable, port) in expected.items():
        (c,) = one(objects, "Deployment", component)["spec"]["template"]["spec"]["containers"]
        assert env_of(c)[variable]["value"] == address, name
        metrics = [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}] if component == "api" else []
        assert c["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}, *metrics], name
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, name
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, name
    api = one(objects, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    worker = one(objects, "Deployment", "worker")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(api)["METRICS_BIND_ADDRESS"]["value"] == "0.0.0.0:9464", name
    assert api["command"] + api.get("args", []) == ["renkei-api", "serve"]
    assert worker["command"] + worker.get("args", []) == ["renkei-worker"]


CREDENTIAL_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def test_secrets_only_by_reference(case):
    name, objects = case
    assert not of_kind(objects, "Secret"), f"{name}: the chart must not create Secrets"
    for where, pod in pod_specs(objects):
        for c in containers(pod):
            for e in c.get("env", []):
                label = f"{name}: {where} {c['name']} {e['name']}"
                if e["name"] in SECRET_VARS:
                    assert "value" not in e, label
                    ref = e["valueFrom"]["secretKeyRef"]
                    assert ref["name"] and ref["key"], label
                if "value" in e:
                    value = e["value"]
                    assert isinstance(value, str), label
                    assert not CREDENTIAL_IN_URL.search(value), label
                    assert not value.startswith(("postgres://", "postgresql://", "redis://", "rediss://")), label
                    assert "BEGIN" not in value and "PRIVATE KEY" not in value, label
            assert not c.get("envFrom"), f"{name}: {where}: envFrom would hide what is injected"


def test_redis_from_a_secret_when_configured(default_objects, production_objects):
    assert "REDIS_URL" not in api_env(default_objects)
    assert api_env(production_objects)["REDIS_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "renkei-redis", "key": "REDIS_URL"}
    worker = one(production_objects, "Deployment", "worker")["spec"]["template"]["spec"]["containers"][0]
    assert "REDIS_URL" not in env_of(worker) and "JWT_ISSUER" not in env_of(worker)


# --- configuration -----------------------------------------------------------------------------


def test_graphiql_is_off_in_production(default_objects, production_objects):
    assert api_env(production_objects)["GRAPHIQL_ENABLED"]["value"] == "false"
    assert api_env(default_objects)["GRAPHIQL_ENABLED"]["value"] == "true"


def test_introspection_is_off_and_rate_limits_set_in_production(default_objects, production_objects):
    prod, dev = api_env(production_objects), api_env(default_objects)
    assert prod["GRAPHQL_INTROSPECTION"]["value"] == "false"
    assert dev["GRAPHQL_INTROSPECTION"]["value"] == "true"
    assert prod["RATE_LIMIT_TRUST_FORWARDED_FOR"]["value"] == "true"
    assert dev["RATE_LIMIT_TRUST_FORWARDED_FOR"]["value"] == "false"
    assert prod["RATE_LIMIT_TRUSTED_PROXIES"]["value"] == "1"
    assert prod["CORS_ALLOWED_ORIGINS"]["value"] == "https://kpi.mhlw.example.jp"
    assert "CORS_ALLOWED_ORIGINS" not in dev
    assert int(prod["RATE_LIMIT_MUTATIONS"]["value"]) < int(prod["RATE_LIMIT_QUERIES"]["value"])


def test_plain_settings_reach_the_api(production_objects):
    env = api_env(production_objects)
    expected = {"LOG_FORMAT": "json", "RUST_LOG": "info", "DATABASE_POOL_SIZE": "10", "JWT_ALGORITHM": "RS256",
                "JWT_ISSUER": "https://id.example.jp/realms/renkei", "JWT_AUDIENCE": "renkei",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://opentelemetry-collector.observability.svc:4318",
                "OTEL_SERVICE_NAME": "renkei-api", "HTTP_WORKERS": "2"}
    assert {k: env[k].get("value") for k in expected} == expected


def test_kpi_settings_reach_api_and_worker(default_objects):
    worker = one(default_objects, "Deployment", "worker")["spec"]["template"]["spec"]["containers"][0]
    for env in (api_env(default_objects), env_of(worker)):
        assert env["KPI_SUPPRESSION_THRESHOLD"]["value"] == "5"
        assert env["DESIGNATION_LAW_START_FY"]["value"] == "2026"


def test_otel_only_when_given(default_objects, production_objects):
    for where, pod in pod_specs(default_objects):
        for c in containers(pod):
            assert not {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME"} & set(env_of(c)), where
    worker = one(production_objects, "Deployment", "worker")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(worker)["OTEL_SERVICE_NAME"]["value"] == "renkei-worker"


def test_pem_public_key_is_mounted_as_a_file(default_objects):
    pod = one(default_objects, "Deployment", "api")["spec"]["template"]["spec"]
    env = env_of(pod["containers"][0])
    assert env["JWT_PUBLIC_KEY_FILE"]["value"] == "/etc/renkei/jwt/public.pem"
    assert "JWT_JWKS_URL" not in env
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == "/etc/renkei/jwt")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert mount["readOnly"] is True
    assert volume["secret"] == {"secretName": "renkei-jwt", "items": [{"key": "public.pem", "path": "public.pem"}]}


def test_pem_public_key_from_a_configmap():
    pod = one(render(CASES["pem-configmap"]), "Deployment", "api")["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] != "tmp")
    assert volume["configMap"]["name"] == "renkei-jwt" and "secret" not in volume
    assert env_of(pod["containers"][0])["JWT_KEY_ID"]["value"] == "k1"


@pytest.mark.parametrize("values", [CASES["jwks"], CASES["production"]], ids=["toggle", "production"])
def test_jwks_instead_of_pem(values):
    pod = one(render(values), "Deployment", "api")["spec"]["template"]["spec"]
    env = env_of(pod["containers"][0])
    assert env["JWT_JWKS_URL"]["value"].startswith("https://")
    assert "JWT_PUBLIC_KEY_FILE" not in env
    assert [v["name"] for v in pod["volumes"]] == ["tmp"]


@pytest.mark.parametrize("values, message", [
    ({"jwt": {"jwksUrl": "https://id.example.jp/jwks"}}, "not both"),
    ({"jwt": {"publicKey": {"secretName": ""}}}, "jwt.jwksUrl"),
    ({"jwt": {"jwksUrl": "file:///etc/keys", "publicKey": {"secretName": ""}}}, "http(s)"),
    ({"database": {"url": {"secretName": ""}}}, "DATABASE_URL"),
    ({"otel": {"endpoint": "otel-collector:4317"}}, "otel.endpoint"),
])
def test_bad_settings_fail_at_render_time(values, message):
    with pytest.raises(helm.HelmError) as failure:
        render(values)
    assert message in str(failure.value)


# --- scaling and availability ------------------------------------------------------------------


def test_hpa_only_when_enabled(default_objects, production_objects):
    assert not of_kind(default_objects, "HorizontalPodAutoscaler")
    assert not of_kind(render(CASES["production-no-hpa"]), "HorizontalPodAutoscaler")
    hpa = one(production_objects, "HorizontalPodAutoscaler")
    api = one(production_objects, "Deployment", "api")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": api["metadata"]["name"]}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 6)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["averageUtilization"] == 70
    # The HPA owns the replica count; a fixed one would fight it on every upgrade.
    assert "replicas" not in api["spec"]


def test_replicas_without_hpa(default_objects):
    assert one(default_objects, "Deployment", "api")["spec"]["replicas"] == 1
    assert one(render(CASES["production-no-hpa"]), "Deployment", "api")["spec"]["replicas"] == 3


def test_disruption_budgets(default_objects, production_objects):
    api_pdb = one(default_objects, "PodDisruptionBudget", "api")
    assert api_pdb["spec"]["maxUnavailable"] == 1
    assert not [p for p in of_kind(default_objects, "PodDisruptionBudget")
                if p["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"]
    assert one(production_objects, "PodDisruptionBudget", "api")["spec"] == {
        "minAvailable": 2, "selector": one(production_objects, "Deployment", "api")["spec"]["selector"]}
    scaled = render(CASES["scaled-worker"])
    worker_pdb = one(scaled, "PodDisruptionBudget", "worker")
    assert worker_pdb["spec"]["selector"] == one(scaled, "Deployment", "worker")["spec"]["selector"]


def test_topology_spread_defaults_to_the_component(production_objects):
    pod = one(production_objects, "Deployment", "api")["spec"]["template"]["spec"]
    selector = one(production_objects, "Deployment", "api")["spec"]["selector"]
    keys = [t["topologyKey"] for t in pod["topologySpreadConstraints"]]
    assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    assert all(t["labelSelector"] == selector for t in pod["topologySpreadConstraints"])


# --- wiring between objects ----------------------------------------------------------------------


def test_selectors_match_pod_labels(case):
    name, objects = case
    for d in of_kind(objects, "Deployment"):
        assert selects(d["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"]), d["metadata"]["name"]
    for service in of_kind(objects, "Service"):
        targets = [d for d in of_kind(objects, "Deployment")
                   if selects({"matchLabels": service["spec"]["selector"]}, d["spec"]["template"]["metadata"]["labels"])]
        assert len(targets) == 1, f"{name}: Service {service['metadata']['name']} selects {len(targets)} Deployments"
        ports = {p["name"] for c in targets[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        assert [d for d in of_kind(objects, "Deployment")
                if selects(pdb["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])], name


def test_standard_labels_everywhere(case):
    name, objects = case
    for obj in objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "renkei", name
        assert labels["app.kubernetes.io/instance"] == RELEASE, name
        assert labels["app.kubernetes.io/managed-by"] == "Helm", name
        assert labels["helm.sh/chart"].startswith("renkei-"), name


def test_service_accounts(default_objects):
    sa = one(default_objects, "ServiceAccount")
    for where, pod in pod_specs(default_objects):
        if where.startswith("Deployment/"):
            assert pod["serviceAccountName"] == sa["metadata"]["name"], where
    objects = render(CASES["existing-serviceaccount"])
    assert not of_kind(objects, "ServiceAccount")
    for where, pod in pod_specs(objects):
        if where.startswith("Deployment/"):
            assert pod["serviceAccountName"] == "renkei-sa", where
        assert pod["imagePullSecrets"] == [{"name": "regcred"}], where
        assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}, where
        assert pod["tolerations"][0]["key"] == "dedicated", where
        assert "nodeAffinity" in pod["affinity"], where


def public_routes() -> set[str]:
    """The paths the API mounts on its address (`routes` in api/src/lib.rs), but the probes."""
    source = (ROOT / "api" / "src" / "lib.rs").read_text()
    source = source[source.index("pub fn routes("):source.index("pub fn metrics_routes(")]
    return set(re.findall(r'web::resource\("([^"]+)"\)', source)) - {"/healthz", "/readyz"}


def routes_of(ingress: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]


def routes_path(route: dict[str, Any], path: str) -> bool:
    """Whether an Ingress path sends `path` to the backend (Kubernetes' Exact and Prefix)."""
    if route["pathType"] == "Exact":
        return path == route["path"]
    prefix = route["path"].rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def size(text: str) -> int:
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    return int(text[:-1]) * units[text[-1].lower()] if text[-1].lower() in units else int(text)


def largest_body(path: str) -> int:
    """What the API accepts on `path`: GRAPHQL_MAX_BODY_BYTES's default, the Excel upload, or
    nothing (downloads and pages)."""
    if path == "/graphql":
        config = (ROOT / "api" / "src" / "config.rs").read_text()
        (expression,) = re.findall(r'"GRAPHQL_MAX_BODY_BYTES", ([\d\s*]+)usize', config)
    elif path.startswith("/forms/"):
        xlsx = (ROOT / "core" / "src" / "checklists" / "xlsx.rs").read_text()
        (expression,) = re.findall(r"MAX_UPLOAD_BYTES: usize = ([\d\s*]+);", xlsx)
    else:
        return 0
    result = 1
    for factor in expression.split("*"):
        result *= int(factor)
    return result


@pytest.mark.parametrize("values", [CASES["production"], CASES["ingress"]], ids=["production", "toggle"])
def test_ingress_routes_every_public_path_with_the_body_it_needs(values):
    objects = render(values)
    ingresses = of_kind(objects, "Ingress")
    service = one(objects, "Service", "api")
    graphiql = api_env(objects)["GRAPHIQL_ENABLED"]["value"] == "true"
    public = public_routes() - (set() if graphiql else {"/graphiql"})
    assert "/metrics" not in public_routes(), "metrics are served on their own address"
    for ingress in ingresses:
        assert ingress["spec"]["ingressClassName"] == "nginx"
        for route in routes_of(ingress):
            assert route["backend"]["service"]["name"] == service["metadata"]["name"]
            # The API's own port, never the metrics one.
            assert route["backend"]["service"]["port"] == {"name": "http"}
    for path in public:
        # A concrete request path: `{fiscal_year}` and the like become one segment.
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        routing = [i for i in ingresses for r in routes_of(i) if routes_path(r, concrete)]
        assert len(routing) == 1, f"{path} is routed by {[i['metadata']['name'] for i in routing]}"
        limit = size(routing[0]["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"])
        assert largest_body(concrete) <= limit, f"{path} takes {largest_body(concrete)} bytes; the ingress {limit}"
        assert limit <= max(largest_body(concrete), 1024), f"{path}: the ingress lets {limit} bytes through"
    for hidden in ["/healthz", "/readyz", "/metrics"] + ([] if graphiql else ["/graphiql"]):
        assert not any(routes_path(r, hidden) for i in ingresses for r in routes_of(i)), f"{hidden} is published"


def test_ingress_off_by_default_and_on_the_production_host(default_objects, production_objects):
    assert not of_kind(default_objects, "Ingress")
    for ingress in of_kind(production_objects, "Ingress"):
        assert ingress["spec"]["tls"] == [{"secretName": "renkei-tls", "hosts": ["renkei.example.jp"]}]
        assert [rule["host"] for rule in ingress["spec"]["rules"]] == ["renkei.example.jp"]
        assert ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt"


def test_image_reference(default_objects, production_objects):
    with helm.Chart.load(CHART) as chart:
        app_version = chart.metadata["appVersion"]
    for where, pod in pod_specs(default_objects):
        assert pod["containers"][0]["image"] == f"renkei:{app_version}", where
    for where, pod in pod_specs(production_objects):
        assert pod["containers"][0]["image"] == "registry.example.jp/renkei/renkei:0.1.0", where
