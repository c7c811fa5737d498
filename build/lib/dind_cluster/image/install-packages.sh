#!/bin/sh
# Install the node's Debian packages that the base image lacks (none with the offline base
# image from build/base-image.sh, so that build needs no mirror), then drop caches and docs.
set -eu
list="$1"
missing=""
for pkg in $(grep -v '^[[:space:]]*\(#\|$\)' "$list"); do
  dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' \
    || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
  apt-get clean
fi
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log \
       /usr/share/man/* /usr/share/info/* /usr/share/locale/*
find /usr/share/doc -mindepth 1 ! -name copyright ! -type d -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
