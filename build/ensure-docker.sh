#!/usr/bin/env bash
# Make sure a Docker engine answers (and debootstrap is installed, for base-image.sh).
# Leaves a running engine alone; otherwise installs Debian's docker.io when dockerd is missing,
# starts dockerd in the background and waits until `docker info` works.
# Usage: build/ensure-docker.sh   (DOCKERD_LOG, DOCKERD_TIMEOUT may be set)
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dind-cluster-dockerd.log}"
DOCKERD_TIMEOUT="${DOCKERD_TIMEOUT:-60}"

say() { echo "ensure-docker: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  # Quiet, non-interactive, and only the packages asked for.
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

engine_answers() { docker info >/dev/null 2>&1; }

ensure_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || apt_install debootstrap
}

# Left when this script started dockerd (never for an engine it found running): the engine-restart
# test restarts only an engine the test command itself started.
STARTED_MARKER="${DIND_DOCKERD_MARKER:-/run/dind-cluster/dockerd-started-by-tests}"

start_dockerd() {
  say "starting dockerd (log: $DOCKERD_LOG)"
  # setsid: the daemon must outlive this script and its terminal.
  as_root setsid dockerd >>"$DOCKERD_LOG" 2>&1 < /dev/null &
  as_root mkdir -p "$(dirname "$STARTED_MARKER")"
  echo "$DOCKERD_LOG" | as_root tee "$STARTED_MARKER" >/dev/null
}

wait_for_engine() {
  local waited=0
  until engine_answers; do
    if [ "$waited" -ge "$DOCKERD_TIMEOUT" ]; then
      say "docker engine did not answer within ${DOCKERD_TIMEOUT}s; last lines of $DOCKERD_LOG:"
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

main() {
  ensure_debootstrap
  if engine_answers; then
    return 0
  fi
  command -v docker >/dev/null 2>&1 && command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  # A dockerd that is starting (or whose socket is stale) must not get a twin.
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    start_dockerd
  fi
  wait_for_engine
  say "docker engine is up"
}

main "$@"
