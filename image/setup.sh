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

# First-boot units ("ConditionNeedsUpdate", true on every new node since the image carries no
# /etc/.updated or /var/.updated stamp): the ld.so cache and the system users are made at build
# time by dpkg (a package installed later in a node runs its own ldconfig trigger and creates its
# own users), the journal's message catalog only explains messages to `journalctl -x`, and
# update-done only writes the stamps.
systemctl mask \
  ldconfig.service systemd-sysusers.service systemd-journal-catalog-update.service \
  systemd-update-done.service
# systemd-sysctl would apply /usr/lib/sysctl.d (kernel.pid_max, kernel.core_pattern): not
# namespaced, so host-wide once /proc/sys is writable (--privileged, or the entrypoint's remount).
# What a node needs is set by Docker (net.*), the entrypoint (bridge-nf-call-*), the kubelet
# (vm.overcommit_memory, kernel.panic*) and kube-proxy (conntrack) themselves.
# systemd-modules-load: nothing is listed in modules-load.d, and the entrypoint loads br_netfilter.
systemctl mask systemd-sysctl.service systemd-modules-load.service

# Generators, run at every boot, with nothing to generate in a node: an empty fstab, no gettys,
# block devices, hibernation, TPM, sshd, rc.local, /system-update or kernel command line of its own,
# and no SysV script without a native unit (dbus and procps have theirs).
mkdir -p /etc/systemd/system-generators
for generator in systemd-fstab-generator systemd-getty-generator systemd-gpt-auto-generator \
    systemd-hibernate-resume-generator systemd-tpm2-generator systemd-ssh-generator \
    systemd-rc-local-generator systemd-system-update-generator systemd-run-generator \
    systemd-debug-generator systemd-sysv-generator; do
  ln -sf /dev/null "/etc/systemd/system-generators/$generator"
done

systemctl enable containerd.service kubelet.service dind-node-setup.service dind-pod-dns.service
systemctl set-default multi-user.target

# dpkg's database is most of the image's /var by file count (600 of 700 files, 85% of what it
# costs to copy /var into each new node's volume) and only read in a running node: it moves next
# to the files it describes, and /var/lib/dpkg links there. A package installed in a node still
# works (dpkg writes through the link, into the container's files, which snapshots keep).
mkdir -p /usr/local/lib/dind
mv /var/lib/dpkg /usr/local/lib/dind/dpkg
ln -s /usr/local/lib/dind/dpkg /var/lib/dpkg

# Each node gets its own machine id at first boot (kubelet reports it as the node's id).
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
