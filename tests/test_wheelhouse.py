"""The offline install a workshop relies on: gather every wheel once, then install with the index
disabled into a fresh virtual environment, exactly as README.md and INSTRUCTORS.md say."""

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_install_from_a_wheelhouse_with_no_index(tmp_path):
    wheelhouse = tmp_path / "wheelhouse"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(wheelhouse),
                    "setuptools", f"{ROOT}[dev]"], check=True, timeout=900)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # --no-index: not one byte from a package index; everything from the wheelhouse.
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-index", "--find-links",
                    str(wheelhouse), "-e", f"{ROOT}[dev]"], check=True, timeout=900)
    probe = subprocess.run(
        [str(python), "-c", "import helpers.store, helpers.embed, nbval, pymilvus, twelvelabs; "
                            "from helpers.checks import pinned_packages; print(pinned_packages())"],
        capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert "ok=True" in probe.stdout, probe.stdout
