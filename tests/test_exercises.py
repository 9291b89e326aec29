"""Every chapter ends with exercises whose solutions are tagged; learner copies stay in sync."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import exercises  # noqa: E402

CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _solutions(nb):
    return [c for c in nb.cells if exercises.TAG in c.get("metadata", {}).get("tags", [])]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_two_or_three_exercises_before_its_summary(path):
    nb = nbformat.read(path, as_version=4)
    solutions = _solutions(nb)
    assert 2 <= len(solutions) <= 3, f"{path.name}: {len(solutions)} solution cells"
    assert all(c.cell_type == "code" and c.outputs for c in solutions), "solutions run and show an answer"
    headings = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert any(h.lstrip().startswith("## Exercises") for h in headings)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_learner_copy_has_answer_cells_instead_of_solutions(path):
    nb = nbformat.read(path, as_version=4)
    copy = exercises.learner_copy(nb)
    assert not _solutions(copy)
    answers = [c for c in copy.cells if c.cell_type == "code" and c.source == exercises.ANSWER]
    assert len(answers) == len(_solutions(nb)) and all(not c.outputs for c in answers)
    assert _solutions(nbformat.read(path, as_version=4)), "making a copy must not touch the chapter"


def test_learner_copies_are_in_sync():
    out = subprocess.run([sys.executable, "scripts/exercises.py", "--check"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
