"""Gates that keep the repo clean: notebooks in the course's shape with replayable outputs, and
no secret anywhere in what git tracks."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# The headings every chapter has, in this order (the Project Pythia cookbook shape).
SHAPE = ("Overview", "Prerequisites", "Summary", "What's next")
KEY_LIKE = re.compile(r"tlk_[A-Za-z0-9]{8,}|x-api-key\"?\s*[:=]\s*\"?[A-Za-z0-9_-]{16,}", re.I)


def _tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_are_notebooks():
    names = [p.stem for p in NOTEBOOKS]
    assert names[:4] == ["00_setup", "01_embed", "02_insert", "03_search"], names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_shape_and_clean_metadata(path):
    nb = _load(path)
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown", "the first cell must be markdown (the title)"
    assert "".join(cells[0]["source"]).startswith("# "), "the first cell starts with the chapter title"
    assert set(nb["metadata"]) <= {"kernelspec", "language_info"}, f"stray metadata: {set(nb['metadata'])}"
    for cell in cells:
        assert set(cell.get("metadata", {})) <= {"tags"}, f"stray cell metadata: {cell['metadata']}"
    headings = [line.lstrip("#").strip() for c in cells if c["cell_type"] == "markdown"
                for line in "".join(c["source"]).splitlines() if line.startswith("## ")]
    positions = []
    for wanted in SHAPE:
        found = [i for i, h in enumerate(headings) if h.startswith(wanted)]
        assert found, f"missing a '## {wanted}' section"
        positions.append(found[0])
    assert positions == sorted(positions), f"sections out of order: {SHAPE}"
    assert "Time to learn" in "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_outputs_are_from_a_clean_top_to_bottom_run(path):
    code = [c for c in _load(path)["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        "execution counts must run 1..n (one clean run top to bottom: `make notebooks`)"
    )
    for cell in code:
        for output in cell["outputs"]:
            assert output["output_type"] != "error", "a stored output is an error traceback"
            data = output.get("data", {})
            assert "application/vnd.jupyter.widget-view+json" not in data, "widget state was committed"
            text = json.dumps(output)
            assert "/work/" not in text and "/home/" not in text, "an absolute path leaked into an output"


def test_no_key_like_string_in_any_tracked_file():
    hits = []
    for path in _tracked_files():
        if not path.is_file() or path.suffix in {".mp4", ".avi", ".png", ".jpg"}:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        for match in KEY_LIKE.finditer(text):
            if "REDACTED" in match.group(0) or path.name.startswith("test_"):
                continue  # tests hold obviously fake keys to prove the scrubbing works
            hits.append(f"{path.relative_to(ROOT)}: {match.group(0)[:12]}…")
    assert not hits, f"key-like strings are tracked: {hits}"


def test_recordings_carry_provenance_and_no_headers():
    for path in (ROOT / "data" / "recordings").glob("*.json"):
        entry = _load(path)
        assert entry["source"], f"{path.name} does not say where it came from"
        assert set(entry["response"]["headers"]) <= {"content-type"}, path.name
        assert "headers" not in entry["request"], path.name


def test_dotenv_and_local_state_are_ignored():
    for name in (".env", ".stores/x.db", ".cache/x", "logs/x.log", ".venv/x"):
        result = subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT)
        assert result.returncode == 0, f"{name} must be git-ignored"


def test_every_test_marked_integration_by_name_still_exists():
    """conftest marks slow tests by file and name; a renamed test would silently join the fast
    suite, so every name listed there must still be a test function in that file."""
    import ast

    from conftest import INTEGRATION, INTEGRATION_MODULES

    for module in INTEGRATION_MODULES:
        assert (ROOT / "tests" / module).is_file(), f"conftest lists {module}, which is gone"
    for module, names in INTEGRATION.items():
        tree = ast.parse((ROOT / "tests" / module).read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        missing = set(names) - defined
        assert not missing, f"conftest marks {sorted(missing)} in {module}, which has no such test"
