"""environment.yml (for conda users) and pyproject.toml (for pip) must ask for the same things."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements(extras: tuple[str, ...]) -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in extras:
        reqs += project["optional-dependencies"][extra]
    return {_name(r): r.replace(" ", "") for r in reqs}


def _conda_pip_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml should have exactly one pip: section"
    return {_name(r): r.replace(" ", "") for r in pip_lists[0] if not r.startswith("-e")}


def test_conda_and_pip_pin_the_same_packages():
    pip_side = _pyproject_requirements(("dev",))
    conda_side = _conda_pip_requirements()
    assert sorted(conda_side) == sorted(pip_side), (
        "environment.yml and pyproject.toml list different packages: "
        f"only in pyproject: {sorted(set(pip_side) - set(conda_side))}, "
        f"only in environment.yml: {sorted(set(conda_side) - set(pip_side))}"
    )
    differing = {n: (pip_side[n], conda_side[n]) for n in pip_side if pip_side[n] != conda_side[n]}
    assert not differing, f"pins differ between pyproject.toml and environment.yml: {differing}"


def test_conda_python_matches_requires_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python == ["python=3.11"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert ">=3.11" in requires and "<3.12" in requires


def test_every_runtime_dependency_is_pinned_exactly():
    unpinned = [r for r in _pyproject_requirements(("dev", "local")).values() if "==" not in r]
    assert not unpinned, f"pin these exactly (and say why in a comment): {unpinned}"


def test_installed_versions_match_the_pins():
    from importlib.metadata import PackageNotFoundError, version

    wrong = {}
    for name, req in _pyproject_requirements(("dev",)).items():
        wanted = req.split("==")[1]
        try:
            have = version(name)
        except PackageNotFoundError:
            wrong[name] = (wanted, "not installed")
            continue
        if have != wanted:
            wrong[name] = (wanted, have)
    assert not wrong, f"installed versions differ from the pins (run `make install`): {wrong}"
