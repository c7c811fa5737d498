"""Settings that `up` reads late (DIND_WAIT_TIMEOUT, APISERVER_PORT) are refused before any
Docker object exists: a one-line ConfigError, not a traceback after the nodes were made."""
import pytest

from dind_cluster.actions import cluster, steps
from dind_cluster.actions.context import ActionContext
from dind_cluster.errors import ConfigError
from dind_cluster.plan import make_plan
from dind_cluster.ui import Progress

# An engine that can't answer: reaching Docker would raise EngineUnreachable, not ConfigError.
NO_ENGINE = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "HOME": "/nonexistent"}


def _ctx(**values: str) -> ActionContext:
    return ActionContext(plan=make_plan(values), values=values, environ=NO_ENGINE,
                         progress=Progress(quiet=True))


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan", "inf", "5m"])
def test_bad_wait_timeout_is_refused_before_docker(value):
    for step in (cluster.fresh_up, cluster.restore):
        with pytest.raises(ConfigError, match=r"^DIND_WAIT_TIMEOUT: '.*' is not a number of seconds"):
            step(_ctx(DIND_WAIT_TIMEOUT=value))


@pytest.mark.parametrize("value", ["abc", "0", "70000"])
def test_bad_apiserver_port_is_refused_before_docker(value):
    with pytest.raises(ConfigError, match=r"^APISERVER_PORT: "):
        cluster.fresh_up(_ctx(APISERVER_PORT=value))


@pytest.mark.parametrize("value, seconds", [("", 300.0), ("120", 120.0), ("1.5", 1.5)])
def test_wait_timeout_accepts_positive_seconds(value, seconds):
    assert steps.wait_timeout(_ctx(DIND_WAIT_TIMEOUT=value)) == seconds


def test_init_does_not_need_a_wait_timeout():
    """`init` stops before the wait, so only the port is checked up front."""
    steps.check_values(_ctx(DIND_WAIT_TIMEOUT="abc"), waits=False)
