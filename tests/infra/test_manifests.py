"""The Kubernetes manifests: each rendered kustomization validates against the Kubernetes schemas
(kubernetes-validate, offline, one pinned version, strict: unknown fields fail), and holds what
README, Deployment, promises: probes, the autoscaler, a worker per queue, one beat, the migration Job,
PgBouncer in transaction pooling, secrets from the secret store, the network policies, and every
container non-root and read-only."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from django.conf import settings

from tests.infra.conftest import INFRA, K8S, KUSTOMIZATIONS
from tests.infra.kustomize import kustomize_build

KUBERNETES_VERSION = "1.33.0"
# Custom resources the Kubernetes schemas do not hold: checked by their own test below.
CUSTOM_KINDS = {("external-secrets.io/v1", "ExternalSecret")}
Doc = dict[str, Any]


def _validate(doc: Doc) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _pods(docs: list[Doc]) -> list[tuple[str, Doc]]:
    return [(d["metadata"]["name"], d["spec"]["template"]) for d in docs if "template" in d.get("spec", {})]


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_manifest_validates(rendered: dict[str, list[Doc]], name: str) -> None:
    validated = 0
    for doc in rendered[name]:
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            continue
        _validate(doc)
        validated += 1
    assert validated > 0


def test_validation_rejects_a_bad_manifest(rendered: dict[str, list[Doc]]) -> None:
    web = copy.deepcopy(_one(rendered["base"], "Deployment", "web"))
    web["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(web)
    probe = web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    web["spec"]["replicas"] = 2
    probe["httpGet"]["pathh"] = probe["httpGet"].pop("path")  # a misspelt field: strict refuses it
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(web)


def test_external_secrets_name_every_secret_the_pods_read(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["overlays/production"]
    written = set()
    for doc in docs:
        if doc["kind"] == "ExternalSecret":
            assert doc["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "candour"}
            assert doc["spec"]["target"]["name"] == doc["metadata"]["name"]
            assert doc["spec"].get("data") or doc["spec"].get("dataFrom")
            written.add(doc["metadata"]["name"])
    read = set()
    for _, pod in _pods(docs):
        for container in pod["spec"]["containers"]:
            read |= {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
            read |= {
                e["valueFrom"]["secretKeyRef"]["name"]
                for e in container.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})
            }
        read |= {v["secret"]["secretName"] for v in pod["spec"].get("volumes", []) if "secret" in v}
    assert read == written == {"candour-secrets", "candour-postgresql", "candour-redis", "candour-pgbouncer"}
    assert not [d for d in docs if d["kind"] == "Secret"], "no Secret is written in the repository"


def test_overlays_render_as_kubectl_does(rendered: dict[str, list[Doc]]) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the renderer is compared with it where it is")
    for name in KUSTOMIZATIONS:
        out = subprocess.run([kubectl, "kustomize", str(K8S / name)], capture_output=True, text=True, check=True)
        theirs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(out.stdout)}
        assert {(d["kind"], d["metadata"]["name"]): d for d in rendered[name]} == theirs, name


def test_renderer_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(ValueError, match="commonLabels"):
        kustomize_build(tmp_path)


@pytest.mark.parametrize("name", ["overlays/small", "overlays/production"])
def test_web_probes_and_autoscaler(rendered: dict[str, list[Doc]], name: str) -> None:
    docs = rendered[name]
    web = _one(docs, "Deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    hpa = _one(docs, "HorizontalPodAutoscaler", "web")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]


def test_probe_paths_exist_and_are_public() -> None:
    from django.urls import resolve

    for path in ("/healthz", "/readyz"):
        assert getattr(resolve(path).func, "candour_access", None) == "public", path


@pytest.mark.parametrize("name", ["overlays/small", "overlays/production"])
def test_a_worker_for_every_queue_and_one_beat(rendered: dict[str, list[Doc]], name: str) -> None:
    docs = rendered[name]
    queues = {"celery"} | {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    consumed: dict[str, int] = {}
    for doc in docs:
        if doc["kind"] == "Deployment" and doc["metadata"]["labels"]["app.kubernetes.io/component"] == "worker":
            command = doc["spec"]["template"]["spec"]["containers"][0]["command"]
            for queue in command[command.index("-Q") + 1].split(","):
                consumed[queue] = consumed.get(queue, 0) + doc["spec"]["replicas"]
    assert set(consumed) == queues and min(consumed.values()) >= 1
    beats = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "beat"]
    assert len(beats) == 1 and beats[0]["spec"]["replicas"] == 1
    assert beats[0]["spec"]["strategy"] == {"type": "Recreate"}, "a rollout must not run two beats"
    assert not [
        d for d in docs if d["kind"] == "HorizontalPodAutoscaler" and d["spec"]["scaleTargetRef"]["name"] == "beat"
    ]


def test_migration_job_is_applied_apart_and_first() -> None:
    overlay = {(d["kind"], d["metadata"]["name"]) for d in kustomize_build(K8S / "overlays/production")}
    assert ("Job", "migrate") not in overlay, "the Job is its own kustomization, applied before the rollout"
    job = _one(kustomize_build(K8S / "overlays/production/migrate"), "Job", "migrate")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][-2:] == ["migrate", "--noinput"]
    web_image = _one(kustomize_build(K8S / "overlays/production"), "Deployment", "web")["spec"]["template"]["spec"]
    assert container["image"] == web_image["containers"][0]["image"]
    script = (INFRA / "scripts" / "k8s-deploy.sh").read_text()
    migrate, wait = script.index('apply -k "$overlay/migrate"'), script.index("wait --for=condition=complete")
    assert migrate < wait < script.index('kubectl apply -k "$overlay"\n')


def test_pgbouncer_pools_by_transaction(rendered: dict[str, list[Doc]]) -> None:
    ini = (INFRA / "pgbouncer" / "pgbouncer.ini").read_text()
    assert "\npool_mode = transaction\n" in ini
    assert _one(rendered["base"], "ConfigMap", "pgbouncer")["data"]["pgbouncer.ini"] == ini
    config = _one(rendered["base"], "ConfigMap", "candour-config")["data"]
    assert config["DATABASE_TRANSACTION_POOLING"] == "1"


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _policies_for(docs: list[Doc], labels: dict[str, str], direction: str) -> list[Doc]:
    return [
        d
        for d in docs
        if d["kind"] == "NetworkPolicy"
        and direction in d["spec"]["policyTypes"]
        and _selects(d["spec"]["podSelector"], labels)
    ]


def test_network_policies(rendered: dict[str, list[Doc]]) -> None:
    docs = rendered["overlays/production"]
    pods = {name: pod["metadata"]["labels"] for name, pod in _pods(docs)}
    pods["migrate"] = _one(rendered["migrate"], "Job", "migrate")["spec"]["template"]["metadata"]["labels"]
    deny = _one(docs, "NetworkPolicy", "default-deny")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    # Who may reach PostgreSQL and Redis: Candour's own pods only, none from another namespace.
    for server, allowed in (
        ("postgresql", {"pgbouncer", "migrate"}),
        ("redis", {"web", "worker-default", "worker-clocks", "worker-sms", "beat"}),
    ):
        sources = set()
        for policy in _policies_for(docs, pods[server], "Ingress"):
            for rule in policy["spec"].get("ingress", []):
                for peer in rule["from"]:
                    assert set(peer) == {"podSelector"}, f"{server}: a peer outside the namespace"
                    sources |= {name for name, labels in pods.items() if _selects(peer["podSelector"], labels)}
        assert sources == allowed, server
    # Who may leave the cluster: a peer that is an address block.
    leaving = {}
    for name, labels in pods.items():
        blocks = [
            peer["ipBlock"]
            for policy in _policies_for(docs, labels, "Egress")
            for rule in policy["spec"].get("egress", [])
            for peer in rule.get("to", [])
            if "ipBlock" in peer
        ]
        if blocks:
            leaving[name] = blocks
    assert set(leaving) == {"web", "beat", "worker-default", "worker-clocks", "worker-sms"}
    for name in ("web", "beat"):  # error reporting only: one address, not the internet
        assert [b["cidr"].endswith("/32") for b in leaving[name]] == [True], name


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_container_is_non_root_and_read_only(rendered: dict[str, list[Doc]], name: str) -> None:
    for workload, pod in _pods(rendered[name]):
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, workload
        assert spec["securityContext"]["runAsUser"] >= 10000, workload
        assert spec["automountServiceAccountToken"] is False, workload
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, workload
            assert context["allowPrivilegeEscalation"] is False, workload
            assert context["capabilities"] == {"drop": ["ALL"]}, workload
            assert ":" in container["image"] and not container["image"].endswith(":latest"), workload
