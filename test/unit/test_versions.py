"""Supported Kubernetes versions: one table in versions.py, and the README's copy agrees with it."""
import re
from pathlib import Path

from dind_cluster import settings, versions

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_rows() -> dict[int, tuple[str, str, str]]:
    """minor -> (kubeadm config, pause tag, upstream) from the README's version table."""
    rows = {}
    for line in README.read_text().splitlines():
        match = re.match(r"^\| 1\.(\d+)(?:–1\.(\d+))? \| (\S+) \| (\S+)[^|]*\| ([^|]+) \|$", line)
        if match:
            first, last = int(match.group(1)), int(match.group(2) or match.group(1))
            for minor in range(first, last + 1):
                rows[minor] = (match.group(3), match.group(4), match.group(5).strip())
    return rows


def test_readme_table_lists_every_supported_minor_as_versions_py_does():
    expected = {minor: (m.kubeadm_api, m.pause, "maintained" if m.maintained else "end of life")
                for minor, m in versions.MINORS.items()}
    assert readme_rows() == expected


def test_settings_default_is_the_one_constant():
    assert settings.DEFAULTS["DIND_K8S_VERSION"] == versions.DEFAULT_K8S_VERSION
    assert f"`{versions.DEFAULT_K8S_VERSION}`" in README.read_text()
