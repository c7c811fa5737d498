# dind-cluster configuration, sourced by bash before every command (DIND_CONFIG=path selects another
# file; EMBEDDED_CONFIG=y skips it). Precedence: defaults < this file < --env-file < environment < flags.
# Everything below is a commented default; uncomment and change what you need. `${VAR:-x}` keeps a value
# given in the environment, and `if` blocks work as in bash.

# Number of worker nodes (0 = master only, schedulable).
# NUM_NODES=${NUM_NODES:-2}

# Control-plane nodes; more than 1 puts a haproxy load balancer (kube-lb) in front of them.
# NUM_MASTERS=${NUM_MASTERS:-1}

# Docker CPU and memory limits of every node (or DIND_MASTER_* / DIND_WORKER_* per role), e.g. 2 and 4g;
# the kubelet reserves the host's rest, so a node's allocatable is its limit. Unset: no limit.
# DIND_NODE_CPUS=
# DIND_NODE_MEMORY=

# ipv4, ipv6 or dual-stack.
# IP_MODE=${IP_MODE:-ipv4}

# Clusters side by side: CLUSTER_ID (1..254) and/or DIND_LABEL give names a suffix
# (-cluster-<id>, -<label>, -<label>-<id>) and inject the id into the management network.
# CLUSTER_ID=
# DIND_LABEL=

# Management network(s) of the node containers, IPv4 first in dual-stack.
# Defaults: 10.192.0.0/24 (ipv4), fd00:20::/64 (ipv6), both (dual-stack).
# MGMT_CIDRS=
# Legacy form, used only when both are set and MGMT_CIDRS is not.
# DIND_SUBNET=
# DIND_SUBNET_SIZE=
# As in kubeadm-dind-cluster, non-IPv4 modes have a legacy subnet that takes effect with DIND_SUBNET_SIZE:
if [ "${IP_MODE:-ipv4}" != "ipv4" ]; then
  DIND_SUBNET="${DIND_SUBNET:-fd00:10::}"
fi

# Pod supernet(s), split per node (/24 per node for IPv4, which must be a /16).
# Defaults: 10.244.0.0/16 (192.168.0.0/16 for calico), fd00:40::/72 (ipv6), both (dual-stack).
# POD_NETWORK_CIDR=

# Service network. Defaults: 10.96.0.0/12 (ipv4), fd00:30::/110 (ipv6 and dual-stack).
# SERVICE_CIDR=

# IPv6 only: DNS64 prefix, the NAT64 IPv4 mapping /16 (CLUSTER_ID is added to its 2nd octet),
# and the upstream DNS server the DNS64 helper forwards to.
# DNS64_PREFIX=fd00:10:64:ff9b::
# DNS64_PREFIX_SIZE=96
# NAT64_V4_SUBNET_PREFIX=172.18
# REMOTE_DNS64_V4SERVER=8.8.8.8
# ipv4 and dual-stack: the IPv4 DNS server nodes (and, through them, pods and CoreDNS) forward to;
# empty: the Docker engine's own resolvers.
# DIND_DNS_SERVER=
# Use real AAAA records instead of synthesising from A records (always on in dual-stack).
# DIND_ALLOW_AAAA_USE=

# Pod network: bridge (default), ptp, flannel, calico, calico-kdd, weave, kube-router.
# CNI_PLUGIN=bridge
# Bridge CNI hairpin mode (default false for ipv4, true otherwise).
# USE_HAIRPIN=

# Kubernetes version of the node image, or local binaries and control-plane image archives for offline builds.
# DIND_K8S_VERSION=v1.37.1   # 1.31 to 1.37 (README: Kubernetes versions)
# DIND_K8S_BIN_DIR=
# DIND_K8S_IMAGES_DIR=
# A directory of kubeadm patch files (kubeadm --patches: target[suffix][+patchtype].json|yaml), applied on every node.
# DIND_KUBEADM_PATCHES=
# DIND_BASE_IMAGE=debian:trixie-slim
# Go on although Docker uses the btrfs storage driver (up refuses it otherwise, as the original).
# RUN_ON_BTRFS_ANYWAY=

# Feature gates for apiserver, controller-manager and scheduler ("none" = not set), and for the kubelet.
# FEATURE_GATES=none
# KUBELET_FEATURE_GATES=none
# Any APISERVER_<flag>, CONTROLLER_MANAGER_<flag> or SCHEDULER_<flag> (lowercase, _ for -) becomes --<flag>=value:
# APISERVER_audit_log_maxage=3

# Host port of the apiserver on loopback (default: a free random port), and a program called with it.
# APISERVER_PORT=
# DIND_PORT_FORWARDER=

# Registry mirrors: a URL (a mirror of Docker Hub) or REGISTRY=URL, comma-separated; insecure registries
# (plain HTTP or unverified HTTPS): a JSON list or a comma list. Both become containerd host files in every
# node at every up, restore and join (docs/registries.md).
# DIND_REGISTRY_MIRROR=
# DIND_INSECURE_REGISTRIES=
# Proxies for the node image build, the nodes' containerd and kubelet; PROPAGATE takes HTTP_PROXY,
# HTTPS_PROXY and NO_PROXY (either case) from your environment. NO_PROXY gains the cluster's networks.
# DIND_PROPAGATE_HTTP_PROXY=
# DIND_HTTP_PROXY=
# DIND_HTTPS_PROXY=
# DIND_NO_PROXY=
# A local registry for `up` (also `dind-cluster registry up`): push localhost:<port>/app, pods pull it.
# DIND_LOCAL_REGISTRY=
# DIND_LOCAL_REGISTRY_PORT=5000

# Skip the snapshot after the first up (every up is then a full bring-up).
# SKIP_SNAPSHOT=

# How long the Docker engine may take to give its first answer (seconds), and the most
# `split-dump64` unpacks from a CI log (bytes; a hostile log can hold gigabytes of zeros).
# DIND_ENGINE_TIMEOUT=10
# DIND_DUMP_MAX_BYTES=1073741824
