#!/bin/sh
# Build-time setup of a node: containerd's sandbox image, CNI plugin links, units enabled/masked,
# per-node identity cleared. Usage: setup.sh <sandbox image>
set -eu
sandbox="$1"

# containerd's pinned sandbox image: the pause image kubeadm expects.
sed -i "s|^\([[:space:]]*sandbox\) = \".*\"|\1 = \"$sandbox\"|" /etc/containerd/config.toml
grep -q "^[[:space:]]*sandbox = \"$sandbox\"\$" /etc/containerd/config.toml \
  || { echo "setup.sh: could not set the sandbox image in config.toml" >&2; exit 1; }

# Debian installs the CNI plugins in /usr/lib/cni; kubelet and containerd look in /opt/cni/bin.
mkdir -p /opt/cni/bin /etc/cni/net.d
for plugin in /usr/lib/cni/*; do
  ln -sf "$plugin" "/opt/cni/bin/$(basename "$plugin")"
done

mkdir -p /etc/containerd/conf.d /etc/containerd/certs.d /etc/kubernetes/manifests /var/lib/kubelet /etc/dind /etc/kubeadm

# Units that can't work (or make no sense) in a container.
systemctl mask \
  getty.target console-getty.service serial-getty@.service getty@.service \
  systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
  systemd-udev-trigger.service systemd-udev-settle.service \
  systemd-remount-fs.service systemd-firstboot.service systemd-journald-audit.socket \
  sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount \
  sys-fs-fuse-connections.mount dev-hugepages.mount proc-sys-fs-binfmt_misc.automount \
  apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer \
  e2scrub_reap.service fstrim.timer

# A lean boot: logins, utmp records and boot-time module probes have no use in a node (kept:
# dbus, which systemd's cgroup driver talks to; journald and tmpfiles, which the kubelet relies on).
systemctl mask \
  systemd-logind.service systemd-user-sessions.service \
  systemd-update-utmp.service systemd-update-utmp-runlevel.service modprobe@.service

systemctl enable containerd.service kubelet.service dind-node-setup.service dind-pod-dns.service
systemctl set-default multi-user.target

# Each node gets its own machine id at first boot (kubelet reports it as the node's id).
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
