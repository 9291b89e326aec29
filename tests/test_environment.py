"""environment.yml (for conda users) and pyproject.toml (for pip) ask for the same things, what
the package imports is declared, and a first install and run stay quiet."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
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
    # environment.yml is also what Binder builds the site's launch buttons from: site included.
    pip_side = _pyproject_requirements(("dev", "site", "app"))
    conda_side = _conda_pip_requirements()
    assert sorted(conda_side) == sorted(pip_side), (
        "environment.yml and pyproject.toml list different packages: "
        f"only in pyproject: {sorted(set(pip_side) - set(conda_side))}, "
        f"only in environment.yml: {sorted(set(conda_side) - set(pip_side))}"
    )
    differing = {n: (pip_side[n], conda_side[n]) for n in pip_side if pip_side[n] != conda_side[n]}
    assert not differing, f"pins differ between pyproject.toml and environment.yml: {differing}"


def test_every_place_that_names_the_supported_pythons_agrees():
    from coursekit.checks import SUPPORTED_PYTHONS

    oldest, newest = SUPPORTED_PYTHONS[0], SUPPORTED_PYTHONS[-1]
    span = f">={oldest[0]}.{oldest[1]},<{newest[0]}.{newest[1] + 1}"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python == [f"python{span}"]
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"] == span
    makefile = (ROOT / "Makefile").read_text()
    listed = re.search(r"^SUPPORTED_PYTHONS := (.+)$", makefile, re.M).group(1).split()
    assert listed == [f"{a}.{b}" for a, b in reversed(SUPPORTED_PYTHONS)]  # newest first


def test_every_runtime_dependency_is_pinned_exactly():
    unpinned = [r for r in _pyproject_requirements(("dev", "local", "site")).values() if "==" not in r]
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


def _third_party_imports(path: Path) -> dict[str, bool]:
    """Top-level names a file imports from outside the stdlib and the course -> imported at
    module level (True) or only inside a function (False)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, bool] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in ("helpers", "coursekit"):
                found[top] = found.get(top, False) or node in tree.body
    return found


def test_what_the_package_imports_it_declares():
    """helpers/ and coursekit/ import only declared distributions (helpers at module level only
    base ones); the `data` extra (rebuilding data/) is for scripts/build_data.py alone."""
    from importlib.metadata import packages_distributions

    # An extra that is not installed has no owner to look up: its modules are named here by the
    # distribution that provides them (cv2 is the one whose names differ).
    owners = {"cv2": ["opencv-python-headless"], **packages_distributions()}
    base = set(_pyproject_requirements(()))
    declared = set(_pyproject_requirements(("dev", "local", "app")))
    undeclared, not_base = [], []
    for path in sorted([*(ROOT / "helpers").rglob("*.py"), *(ROOT / "coursekit").rglob("*.py")]):
        for module, at_top in _third_party_imports(path).items():
            dists = {_name(d) for d in owners.get(module, [module])}
            where = f"{path.relative_to(ROOT)}: {module}"
            if not dists & declared:
                undeclared.append(where)
            elif at_top and path.parts[-2] == "helpers" and not dists & base:
                not_base.append(where)
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    assert not not_base, f"helpers import these at module level, so they belong in the base list: {not_base}"
    data = set(_pyproject_requirements(("data",))) - base
    assert data == {"imageio-ffmpeg"} and not data & declared


def test_the_licence_is_an_spdx_string_setuptools_reads_without_a_warning():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["project"]["license"] == "Apache-2.0"  # the table form is deprecated
    [backend] = [r for r in config["build-system"]["requires"] if _name(r) == "setuptools"]
    assert backend.replace(" ", "") == "setuptools>=77"  # the first release that reads SPDX strings


def test_course_kernels_are_encrypted_when_libzmq_can():
    import nbval.kernel
    import zmq

    from coursekit.kernels import EncryptedKernelManager

    assert EncryptedKernelManager().transport_encryption == ("auto" if zmq.has("curve") else "disabled")
    assert nbval.kernel.KernelManager is EncryptedKernelManager  # tests/conftest.py: strict nbval too


@pytest.mark.integration
def test_a_course_kernel_starts_without_the_plain_text_warning(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import nbformat
        from nbclient import NotebookClient
        from coursekit.kernels import EncryptedKernelManager
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")])
        NotebookClient(nb, kernel_name="python3", kernel_manager_class=EncryptedKernelManager).execute()
        print(nb.cells[0].outputs[0]["text"], end="")
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0 and done.stdout == "42\n", done.stderr
    assert "without encryption" not in done.stderr, done.stderr


def test_the_pre_flight_check_takes_every_supported_python_and_names_them_when_it_refuses():
    from coursekit.checks import SUPPORTED_PYTHONS, python_version

    assert all(python_version(version).ok for version in SUPPORTED_PYTHONS)
    for version in ((3, 10), (3, 14)):
        refused = python_version(version)
        assert not refused.ok and "3.11, 3.12, 3.13" in refused.detail and "make install" in refused.detail
