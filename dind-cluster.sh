#!/usr/bin/env bash
# Wrapper that keeps kubeadm-dind-cluster's habits: `./dind-cluster.sh up`, `CLUSTER_ID=10 ./dind-cluster.sh up`.
# On first use it creates the tool's own virtual environment (DIND_VENV, default .venv next to this script).
set -euo pipefail

DIND_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
export DIND_ROOT
venv="${DIND_VENV:-${DIND_ROOT}/.venv}"
stamp="${venv}/.dind-cluster-installed"

if [[ ! -x "${venv}/bin/dind-cluster" || "${DIND_ROOT}/pyproject.toml" -nt "${stamp}" ]]; then
  echo "dind-cluster: setting up its Python environment in ${venv} (once)…" >&2
  python3 -m venv "${venv}" >/dev/null
  "${venv}/bin/pip" install --quiet --disable-pip-version-check -e "${DIND_ROOT}" >"${venv}.install.log" 2>&1 \
    || { echo "dind-cluster: pip install failed; see ${venv}.install.log" >&2; exit 1; }
  touch "${stamp}"
fi

exec "${venv}/bin/dind-cluster" "$@"
