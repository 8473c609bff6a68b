"""deploy/kubernetes/: kubernetes-validate (strict) for the built-in kinds, field checks for the
ServiceMonitor, and the wiring between the objects and relay's own configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.test_deploy import (
    DEPLOY,
    TEST_EXTRAS,
    check_config_cli,
    env_names,
    final_stage,
    load_config,
    needs_pgpassword,
    placeholders_only,
    require_module,
    shutdown_bound_s,
)

K8S = DEPLOY / "kubernetes"

CORE_MANIFESTS = ("configmap.yaml", "deployment.yaml", "service.yaml", "poddisruptionbudget.yaml",
                  "secret.example.yaml")


def k8s_docs() -> dict[str, dict[str, Any]]:
    """Every manifest of deploy/kubernetes by kind (one object per kind)."""
    docs: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["kind"] not in docs, f"two {doc['kind']} objects"
            docs[doc["kind"]] = doc
    return docs


@pytest.mark.parametrize("name", CORE_MANIFESTS)
def test_manifest_is_valid_for_kubernetes_strictly(name: str) -> None:
    require_module("kubernetes_validate", f"{TEST_EXTRAS} (PyPI kubernetes-validate)")
    import kubernetes_validate

    for doc in yaml.safe_load_all((K8S / name).read_text()):
        version = kubernetes_validate.latest_version()
        kubernetes_validate.validate(doc, version, strict=True)


def test_kubernetes_validate_rejects_what_kubernetes_would() -> None:
    """The check above can fail: a misspelt field and a wrong type are refused."""
    require_module("kubernetes_validate", f"{TEST_EXTRAS} (PyPI kubernetes-validate)")
    import kubernetes_validate

    bad = yaml.safe_load((K8S / "deployment.yaml").read_text())
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, kubernetes_validate.latest_version(), strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests - {"secret.example.yaml"}


def _container() -> dict[str, Any]:
    [container] = k8s_docs()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


def test_deployment_probes_security_and_resources() -> None:
    pod = k8s_docs()["Deployment"]["spec"]["template"]["spec"]
    container = _container()
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in port_names
    assert pod["securityContext"]["runAsNonRoot"] is True
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]  # the only writable path
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])


def test_deployment_wires_the_configmap_and_the_secret(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    docs = k8s_docs()
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    container = _container()
    volumes = {v["name"]: v for v in pod["volumes"]}
    [config_mount] = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/relay"]
    assert volumes[config_mount["name"]]["configMap"]["name"] == docs["ConfigMap"]["metadata"][
        "name"]
    assert container["args"] == ["serve", "--config", "/etc/relay/relay.yaml"]
    [secret_ref] = container["envFrom"]
    assert secret_ref["secretRef"]["name"] == docs["Secret"]["metadata"]["name"]
    # The ConfigMap's configuration is valid with exactly the Secret's variables.
    config_file = tmp_path / "relay.yaml"
    config_file.write_text(docs["ConfigMap"]["data"]["relay.yaml"])
    raw = yaml.safe_load(config_file.read_text())
    secret = docs["Secret"]["stringData"]
    placeholders_only(secret, "secret.example.yaml")
    assert set(secret) == env_names(raw) | ({"PGPASSWORD"} if needs_pgpassword(raw) else set())
    check_config_cli(config_file, secret, monkeypatch, capsys)
    settings = load_config(config_file, secret)
    assert settings.server.host == "0.0.0.0"
    assert needs_pgpassword(raw), "several replicas need the PostgreSQL store"
    assert docs["Deployment"]["spec"]["replicas"] >= 2
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == settings.server.port


def test_termination_grace_outlasts_relays_shutdown(tmp_path: Path) -> None:
    docs = k8s_docs()
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    raw = yaml.safe_load(docs["ConfigMap"]["data"]["relay.yaml"])
    pre_stop = _container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > float(pre_stop[1]) + shutdown_bound_s(raw)


def test_service_pdb_and_servicemonitor_select_relays_pods() -> None:
    docs = k8s_docs()
    pod_labels = docs["Deployment"]["spec"]["template"]["metadata"]["labels"]
    service = docs["Service"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert docs["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    pdb = docs["PodDisruptionBudget"]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["maxUnavailable"] < docs["Deployment"]["spec"]["replicas"]
    container_ports = {p["name"] for p in _container()["ports"]}
    [port] = service["spec"]["ports"]
    assert port["targetPort"] in container_ports
    # ServiceMonitor: a CRD kubernetes-validate has no schema for; checked field by field.
    monitor = docs["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) == {"selector", "endpoints"}
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"][
        "labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
    assert endpoint["port"] == port["name"] and endpoint["path"] == "/metrics"
    # the alerts select job="relay": the job label a ServiceMonitor gives is the Service name
    assert service["metadata"]["name"] == "relay"


def test_image_runs_relay_as_a_numeric_non_root_user() -> None:
    users = [args for word, args in final_stage() if word == "USER"]
    assert users, "the image's final stage must switch to an unprivileged user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric: runAsNonRoot can verify it
    pod = k8s_docs()["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == int(uid)
