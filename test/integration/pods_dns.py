"""A real forwarding DNS server where CoreDNS stands: in a network namespace attached through a
node's own CNI config, Debian's dnsmasq (the node image has it for its pods' DNS) listens on the
namespace's loopback and forwards to the servers of the file the kubelet hands CoreDNS
(KubeletConfiguration resolvConf); names are then resolved through it with glibc's resolver, as a
pod would."""
from __future__ import annotations

from dind_cluster.backend.containers import exec_in, put_files
from dind_cluster.kubeadm import POD_RESOLV_CONF

from clusters import attach_test_pod, detach_test_pod

NETNS = "podtest"


def pod_resolv_servers(node) -> list:
    """The nameservers of the file the kubelet gives pods with dnsPolicy Default (CoreDNS)."""
    _, text = exec_in(node, ["cat", POD_RESOLV_CONF])
    return [line.split()[1] for line in text.splitlines() if line.startswith("nameserver")]


def resolve_like_coredns(node, names, servers=None) -> dict:
    """{name: set of addresses, empty when unresolved} as seen from a pod on `node`, through a
    dnsmasq in the pod forwarding to `servers` (default: the node's resolvConf file)."""
    servers = servers if servers is not None else pod_resolv_servers(node)
    attach_test_pod(node, NETNS)
    try:
        exec_in(node, ["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"])
        put_files(node, {f"/etc/netns/{NETNS}/resolv.conf": "nameserver 127.0.0.1\noptions timeout:2 attempts:2\n",
                         f"/etc/netns/{NETNS}/hosts": "127.0.0.1 localhost\n"})
        exec_in(node, ["ip", "netns", "exec", NETNS, "dnsmasq", "--no-resolv", "--no-hosts", "--user=root",
                       "--listen-address=127.0.0.1", "--bind-interfaces", "--port=53", "--cache-size=0",
                       f"--pid-file=/run/{NETNS}-dnsmasq.pid", *[f"--server={s}" for s in servers]])
        return {name: _getent(node, name) for name in names}
    finally:
        exec_in(node, ["sh", "-c", f"kill $(cat /run/{NETNS}-dnsmasq.pid) 2>/dev/null; "
                                   f"rm -rf /etc/netns/{NETNS} /run/{NETNS}-dnsmasq.pid"], check=False)
        detach_test_pod(node, NETNS)


def _getent(node, name: str) -> set:
    code, out = exec_in(node, ["ip", "netns", "exec", NETNS, "getent", "ahosts", name], check=False)
    return {line.split()[0] for line in out.splitlines() if line.strip()} if code == 0 else set()
