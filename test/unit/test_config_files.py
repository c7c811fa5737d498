"""config.sh and --env-file as users and hostile CI setups write them: every way they go wrong is
one `ERROR: DIND_CONFIG: …` or `ERROR: --env-file: …` line, and nothing is dropped silently."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dind_cluster import settings
from dind_cluster.errors import ConfigError

BASE = {"HOME": "/nonexistent"}


def config_sh(tmp_path, text):
    path = tmp_path / "config.sh"
    path.write_text(text)
    return path


@pytest.mark.parametrize("ending", ["exit 0", "exec true", "exec /bin/echo NUM_NODES=9"])
def test_a_config_sh_that_ends_bash_early_is_an_error_not_a_silent_drop(tmp_path, ending):
    path = config_sh(tmp_path, f"NUM_NODES=5\n{ending}\n")
    with pytest.raises(ConfigError) as err:
        settings.resolve(BASE, config_path=path)
    assert err.value.variable == "DIND_CONFIG"
    assert "exit or exec" in err.value.message


def test_a_background_process_left_by_config_sh_neither_blocks_nor_survives(tmp_path):
    marker = tmp_path / "still-running"
    path = config_sh(tmp_path, f"NUM_NODES=4\n(sleep 30; touch {marker}) &\n")
    started = time.monotonic()
    resolved = settings.resolve(BASE, config_path=path)
    assert time.monotonic() - started < 5
    assert resolved["NUM_NODES"].value == "4"
    time.sleep(0.3)
    assert not processes_mentioning(str(marker)), "config.sh's background job should be gone with its bash"


def processes_mentioning(text):
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            pass
    return found


def test_path_set_in_config_sh_does_not_break_the_reader(tmp_path):
    path = config_sh(tmp_path, "PATH=/nowhere\nNUM_NODES=3\n")
    resolved = settings.resolve(BASE, config_path=path)
    assert resolved["NUM_NODES"].value == "3"


def test_dind_config_may_be_dev_null():
    assert settings.default_config_path({"DIND_CONFIG": "/dev/null"}) == Path("/dev/null")
    assert settings.resolve(BASE, config_path=Path("/dev/null"))["NUM_NODES"].value == "2"


def test_dind_config_may_be_a_process_substitution(tmp_path):
    """bash <(…) hands us /dev/fd/N: a pipe only our process holds."""
    code = ("import os, sys; from dind_cluster import settings; "
            "p = settings.default_config_path(dict(os.environ)); "
            "print(settings.resolve({}, config_path=p)['NUM_NODES'].value)")
    out = subprocess.run(["bash", "-c", f'DIND_CONFIG=<(echo NUM_NODES=6) {sys.executable} -c "{code}"'],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "6"


@pytest.mark.parametrize("target", ["missing", "dir"])
def test_dind_config_that_cannot_be_read_is_an_error(tmp_path, target):
    (tmp_path / "dir").mkdir()
    with pytest.raises(ConfigError, match="DIND_CONFIG"):
        settings.default_config_path({"DIND_CONFIG": str(tmp_path / target)})


@pytest.mark.parametrize("content, words", [
    (b"NUM_NODES=3\nthis is not a binding\n", "line 2"),
    (b"NUM_NODES='3\n", "line 1"),
    (b"NUM_NODES=\xff\xfe\n", "not UTF-8"),
])
def test_a_malformed_env_file_is_a_one_line_error(tmp_path, content, words):
    path = tmp_path / "my.env"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        settings.resolve(BASE, env_file=path)
    assert err.value.variable == "--env-file"
    assert words in err.value.message and "\n" not in err.value.message


def test_an_env_file_that_is_a_directory_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="--env-file"):
        settings.resolve(BASE, env_file=tmp_path)


def test_a_good_env_file_still_works(tmp_path):
    path = tmp_path / "my.env"
    path.write_text("# comment\nNUM_NODES=3\nexport CNI_PLUGIN=ptp\nFEATURE_GATES='A=true'\n\n")
    resolved = settings.resolve(BASE, env_file=path)
    assert (resolved["NUM_NODES"].value, resolved["CNI_PLUGIN"].value, resolved["FEATURE_GATES"].value) == (
        "3", "ptp", "A=true")
