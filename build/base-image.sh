#!/usr/bin/env bash
# Build the offline Debian trixie base image: debootstrap (minbase + the node's trixie packages from
# image/packages.txt) from Debian's mirror, then image/install-packages.sh in the chroot adds the
# packages pinned from another suite (sid's containerd 2.x, runc, CNI plugins), then `docker import`.
# No container registry needed. The name says the content (hash of this script, the package list
# and the install script); an existing image is reused.
# Progress goes to stderr; the image name is printed on the LAST line of stdout.
# Usage: build/base-image.sh   (DEBIAN_MIRROR overrides the mirror read from apt's sources)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
packages_file="$here/../image/packages.txt"
installer="$here/../image/install-packages.sh"
mirror_script="$here/../image/debian-mirror.sh"
suite=trixie
label="dind-cluster.io/image=base"

say() { echo "base-image: $*" >&2; }

entries() { grep -v '^[[:space:]]*\(#\|$\)' "$packages_file"; }
# The packages debootstrap takes from $suite: lines without a suite of their own.
packages() { entries | awk 'NF == 1 {print $1}'; }

image_name() {
  local hash
  hash="$( { cat "${BASH_SOURCE[0]}" "$installer" "$mirror_script"; entries; } | sha256sum | cut -c1-12)"
  echo "dind-cluster-base:${suite}-${hash}"
}

. "$here/../image/debian-mirror.sh"

# What the installer (run in the chroot first) leaves: debootstrap's caches and logs, and this
# machine's identity. The installer drops package lists, docs, manuals and locales itself.
slim_rootfs() {
  local root="$1"
  rm -rf "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
         "$root"/var/log/*.log "$root"/etc/hostname "$root"/var/lib/dbus/machine-id
  # Every node must generate its own machine id at first boot.
  : > "$root/etc/machine-id"
  # The build host's resolver means nothing in a container (the engine mounts its own).
  [ -L "$root/etc/resolv.conf" ] || : > "$root/etc/resolv.conf"
  mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
  printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
    'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
    'path-exclude /usr/share/locale/*' > "$root/etc/dpkg/dpkg.cfg.d/01-dind-nodoc"
}

# The pinned packages (lines with a suite), installed in the chroot by the node image's own
# installer, so the base image and a node image built on a stock Debian image get the same ones.
pinned_packages() {
  local root="$1"
  say "installing the pinned packages: $(entries | awk 'NF > 1 {printf "%s ", $1}')"
  mkdir -p "$root/var/tmp/dind-build"
  cp "$packages_file" "$installer" "$mirror_script" "$root/var/tmp/dind-build/"
  mount -t proc proc "$root/proc"
  chroot "$root" sh /var/tmp/dind-build/install-packages.sh /var/tmp/dind-build/packages.txt >&2
  umount "$root/proc"
  rm -rf "$root/var/tmp/dind-build"
}

build() {
  local name="$1" mirror root start
  mirror="${DEBIAN_MIRROR:-$(debian_mirror)}"
  root="$(mktemp -d /var/tmp/dind-base.XXXXXX)"
  # Global copy: the EXIT trap runs after this function's locals are gone.
  rootfs_tmp="$root"
  # Unmount first: the chroot's /proc must not be walked by rm.
  # (set -e holds in the trap too: an already unmounted /proc must not fail the script)
  trap 'umount "$rootfs_tmp/proc" 2>/dev/null || true; rm -rf --one-file-system "$rootfs_tmp"' EXIT
  say "debootstrap $suite from $mirror (this takes about a minute)"
  start=$SECONDS
  debootstrap --variant=minbase --include="$(packages | paste -sd, -)" \
    "$suite" "$root" "$mirror" >&2
  say "debootstrap took $((SECONDS - start))s"
  pinned_packages "$root"
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
