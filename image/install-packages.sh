#!/bin/sh
# Install the node's Debian packages (image/packages.txt) that the base image lacks, or has at a
# version outside its pin; nothing to do with the offline base image from build/base-image.sh,
# so that build needs no mirror. A line `name suite glob` takes the package from `suite` through
# apt preferences (only that package, only a version matching the glob); the extra source is
# removed afterwards. Then caches and docs are dropped.
set -eu
list="$1"
work=/var/tmp/dind-packages

fail() { echo "install-packages: $*" >&2; exit 1; }
entries() { grep -v '^[[:space:]]*\(#\|$\)' "$list"; }
installed_version() {
  dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null | sed -n 's/^install ok installed //p'
}
matches() { case "$1" in $2) return 0 ;; esac; return 1; }

. "$(dirname "$0")/debian-mirror.sh"

# Source and preferences for one extra suite: never preferred, except the pinned packages.
# check-valid-until=no: mirrors that keep snapshots serve sid Release files past their date
# (signatures are still checked).
add_suite() {
  suite="$1"
  [ -e "/etc/apt/sources.list.d/dind-$suite.list" ] && return 0
  echo "deb [check-valid-until=no] $(debian_mirror) $suite main" > "/etc/apt/sources.list.d/dind-$suite.list"
  printf 'Package: *\nPin: release n=%s\nPin-Priority: -1\n\n' "$suite" > "/etc/apt/preferences.d/dind-$suite"
}
pin() {
  printf 'Package: %s\nPin: version %s\nPin-Priority: 990\n\n' "$1" "$3" >> "/etc/apt/preferences.d/dind-$2"
}

plan() {
  mkdir -p "$work"
  : > "$work/missing"
  entries | while read -r name suite glob; do
    version="$(installed_version "$name")"
    if [ -n "$version" ] && { [ -z "${glob:-}" ] || matches "$version" "$glob"; }; then
      continue
    fi
    echo "$name" >> "$work/missing"
    if [ -n "${suite:-}" ]; then add_suite "$suite"; pin "$name" "$suite" "$glob"; fi
  done
}

check_pins() {
  entries | while read -r name suite glob; do
    [ -n "${glob:-}" ] || continue
    version="$(installed_version "$name")"
    matches "$version" "$glob" \
      || fail "$name is ${version:-not installed}, the pin wants $glob from $suite (image/packages.txt)"
  done
}

plan
missing="$(tr '\n' ' ' < "$work/missing")"
if [ -n "$missing" ]; then
  echo "installing: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  apt-get clean
fi
check_pins
rm -rf "$work" /etc/apt/sources.list.d/dind-*.list /etc/apt/preferences.d/dind-* \
       /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log \
       /usr/share/man/* /usr/share/info/* /usr/share/locale/*
find /usr/share/doc -mindepth 1 ! -name copyright ! -type d -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
