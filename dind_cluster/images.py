"""Pure: what the node image is made of, its content-derived tag, its build context, and where
Kubernetes release binaries live. No Docker, no environment, no file reads: values in, values out."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Mapping, Optional, Sequence, Tuple

from dind_cluster.errors import ConfigError
from dind_cluster.settings import DEFAULT_BASE_IMAGE, DEFAULT_K8S_VERSION

NODE_REPOSITORY = "dind-cluster-node"
IMAGE_LABEL = "dind-cluster.io/image"
VERSION_LABEL = "dind-cluster.io/k8s-version"
HASH_LABEL = "dind-cluster.io/content-hash"
# On a node image whose entrypoint fills an empty /var from the image's own /var (the value): its
# volume can be mounted nocopy, sparing dockerd the copy into every new node's volume.
VAR_SEED_LABEL = "dind-cluster.io/var-seed"
# The node's entrypoint writes the files this variable of its container carries, "<id>:<base64
# tar>", at the container's first boot (backend/nodes.files_environment); a node image says so
# with this label (valued NODE_FILES_ENV). Images without it get their files as an archive.
NODE_FILES_ENV = "DIND_NODE_FILES"
NODE_FILES_LABEL = "dind-cluster.io/node-files-env"
K8S_BINARIES = ("kubeadm", "kubelet", "kubectl")
RELEASE_BASE = "https://dl.k8s.io/release"
NO_IMAGES = "none"  # DIND_K8S_IMAGES_DIR=none: build without preloading control-plane images
ARCHIVE_SUFFIXES = (".tar",)
CTR = ("ctr", "--namespace", "k8s.io")
PINNED_LABEL = "io.cri-containerd.pinned"

_VERSION = re.compile(r"^v\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$")
_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
           "ppc64le": "ppc64le", "s390x": "s390x", "armv7l": "arm"}
OFFLINE_HINT = ("to build offline set DIND_K8S_BIN_DIR (a directory with kubeadm, kubelet, kubectl), "
                "DIND_K8S_IMAGES_DIR (a directory of control-plane image .tar archives, or 'none') "
                "and DIND_BASE_IMAGE (a local base image, e.g. the one build/base-image.sh prints)")


@dataclass(frozen=True)
class NodeImageSettings:
    """The settings that decide what goes into the node image."""

    k8s_version: str
    base_image: str
    bin_dir: Optional[str]     # None: download the release binaries
    images_dir: Optional[str]  # None: pull the control-plane images; NO_IMAGES: preload nothing


@dataclass(frozen=True)
class ImageInputs:
    """Everything whose change must change the tag; file contents are given as sha256 digests."""

    k8s_version: str
    base_image_id: str
    context_files: Mapping[str, str]  # path in image/ -> "<mode>:<sha256>"
    binaries: Mapping[str, str]       # kubeadm/kubelet/kubectl -> sha256
    archives: Mapping[str, str] = field(default_factory=dict)  # archive file name -> sha256
    pull: bool = False                # control-plane images pulled at build time


@dataclass(frozen=True)
class ContextEntry:
    """One file of the docker build context: its name in the tar, where it comes from, its mode."""

    arcname: str
    source: str
    mode: int


def node_image_settings(values: Mapping[str, str]) -> NodeImageSettings:
    """Read and check the DIND_* values that select the node image's content."""
    version = (values.get("DIND_K8S_VERSION") or "").strip() or DEFAULT_K8S_VERSION
    if not _VERSION.match(version):
        raise ConfigError("DIND_K8S_VERSION", f"not a Kubernetes release version: {version!r}",
                          "expected vMAJOR.MINOR.PATCH, e.g. v1.31.4")
    base = (values.get("DIND_BASE_IMAGE") or "").strip() or DEFAULT_BASE_IMAGE
    return NodeImageSettings(version, base, (values.get("DIND_K8S_BIN_DIR") or "").strip() or None,
                             (values.get("DIND_K8S_IMAGES_DIR") or "").strip() or None)


def release_arch(machine: str) -> str:
    """The Kubernetes release architecture for an engine's `Architecture` (x86_64 -> amd64)."""
    try:
        return _ARCHES[machine]
    except KeyError:
        raise ConfigError("engine architecture", f"no Kubernetes release binaries for {machine!r}",
                          f"supported: {', '.join(sorted(set(_ARCHES)))}") from None


def binary_url(version: str, arch: str, name: str, base: str = RELEASE_BASE) -> str:
    return f"{base}/{version}/bin/linux/{arch}/{name}"


def checksum_url(version: str, arch: str, name: str, base: str = RELEASE_BASE) -> str:
    """The published sha256 of a release binary: the binary's URL + `.sha256`."""
    return binary_url(version, arch, name, base) + ".sha256"


def parse_sha256(text: str) -> Optional[str]:
    """The digest from a `.sha256` file (bare digest or `sha256sum` format), None if there is none."""
    words = text.split()
    if words and re.fullmatch(r"[0-9a-fA-F]{64}", words[0]):
        return words[0].lower()
    return None


def archive_names(filenames: Sequence[str]) -> Tuple[str, ...]:
    """The image archives among a directory's file names, in a stable order."""
    return tuple(sorted(n for n in filenames if n.endswith(ARCHIVE_SUFFIXES) and not n.startswith(".")))


def content_hash(inputs: ImageInputs) -> str:
    """12 hex digits that change whenever anything that goes into the image changes."""
    doc = {
        "k8s_version": inputs.k8s_version, "base": inputs.base_image_id,
        "context": dict(sorted(inputs.context_files.items())),
        "binaries": dict(sorted(inputs.binaries.items())),
        "archives": dict(sorted(inputs.archives.items())), "pull": inputs.pull,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


def node_image_tag(version: str, digest: str) -> str:
    """`dind-cluster-node:<k8s version>-<content hash>`; `+` isn't allowed in a Docker tag."""
    return f"{NODE_REPOSITORY}:{version.replace('+', '_')}-{digest}"


def image_labels(version: str, digest: str) -> dict:
    return {IMAGE_LABEL: "node", VERSION_LABEL: version, HASH_LABEL: digest}


def context_plan(image_files: Mapping[str, Tuple[str, int]],
                 binaries: Mapping[str, str]) -> Tuple[ContextEntry, ...]:
    """The build context: image/ as is (path -> (source, mode)), binaries as bin/<name>, 0755."""
    missing = [name for name in K8S_BINARIES if name not in binaries]
    if missing:
        raise ConfigError("DIND_K8S_BIN_DIR", f"missing {', '.join(missing)}",
                          "the directory must hold kubeadm, kubelet and kubectl")
    entries = [ContextEntry(str(PurePosixPath(rel)), src, mode)
               for rel, (src, mode) in sorted(image_files.items())]
    entries += [ContextEntry(f"bin/{name}", binaries[name], 0o755) for name in K8S_BINARIES]
    return tuple(entries)


def import_argv(path: str) -> list:
    """Import an archive into the k8s.io namespace without unpacking: containerd unpacks it
    into the node's snapshotter when the kubelet first needs it (the build container's own
    root is overlayfs, where the overlay snapshotter can't work)."""
    return [*CTR, "images", "import", "--no-unpack", path]


def fetch_argv(ref: str, arch: str) -> list:
    """Pull a control-plane image's content for the node's platform, without unpacking."""
    return [*CTR, "content", "fetch", "--platform", f"linux/{arch}", ref]


def kubeadm_version_argv(kubeadm: str = "kubeadm") -> list:
    return [kubeadm, "version", "-o", "short"]


def images_list_argv(version: str, kubeadm: str = "kubeadm") -> list:
    return [kubeadm, "config", "images", "list", "--kubernetes-version", version]


def pinned_label_argv(ref: str) -> list:
    """Label a preloaded image pinned: the kubelet's image GC never removes pinned images."""
    return [*CTR, "images", "label", ref, f"{PINNED_LABEL}=pinned"]


@dataclass(frozen=True)
class KubeadmImages:
    """What the kubeadm put into the node image reports: its version, the images it lists."""

    version: str
    refs: Tuple[str, ...]

    @property
    def pause(self) -> Optional[str]:
        return pause_image(self.refs)


def kubeadm_images(version_out: str, list_out: str, source: str) -> KubeadmImages:
    """Parse `kubeadm version -o short` and `kubeadm config images list` (stdout only)."""
    version = version_out.strip()
    if not _VERSION.match(version):
        raise ConfigError(source, f"its kubeadm reports version {version[:80]!r}",
                          "expected a Kubernetes release's kubeadm (vMAJOR.MINOR.PATCH)")
    refs = tuple(list_out.split())
    if not refs:
        raise ConfigError(source, f"its kubeadm {version} lists no control-plane images",
                          "expected `kubeadm config images list` to print image references")
    return KubeadmImages(version, refs)


def missing_archive_images(listed: Sequence[str], archived: Sequence[str]) -> Tuple[str, ...]:
    """The listed images no archive holds (both sides already in containerd's normal form)."""
    present = set(archived)
    return tuple(ref for ref in listed if ref not in present)


def archive_image_names(index: Mapping[str, object]) -> Tuple[str, ...]:
    """Image names an archive declares: docker save's manifest.json ({"manifest.json": [...]})
    or an OCI layout's index.json ({"index.json": {...}}), as containerd's import names them."""
    names = []
    for entry in index.get("manifest.json") or []:
        names += entry.get("RepoTags") or []
    for manifest in (index.get("index.json") or {}).get("manifests") or []:
        notes = manifest.get("annotations") or {}
        name = notes.get("io.containerd.image.name") or notes.get("org.opencontainers.image.ref.name")
        if name and ("/" in name or ":" in name):
            names.append(name)
    return tuple(names)


def pause_image(refs: Sequence[str]) -> Optional[str]:
    """The sandbox image among preloaded references (kubeadm lists `registry.k8s.io/pause:<v>`)."""
    found = [r for r in refs if re.search(r"/pause:[^/@]+$", r)]
    return found[0] if found else None


def normalize_ref(ref: str) -> str:
    """Pure: the name containerd gives an image Docker calls `ref` (docker.io/library/…:latest)."""
    name, _, digest = ref.partition("@")
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}" if slash else f"docker.io/library/{name}"
    if ":" not in name.rsplit("/", 1)[-1] and not digest:
        name += ":latest"
    return f"{name}@{digest}" if digest else name
