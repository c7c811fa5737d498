#!/usr/bin/env python3
# STAND-IN FOR TESTS: regenerates the kubelet and kube-proxy field lists at the end of bin/kubeadm.
"""Reads the Go config types of kubernetes/kubelet, kubernetes/kube-proxy and
kubernetes/component-base at each minor's tag (git clones given as arguments) and prints the
field lists in the stand-in's format (see README.md, "Config checks"): one JSON path per line,
`[]` for list items, `{}` for maps (anything below), an optional `since-until` minor range.

    test/standin/update-fields.py KUBELET_GIT KUBE_PROXY_GIT COMPONENT_BASE_GIT > fields.txt
"""
import re
import subprocess
import sys

MINORS = range(31, 38)
# Types from packages not read here: core/v1 (Taint, ResourceList) and apimachinery's scalars.
EXTERNAL = {"Taint": {"key": "", "value": "", "effect": "", "timeAdded": ""}, "ResourceList": "map",
            "TimeOrMetaDuration": "scalar", "QuantityValue": "scalar"}


def tag(minor):
    return f"v0.{minor}.0" if minor < 37 else "v0.37.0-beta.0"  # 1.37: the newest tag in the clones


def show(repo, minor, path):
    return subprocess.run(["git", "-C", repo, "show", f"{tag(minor)}:{path}"], capture_output=True,
                          text=True, check=True).stdout


def parse_types(text, types):
    """Go struct and named slice/map types -> types[name] = [(json name, type, inline)] or str."""
    for name, body in re.findall(r"^type (\w+) struct \{\n(.*?)^\}", text, re.M | re.S):
        fields = []
        for line in body.splitlines():
            line = line.split("//")[0].strip()
            tag_match = re.search(r'`json:"([^"]*)"', line)
            if not tag_match:
                continue
            words = line[:line.index("`")].split()
            json_name = tag_match.group(1).split(",")[0]
            if json_name == "-":
                continue
            gotype = words[-1]
            fields.append((json_name, gotype, json_name == "" or len(words) == 1))
        types[name] = fields
    for name, gotype in re.findall(r"^type (\w+) ((?:\[\]|map\[)\S+)$", text, re.M):
        types[name] = gotype


def paths(gotype, types, prefix):
    gotype = gotype.lstrip("*")
    if gotype.startswith("[]"):
        yield from paths(gotype[2:], types, prefix + "[]")
        return
    if gotype.startswith("map["):
        yield prefix + "{}"
        return
    base = gotype.split(".")[-1]
    known = EXTERNAL.get(base, types.get(base, "scalar"))
    if known == "map":
        yield prefix + "{}"
    elif isinstance(known, str) and known != "scalar":
        yield from paths(known, types, prefix)
    elif isinstance(known, dict):
        yield from (f"{prefix}.{k}" for k in known)
    elif known == "scalar":
        yield prefix
    else:
        for json_name, field_type, inline in known:
            yield from paths(field_type, types, prefix if inline else f"{prefix}.{json_name}".lstrip("."))


def field_sets(kubelet, proxy, base):
    sources = {"KubeletConfiguration": (kubelet, "config/v1beta1/types.go"),
               "KubeProxyConfiguration": (proxy, "config/v1alpha1/types.go")}
    result = {kind: {} for kind in sources}
    for minor in MINORS:
        types = {}
        for path in ("config/v1alpha1/types.go", "logs/api/v1/types.go", "tracing/api/v1/types.go"):
            parse_types(show(base, minor, path), types)
        for kind, (repo, path) in sources.items():
            kind_types = dict(types)
            parse_types(show(repo, minor, path), kind_types)
            for p in paths(kind, kind_types, ""):
                if p not in ("", "apiVersion", "kind"):
                    result[kind].setdefault(p, []).append(minor)
    return result


def main(kubelet, proxy, base):
    for kind, found in field_sets(kubelet, proxy, base).items():
        source = "kubernetes/kubelet config/v1beta1/types.go" if kind.startswith("Kubelet") else \
            "kubernetes/kube-proxy config/v1alpha1/types.go"
        group = "kubelet.config.k8s.io/v1beta1" if kind.startswith("Kubelet") else "kubeproxy.config.k8s.io/v1alpha1"
        print(f"@ {group} {kind} 31-37 {source} (+ component-base) at {', '.join(tag(m) for m in MINORS)}")
        for p, minors in found.items():
            span = "" if minors == list(MINORS) else f" {minors[0]}-{minors[-1]}"
            print(p + span)


if __name__ == "__main__":
    main(*sys.argv[1:4])
