"""A small kustomize, enough for infra/k8s: the tests render the overlays without kubectl.

It does what Candour's kustomizations use and refuses anything else, so a kustomization that grows a
field this does not know fails the tests instead of being rendered wrong: resources (files and
directories), namespace, images (newName, newTag, digest), replicas, and patches by path, merged the
way kubectl's strategic merge does for these kinds (maps merged key by key; lists of named items, such
as containers, merged by name; other lists replaced). test_manifests compares the result with
`kubectl kustomize` wherever kubectl is installed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

KNOWN_FIELDS = frozenset({"apiVersion", "kind", "resources", "namespace", "images", "replicas", "patches"})
# Kinds that live in no namespace: kustomize leaves them alone.
CLUSTER_KINDS = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding", "ClusterSecretStore"})

Doc = dict[str, Any]


def kustomize_build(directory: Path) -> list[Doc]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - KNOWN_FIELDS
    if unknown:
        raise ValueError(f"{directory}: kustomization fields this renderer does not know: {sorted(unknown)}")
    docs: list[Doc] = []
    for resource in spec.get("resources", []):
        path = (directory / resource).resolve()
        if path.is_dir():
            docs += kustomize_build(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise ValueError(f"{directory}: only patches by path are supported, not {sorted(patch)}")
        for change in yaml.safe_load_all((directory / patch["path"]).read_text()):
            target = _find(docs, kind=change["kind"], name=change["metadata"]["name"])
            merged = _merge(copy.deepcopy(target), change)
            target.clear()
            target.update(merged)
    for replicas in spec.get("replicas", []):
        matched = [d for d in docs if d["metadata"]["name"] == replicas["name"] and "replicas" in d.get("spec", {})]
        if not matched:
            raise ValueError(f"{directory}: replicas for {replicas['name']}, which has none")
        for doc in matched:
            doc["spec"]["replicas"] = replicas["count"]
    for image in spec.get("images", []):
        for container in _containers(docs):
            _image_set(container, image)
    if "namespace" in spec:
        for doc in docs:
            if doc["kind"] not in CLUSTER_KINDS:
                doc["metadata"]["namespace"] = spec["namespace"]
    return docs


def _find(docs: list[Doc], *, kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    if len(found) != 1:
        raise ValueError(f"a patch names {kind}/{name}, found {len(found)} such resources")
    return found[0]


def _merge(base: Any, change: Any) -> Any:
    if isinstance(base, dict) and isinstance(change, dict):
        for key, value in change.items():
            base[key] = _merge(base[key], value) if key in base else value
        return base
    if isinstance(base, list) and isinstance(change, list) and _named(base) and _named(change):
        by_name = {item["name"]: item for item in base}
        for item in change:
            if item["name"] in by_name:
                _merge(by_name[item["name"]], item)
            else:
                base.append(item)
        return base
    return change


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _containers(docs: list[Doc]) -> list[Doc]:
    found = []
    for doc in docs:
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        found += pod.get("containers", []) + pod.get("initContainers", [])
    return found


def _image_set(container: Doc, image: Doc) -> None:
    reference = container["image"]
    name, _, tag = reference.partition("@")[0].rpartition(":") if ":" in reference else (reference, "", "")
    if name != image["name"]:
        return
    new_name = image.get("newName", name)
    if "digest" in image:
        container["image"] = f"{new_name}@{image['digest']}"
    else:
        container["image"] = f"{new_name}:{image.get('newTag', tag)}" if image.get("newTag", tag) else new_name
