"""DNS64/NAT64 helper configuration (reference §8.2, §8.3): RFC 6052 synthesis, named.conf,
tayga.conf, the files put into the helpers, and their container options."""
from __future__ import annotations

import os
from pathlib import Path

import docker
import pytest

from dind_cluster import helpers64 as h
from dind_cluster.backend.helpers64 import DNS64, NAT64, helper_options
from dind_cluster.naming import CLUSTER_LABEL, ROLE_LABEL
from dind_cluster.plan import make_plan

GOLDEN = Path(__file__).parent / "golden"


def ipv6_plan(**values):
    return make_plan({"IP_MODE": "ipv6", **values})


# RFC 6052 §2.4, the table of examples for 192.0.2.33.
@pytest.mark.parametrize("prefix, address", [
    ("2001:db8::/32", "2001:db8:c000:221::"),
    ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
    ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
    ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
    ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
    ("2001:db8:122:344::/96", "2001:db8:122:344::c000:221"),
])
def test_synthesise_follows_rfc6052_for_every_prefix_length(prefix, address):
    assert h.synthesise(prefix, "192.0.2.33") == address


@pytest.mark.parametrize("name, render", [("named", h.named_conf), ("tayga", h.tayga_conf)])
def test_default_ipv6_configs_match_golden_files(name, render):
    text = render(ipv6_plan())
    path = GOLDEN / f"{name}-ipv6.conf"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()


def test_named_forwards_to_the_remote_server_through_the_nat64_prefix():
    conf = h.named_conf(ipv6_plan(REMOTE_DNS64_V4SERVER="10.1.2.3"))
    assert "forwarders { fd00:10:64:ff9b::a01:203; };" in conf
    assert "forward only;" in conf      # never recurse from the root servers on its own
    assert "listen-on-v6 { any; };" in conf and "allow-query { any; };" in conf


def test_named_forwarder_uses_rfc6052_for_a_64_prefix():
    plan = ipv6_plan(DNS64_PREFIX="fd00:64::", DNS64_PREFIX_SIZE="64",
                     REMOTE_DNS64_V4SERVER="192.0.2.33")
    conf = h.named_conf(plan)
    assert "forwarders { fd00:64::c0:2:2100:0; };" in conf
    assert "dns64 fd00:64::/64 {" in conf


def test_named_always_synthesises_unless_aaaa_use_is_allowed():
    assert "exclude { any; };" in h.named_conf(ipv6_plan())
    allowed = h.named_conf(ipv6_plan(DIND_ALLOW_AAAA_USE="true"))
    assert "exclude" not in allowed and "dns64 fd00:10:64:ff9b::/96 {" in allowed


def test_tayga_uses_the_cluster_offset_nat64_network():
    conf = h.tayga_conf(ipv6_plan(CLUSTER_ID="3"))
    assert "ipv4-addr 172.21.0.200\n" in conf
    assert "dynamic-pool 172.21.0.128/25\n" in conf
    assert "prefix fd00:10:64:ff9b::/96\n" in conf
    assert "tun-device nat64\n" in conf


def test_helper_env_gives_the_entrypoints_their_routes():
    plan = ipv6_plan(CLUSTER_ID="3")
    env = dict(line.split("=", 1) for line in h.helper_env(plan).splitlines())
    assert env == {"DNS64_PREFIX_CIDR": "fd00:10:64:ff9b::/96",
                   "LOCAL_NAT64_SERVER": plan.nat64.ips[1], "NAT64_POOL": "172.21.0.128/25",
                   "NAT64_V4_ADDR": "172.21.0.200"}


@pytest.mark.parametrize("role, conf_path", [(h.DNS64_ROLE, h.NAMED_CONF_PATH),
                                             (h.NAT64_ROLE, h.TAYGA_CONF_PATH)])
def test_helper_files_are_the_env_file_and_the_role_config(role, conf_path):
    files = h.helper_files(ipv6_plan(), role)
    assert set(files) == {h.HELPER_ENV_PATH, conf_path}


@pytest.mark.parametrize("mode", ["ipv4", "dual-stack"])
def test_configs_refuse_plans_without_helpers(mode):
    with pytest.raises(ValueError, match="IP_MODE=ipv6"):
        h.named_conf(make_plan({"IP_MODE": mode}))


def test_config_digest_changes_with_image_or_files_only():
    files = h.helper_files(ipv6_plan(), h.NAT64_ROLE)
    base = h.config_digest("img:1", files, {"ips": ("a",)})
    assert base == h.config_digest("img:1", dict(reversed(list(files.items()))), {"ips": ("a",)})
    assert base != h.config_digest("img:2", files, {"ips": ("a",)})
    other = h.helper_files(ipv6_plan(CLUSTER_ID="3"), h.NAT64_ROLE)
    assert base != h.config_digest("img:1", other, {"ips": ("a",)})


def test_pool_route_sends_the_nat64_pool_to_tayga():
    assert h.pool_route_argv(ipv6_plan()) == ["ip", "route", "replace", "172.18.0.128/25",
                                              "via", "172.18.0.200"]


@pytest.mark.parametrize("docker_host, local", [
    ("", True), ("unix:///var/run/docker.sock", True), ("unix:///run/user/1000/docker.sock", True),
    ("tcp://10.0.0.5:2376", False), ("ssh://me@box", False)])
def test_engine_is_local_only_for_unix_sockets(docker_host, local):
    assert h.engine_is_local(docker_host) is local


class _OfflineClient:
    """The SDK's real APIClient (builds payloads without connecting, given a version)."""
    api = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")


def test_tayga_options_have_tun_net_admin_forwarding_and_both_addresses():
    plan = ipv6_plan(CLUSTER_ID="3")
    opts = helper_options(_OfflineClient(), plan, NAT64, "tayga:x")
    endpoint = opts["networking_config"][plan.network.name]
    assert endpoint["IPAMConfig"] == {"IPv4Address": "172.21.0.200",
                                      "IPv6Address": plan.nat64.ips[1]}
    assert opts["devices"] == ["/dev/net/tun:/dev/net/tun:rwm"]
    assert opts["cap_add"] == ["NET_ADMIN"] and "privileged" not in opts
    assert opts["sysctls"]["net.ipv4.ip_forward"] == "1"
    assert opts["labels"][ROLE_LABEL] == "nat64"
    assert opts["labels"][CLUSTER_LABEL] == plan.cluster_key
    assert opts["name"] == opts["hostname"] == "tayga-cluster-3"


def test_bind9_options_have_only_its_ipv6_address_and_itself_as_resolver():
    plan = ipv6_plan()
    opts = helper_options(_OfflineClient(), plan, DNS64, "bind9:x")
    endpoint = opts["networking_config"][plan.network.name]
    assert endpoint["IPAMConfig"] == {"IPv6Address": "fd00:20::100"}
    assert opts["dns"] == ["fd00:20::100"] and "devices" not in opts
    assert opts["labels"][ROLE_LABEL] == "dns64" and opts["name"] == "bind9"


def test_aaaa_rules_add_snat_and_bridge_forwarding_only_when_missing():
    script = h.aaaa_rules_script("br-0123456789ab", add=True)
    assert ('ip6tables -t nat -C POSTROUTING -o "$main_if" -j MASQUERADE 2>/dev/null || '
            'ip6tables -t nat -A POSTROUTING -o "$main_if" -j MASQUERADE') in script
    assert ("ip6tables -C FORWARD -i br-0123456789ab -j ACCEPT 2>/dev/null || "
            "ip6tables -A FORWARD -i br-0123456789ab -j ACCEPT") in script


def test_aaaa_rules_removal_deletes_only_rules_that_exist():
    script = h.aaaa_rules_script("br-0123456789ab", add=False)
    assert ("! ip6tables -C FORWARD -i br-0123456789ab -j ACCEPT 2>/dev/null || "
            "ip6tables -D FORWARD -i br-0123456789ab -j ACCEPT") in script
    assert " -A " not in script


def test_aaaa_rules_without_a_bridge_only_snat():   # dual-stack: no NAT64 bridge (§8.4)
    script = h.aaaa_rules_script(None, add=True)
    assert "FORWARD" not in script and "MASQUERADE" in script
