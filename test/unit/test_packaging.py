"""The wheel carries everything the tool reads: every package, the templates and image/ (kept at the
top of the checkout, mapped into the wheel as dind_cluster/image by pyproject.toml)."""
from __future__ import annotations

import tomllib
from pathlib import Path

from dind_cluster.paths import image_dir

REPO = Path(__file__).resolve().parents[2]


def _setuptools() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_directory_is_listed_for_the_wheel():
    found = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "dind_cluster").rglob("__init__.py")}
    listed = set(_setuptools()["packages"])
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"


def test_image_directory_reaches_the_wheel_as_package_data_from_the_top_level():
    config = _setuptools()
    assert config["package-dir"]["dind_cluster.image"] == "image"
    assert "**/*" in config["package-data"]["dind_cluster.image"]
    assert (REPO / "image" / "Dockerfile").is_file()


def test_image_files_are_found_in_the_installed_package_first(tmp_path):
    package = tmp_path / "site-packages" / "dind_cluster"
    (package / "image").mkdir(parents=True)
    assert image_dir(package) == package / "image"


def test_image_files_are_found_in_the_checkout_when_not_installed(tmp_path):
    package = tmp_path / "clone" / "dind_cluster"
    package.mkdir(parents=True)
    assert image_dir(package) == tmp_path / "clone" / "image"
    assert image_dir() == REPO / "image"
