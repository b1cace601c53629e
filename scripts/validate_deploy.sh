#!/usr/bin/env bash
# Validates the Kubernetes manifests under deploy/ offline, against the
# OpenAPI schemas of a named Kubernetes version, strictly (an unknown or
# misspelt field fails): kubernetes-validate from PyPI, pinned, in a venv of
# its own. No cluster is contacted.
# Usage: bash scripts/validate_deploy.sh [KUBERNETES_VERSION]   (default 1.33.0)
set -euo pipefail
cd "$(dirname "$0")/.."

version=${1:-1.33.0}
venv=${TALLY_VALIDATE_VENV:-target/validate-deploy-venv}
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  # Debian's python3 makes venvs only with python3-venv installed.
  if ! python3 -c 'import ensurepip' 2>/dev/null; then
    as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
  fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check kubernetes-validate==1.37.0
fi
"$venv/bin/kubernetes-validate" --kubernetes-version "$version" --strict deploy/kubernetes/*.yaml
echo "validate_deploy.sh: deploy/kubernetes/*.yaml valid for Kubernetes $version"
