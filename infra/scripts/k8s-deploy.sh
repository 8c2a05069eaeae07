#!/usr/bin/env bash
# Deploy Candour to Kubernetes: the migrations first, to completion, then the rollout.
# Usage: infra/scripts/k8s-deploy.sh infra/k8s/overlays/production
# The Job is deleted before each run (a Job's template cannot change) and waited for; if it fails the
# rollout does not start, and the running pods carry on with the schema they know.
set -euo pipefail
overlay="${1:?usage: k8s-deploy.sh infra/k8s/overlays/NAME}"
ns=candour
kubectl -n "$ns" delete job migrate --ignore-not-found --wait=true
kubectl apply -k "$overlay/migrate"
if ! kubectl -n "$ns" wait --for=condition=complete --timeout=30m job/migrate; then
  echo "The migration Job did not complete: rollout stopped. kubectl -n $ns logs job/migrate" >&2
  exit 1
fi
kubectl apply -k "$overlay"
kubectl -n "$ns" rollout status deployment/web --timeout=15m
