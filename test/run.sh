#!/usr/bin/env bash
# The project's test command (README, .ci/run, .circleci): installs what the tests need on a fresh
# Debian machine — a Docker engine when none answers, host tools, the Python environment, the offline
# base image — then runs pytest. Arguments go to pytest (e.g. `test/run.sh test/unit -x`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"

need_apt=()
command -v socat >/dev/null || need_apt+=(socat)
command -v lzma >/dev/null || need_apt+=(xz-utils)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v openssl >/dev/null || need_apt+=(openssl)
if ((${#need_apt[@]})); then
  echo "test/run.sh: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

build/ensure-docker.sh

# Several test clusters run at once: raise the inotify limits the way `dind-cluster doctor` says to.
for limit in max_user_instances=512 max_user_watches=524288; do
  file=/proc/sys/fs/inotify/${limit%=*}
  if [[ -w ${file} ]] && (( $(cat "${file}") < ${limit#*=} )); then echo "${limit#*=}" > "${file}"; fi
done

venv="${DIND_TEST_VENV:-${root}/.venv}"
if [[ ! -x "${venv}/bin/pytest" || pyproject.toml -nt "${venv}/.test-installed" ]]; then
  python3 -m venv "${venv}"
  "${venv}/bin/pip" install --quiet --disable-pip-version-check -e ".[test]"
  touch "${venv}/.test-installed"
fi

# Offline base image (debootstrap + docker import); the node image build starts from it.
DIND_BASE_IMAGE="$(build/base-image.sh | tail -n 1)"
export DIND_BASE_IMAGE

exec "${venv}/bin/python" -m pytest "$@"
