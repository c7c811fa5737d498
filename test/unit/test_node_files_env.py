"""A new node's files travel in its container's environment (images.NODE_FILES_ENV), which the
node's entrypoint unpacks at its first boot: "<id>:<base64 tar>", the ID a hash of the content (the
tar is stamped with its time, so each new container's differs: a restart's doesn't); files too
large for one variable go in as an archive instead."""
from __future__ import annotations

import base64
import io
import tarfile

from dind_cluster.backend.nodes import FILES_ENV_MAX, files_environment
from dind_cluster.images import NODE_FILES_ENV


def unpacked(value: str) -> dict:
    file_id, _, payload = value.partition(":")
    assert len(file_id) == 16 and ":" not in payload
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(payload, validate=True))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_the_variable_carries_every_file_at_its_path():
    files = {"/etc/dind/node.env": "NODE_NAME=kube-master\n", "/etc/cni/net.d/10-dindnet.conflist": b"{}\n"}
    env = files_environment(files)
    assert list(env) == [NODE_FILES_ENV]
    assert unpacked(env[NODE_FILES_ENV]) == {"etc/dind/node.env": b"NODE_NAME=kube-master\n",
                                        "etc/cni/net.d/10-dindnet.conflist": b"{}\n"}


def test_different_files_get_different_ids():
    one = files_environment({"/etc/dind/routes": "a\n"})[NODE_FILES_ENV]
    other = files_environment({"/etc/dind/routes": "b\n"})[NODE_FILES_ENV]
    assert one.partition(":")[0] != other.partition(":")[0]


def test_files_too_large_for_one_variable_are_not_carried_in_it():
    # base64 makes 4 bytes of 3: this content is just over the limit once encoded.
    assert files_environment({"/etc/dind/routes": "r" * (FILES_ENV_MAX * 3 // 4 + 1024)}) is None
    assert files_environment({"/etc/dind/routes": "r" * (FILES_ENV_MAX // 2)}) is not None
