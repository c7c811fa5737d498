"""The run-mode probes and host-side helper containers leave nothing behind, not even the anonymous
volume of an image that declares VOLUME /var (as every snapshot image does)."""
import io

import pytest

from dind_cluster.backend import runmode
from dind_cluster.backend.containers import run_once
from dind_cluster.errors import DockerError

pytestmark = pytest.mark.docker


@pytest.fixture
def image_with_volume(engine, scope, node_image):
    tag = f"dind-cluster-test-volume:{scope.value}"
    engine.images.build(fileobj=io.BytesIO(f"FROM {node_image}\nVOLUME /var\n".encode()), tag=tag,
                        labels=scope.labels, rm=True)
    return tag


def volumes(engine) -> set:
    return {v.name for v in engine.volumes.list()}


def test_run_mode_probes_leave_no_anonymous_volume(engine, image_with_volume, monkeypatch):
    monkeypatch.setattr(runmode, "_cache", {})
    before = volumes(engine)
    runmode.detect_run_mode(engine, image_with_volume)
    assert volumes(engine) - before == set()


def test_run_once_returns_output_and_removes_the_container_even_on_failure(engine, image_with_volume, scope):
    before = volumes(engine)
    assert run_once(engine, image_with_volume, "saying hello", entrypoint=["echo", "hello"], command=[],
                    labels=scope.labels) == b"hello\n"
    with pytest.raises(DockerError, match="failing on purpose failed"):
        run_once(engine, image_with_volume, "failing on purpose", entrypoint=["false"], command=[],
                 labels=scope.labels)
    assert engine.containers.list(all=True, filters={"label": f"dind-cluster.io/test={scope.value}"}) == []
    assert volumes(engine) - before == set()
