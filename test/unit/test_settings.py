"""Settings precedence: defaults < config.sh < --env-file < environment < flags, with sources."""
import os
from pathlib import Path

import pytest

from dind_cluster import settings
from dind_cluster.errors import ConfigError

BASE_ENV = {"PATH": os.defpath, "HOME": "/nonexistent"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_apply_when_nothing_is_set():
    resolved = settings.resolve(BASE_ENV)
    assert resolved["NUM_NODES"] == settings.Setting("2", "default")
    assert resolved["IP_MODE"].value == "ipv4"


def test_config_sh_overrides_defaults_and_records_its_path(tmp_path):
    cfg = write(tmp_path, "config.sh", "NUM_NODES=5\nCNI_PLUGIN=ptp\n")
    resolved = settings.resolve(BASE_ENV, config_path=cfg)
    assert resolved["NUM_NODES"] == settings.Setting("5", str(cfg))
    assert resolved["CNI_PLUGIN"].value == "ptp"


def test_config_sh_is_evaluated_as_shell_and_sees_higher_layers(tmp_path):
    cfg = write(tmp_path, "config.sh", (
        'NUM_NODES=${NUM_NODES:-4}\n'
        'if [ "$IP_MODE" = ipv6 ]; then SERVICE_CIDR=fd00:99::/110; fi\n'
    ))
    resolved = settings.resolve({**BASE_ENV, "IP_MODE": "ipv6"}, config_path=cfg)
    assert resolved["NUM_NODES"] == settings.Setting("4", str(cfg))
    assert resolved["SERVICE_CIDR"].value == "fd00:99::/110"
    assert resolved["IP_MODE"].source == "environment"


def test_environment_beats_config_sh_even_when_config_assigns_unconditionally(tmp_path):
    cfg = write(tmp_path, "config.sh", "NUM_NODES=5\n")
    resolved = settings.resolve({**BASE_ENV, "NUM_NODES": "1"}, config_path=cfg)
    assert resolved["NUM_NODES"] == settings.Setting("1", "environment")


def test_env_file_sits_between_config_sh_and_environment(tmp_path):
    cfg = write(tmp_path, "config.sh", "NUM_NODES=5\nCNI_PLUGIN=ptp\n")
    env_file = write(tmp_path, "my.env", "NUM_NODES=3\nCNI_PLUGIN=flannel\n")
    resolved = settings.resolve({**BASE_ENV, "CNI_PLUGIN": "calico"}, env_file=env_file, config_path=cfg)
    assert resolved["NUM_NODES"] == settings.Setting("3", "env-file")
    assert resolved["CNI_PLUGIN"] == settings.Setting("calico", "environment")


def test_flags_win_over_everything(tmp_path):
    env_file = write(tmp_path, "my.env", "NUM_NODES=3\n")
    resolved = settings.resolve({**BASE_ENV, "NUM_NODES": "7"}, env_file=env_file, flags={"NUM_NODES": "0", "IP_MODE": None})
    assert resolved["NUM_NODES"] == settings.Setting("0", "flag")
    assert resolved["IP_MODE"].source == "default"


def test_failing_config_sh_is_a_config_error_naming_dind_config(tmp_path):
    cfg = write(tmp_path, "config.sh", "if then fi\n")
    with pytest.raises(ConfigError) as err:
        settings.resolve(BASE_ENV, config_path=cfg)
    assert err.value.variable == "DIND_CONFIG"


def test_missing_env_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="--env-file"):
        settings.resolve(BASE_ENV, env_file=tmp_path / "absent.env")


def test_dind_config_selects_another_file_and_embedded_config_skips_it(tmp_path):
    cfg = write(tmp_path, "other.sh", "NUM_NODES=9\n")
    assert settings.default_config_path({"DIND_CONFIG": str(cfg)}) == cfg
    assert settings.default_config_path({"DIND_CONFIG": str(cfg), "EMBEDDED_CONFIG": "y"}) is None
    with pytest.raises(ConfigError, match="DIND_CONFIG"):
        settings.default_config_path({"DIND_CONFIG": str(tmp_path / "nope.sh")})


def test_repo_config_sh_sets_the_legacy_ipv6_subnet_only_outside_ipv4():
    repo_cfg = Path(__file__).resolve().parents[2] / "config.sh"
    ipv6 = settings.resolve({**BASE_ENV, "IP_MODE": "ipv6"}, config_path=repo_cfg)
    ipv4 = settings.resolve(BASE_ENV, config_path=repo_cfg)
    assert ipv6["DIND_SUBNET"].value == "fd00:10::"
    assert "DIND_SUBNET" not in ipv4


def test_listed_shows_known_names_then_component_args():
    resolved = settings.resolve({**BASE_ENV, "APISERVER_audit_log_maxage": "3", "SCHEDULER_v": "4", "RANDOM_THING": "x"})
    names = [name for name, _ in resolved.listed()]
    assert names[0] == "NUM_NODES"
    assert names[-2:] == ["APISERVER_audit_log_maxage", "SCHEDULER_v"]
    assert "RANDOM_THING" not in names and "PATH" not in names
