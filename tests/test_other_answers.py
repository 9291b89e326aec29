"""The other-answers job (scripts/other_answers.py): recordings whose vectors come from elsewhere,
and every chapter replayed against them without a cell error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import other_answers  # noqa: E402
from helpers.client import make_client, vectors_note  # noqa: E402
from helpers.settings import load_settings  # noqa: E402


def _vectors(folder: Path) -> dict[str, list[np.ndarray]]:
    """Every recorded vector, by recording name, in order."""
    found = {}
    for path in sorted(folder.glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))["response"]["body"]
        items = body.get("data") if isinstance(body, dict) else None
        found[path.name] = [np.asarray(i["embedding"]) for i in items or [] if "embedding" in i]
    return found


def _cosine(matrix, query):
    matrix, query = np.asarray(matrix), np.asarray(query)
    return matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))


@pytest.fixture(scope="module")
def rewritten(tmp_path_factory):
    out = {}
    for variant in other_answers.VARIANTS:
        folder = tmp_path_factory.mktemp(variant)
        out[variant] = (folder, other_answers.rewrite_recordings(other_answers.RECORDINGS, folder, variant))
    return out


@pytest.mark.parametrize("variant", list(other_answers.VARIANTS))
def test_every_vector_and_source_is_rewritten(rewritten, variant):
    folder, count = rewritten[variant]
    label, _, dimension = other_answers.VARIANTS[variant]
    before, after = _vectors(other_answers.RECORDINGS), _vectors(folder)
    assert count == sum(len(v) for v in before.values()) > 0
    assert before.keys() == after.keys()
    new = [v for vs in after.values() for v in vs]
    assert {v.size for v in new} == {dimension}
    norms = np.linalg.norm(new, axis=1)
    assert not np.allclose(norms, 1.0, atol=0.05), "the rewritten vectors must not be unit length"
    for path in folder.glob("*.json"):
        entry = json.loads(path.read_text(encoding="utf-8"))
        assert entry["source"] == label
        meta = entry["response"]["body"].get("metadata") if isinstance(entry["response"]["body"], dict) else None
        if meta and meta.get("embedding_dimension") is not None:
            assert meta["embedding_dimension"] == dimension


def test_the_same_recorded_vector_becomes_the_same_new_one(rewritten):
    folder, _ = rewritten["random"]
    before, after = _vectors(other_answers.RECORDINGS), _vectors(folder)
    pairs = [(tuple(b), tuple(a)) for name in before for b, a in zip(before[name], after[name])]
    mapping = {}
    for old, new in pairs:
        assert mapping.setdefault(old, new) == new


def test_the_marengo_like_variant_changes_rankings_but_keeps_some_meaning(rewritten):
    folder, _ = rewritten["marengo-like"]
    before, after = _vectors(other_answers.RECORDINGS), _vectors(folder)
    old = np.array([v for vs in before.values() for v in vs])
    new = np.array([v for vs in after.values() for v in vs])
    changed, agree = 0, []
    for i in range(0, len(old), 7):  # every 7th vector as a query against all of them
        a, b = _cosine(old, old[i]), _cosine(new, new[i])
        a[i] = b[i] = -np.inf  # not itself
        changed += int(np.argmax(a) != np.argmax(b))
        agree.append(np.corrcoef(np.argsort(np.argsort(a))[np.isfinite(a)], np.argsort(np.argsort(b))[np.isfinite(b)])[0, 1])
    print(f"nearest neighbour changed for {changed} of {len(agree)} queries; mean rank correlation {np.mean(agree):.3f}")
    assert changed > 0 and np.mean(agree) > 0.5


def test_the_chapters_are_told_the_vectors_come_from_a_model_they_do_not_know(rewritten, tmp_path):
    folder, _ = rewritten["random"]
    settings = load_settings({"TL_MODE": "replay", "TL_RECORDINGS_DIR": str(folder),
                              "COURSE_CACHE_DIR": str(tmp_path / "cache")})
    note = vectors_note(make_client(settings), standin="a caveat only the stand-in needs")
    print(note)
    assert "test variant: unrelated seeded random 768-d vectors" in note
    assert "a model the course does not know" in note and "only the stand-in needs" not in note


def test_every_chapter_runs_against_other_answers(capsys):
    """The job itself: every chapter, every variant, no cell error (outputs are not compared)."""
    code = other_answers.main([])
    out = capsys.readouterr().out
    print(out)
    chapters = len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    for variant in other_answers.VARIANTS:
        assert f"[{variant}] {chapters} of {chapters} chapters ran without a cell error" in out
    assert code == 0
