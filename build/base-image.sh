#!/usr/bin/env bash
# Build the offline Debian bookworm base image: debootstrap (minbase + the node's packages from
# image/packages.txt) from Debian's mirror, then `docker import`. No container registry needed.
# The name says the content (hash of this script and the package list); an existing image is reused.
# Progress goes to stderr; the image name is printed on the LAST line of stdout.
# Usage: build/base-image.sh   (DEBIAN_MIRROR overrides the mirror read from apt's sources)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
packages_file="$here/../image/packages.txt"
suite=bookworm
label="dind-cluster.io/image=base"

say() { echo "base-image: $*" >&2; }

packages() { grep -v '^[[:space:]]*\(#\|$\)' "$packages_file" | tr -d ' \t'; }

image_name() {
  local hash
  hash="$( { cat "${BASH_SOURCE[0]}"; packages; } | sha256sum | cut -c1-12)"
  echo "dind-cluster-base:${suite}-${hash}"
}

# The mirror this machine's apt uses (deb822 or one-line format), else Debian's default.
debian_mirror() {
  local uri=""
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    uri="$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri="$(awk '/^deb / && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)"
  fi
  echo "${DEBIAN_MIRROR:-${uri:-http://deb.debian.org/debian}}"
}

# Docs, manuals, package lists and caches are dead weight in a node.
slim_rootfs() {
  local root="$1"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
         "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
         "$root"/var/log/*.log "$root"/etc/hostname "$root"/var/lib/dbus/machine-id
  find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  # Every node must generate its own machine id at first boot.
  : > "$root/etc/machine-id"
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/locale/*' > "$root/etc/dpkg/dpkg.cfg.d/01-dind-nodoc"
}

build() {
  local name="$1" mirror root start
  mirror="$(debian_mirror)"
  root="$(mktemp -d /var/tmp/dind-base.XXXXXX)"
  # Global copy: the EXIT trap runs after this function's locals are gone.
  rootfs_tmp="$root"
  trap 'rm -rf "$rootfs_tmp"' EXIT
  say "debootstrap $suite from $mirror (this takes about a minute)"
  start=$SECONDS
  debootstrap --variant=minbase --include="$(packages | paste -sd, -)" \
    "$suite" "$root" "$mirror" >&2
  say "debootstrap took $((SECONDS - start))s"
  slim_rootfs "$root"
  start=$SECONDS
  tar -C "$root" --numeric-owner -c . | docker import \
    --change "LABEL $label" --change 'ENV container=docker' --change 'CMD ["/bin/bash"]' \
    - "$name" >&2
  say "docker import took $((SECONDS - start))s"
}

main() {
  local name
  name="$(image_name)"
  if docker image inspect "$name" >/dev/null 2>&1; then
    say "reusing $name"
  else
    build "$name"
  fi
  echo "$name"
}

main "$@"
