#!/usr/bin/env python
"""Replay every chapter against answers from a model the course does not know.

    python scripts/other_answers.py                 # every variant, every chapter
    python scripts/other_answers.py random 03 05    # one variant, some chapters (name prefixes)

A learner with a key gets Marengo's vectors, not the recordings' ones: other numbers, other
rankings, another dimension. A chapter must still run top to bottom, and every verdict it prints
must be computed from the answers. For each variant this copies data/recordings into a temporary
folder, rewrites every vector in it (and each recording's ``source``, so the chapters say the
vectors come from a model they do not know), then replays every chapter against that copy with
fresh, temporary Milvus stores and caches. Outputs are not compared; a cell error fails the run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from unittest.mock import patch
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run_notebooks  # noqa: E402  (scripts/run_notebooks.py: one place that executes a chapter)

ROOT = run_notebooks.ROOT
RECORDINGS = ROOT / "data" / "recordings"
SEED = 16


def _rng(vector: list[float], salt: str) -> np.random.Generator:
    """A generator seeded by the vector itself: the same recorded vector (a text asked twice)
    becomes the same new vector wherever it appears, as a real model would answer."""
    digest = hashlib.sha256((salt + json.dumps(vector)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def marengo_like(vector: list[float]) -> np.ndarray:
    """512 numbers, not unit length, rankings partly changed: a fixed random projection (which
    keeps angles roughly), a squashing nonlinearity and a shared offset (which bend them), and a
    random scale per vector (which breaks any code that reads a dot product as a cosine)."""
    x = np.asarray(vector, dtype=np.float64)
    projection = np.random.default_rng(SEED).standard_normal((512, x.size)) / np.sqrt(x.size)
    offset = np.random.default_rng(SEED + 1).standard_normal(512) / np.sqrt(512)
    bent = np.tanh(8.0 * (projection @ x)) + 0.3 * offset
    return bent * _rng(vector, "scale").uniform(0.3, 3.0)


def unrelated(vector: list[float]) -> np.ndarray:
    """768 random numbers that owe nothing to the input but are stable for it."""
    return _rng(vector, "random").standard_normal(768) * 0.05


#: name -> (what each recording's ``source`` says, how a vector is rewritten, its new dimension)
VARIANTS = {
    "marengo-like": ("test variant: 512-d vectors, not unit length, rankings changed "
                     "(seeded random projection, tanh, random scale per vector)", marengo_like, 512),
    "random": ("test variant: unrelated seeded random 768-d vectors", unrelated, 768),
}


def _rewrite(node, change, dimension: int) -> tuple[object, int]:
    """``node`` with every ``embedding`` list replaced by ``change(list)`` (and the dimension a
    task's metadata states by ``dimension``), and how many vectors were replaced."""
    if isinstance(node, list):
        parts = [_rewrite(item, change, dimension) for item in node]
        return [p for p, _ in parts], sum(n for _, n in parts)
    if not isinstance(node, dict):
        return node, 0
    out, count = {}, 0
    for key, value in node.items():
        if key == "embedding" and isinstance(value, list) and value:
            out[key], count = [round(float(v), 6) for v in change(value)], count + 1
        else:
            out[key], n = _rewrite(value, change, dimension)
            count += n
        if key == "embedding_dimension" and isinstance(value, int):
            out[key] = dimension
    return out, count


def rewrite_recordings(source_dir: Path, target_dir: Path, variant: str) -> int:
    """Copy every recording into ``target_dir`` with its vectors and ``source`` rewritten.
    Returns how many vectors were rewritten."""
    label, change, dimension = VARIANTS[variant]
    target_dir.mkdir(parents=True, exist_ok=True)
    total = 0
    for path in sorted(Path(source_dir).glob("*.json")):
        entry = json.loads(path.read_text(encoding="utf-8"))
        entry["response"], count = _rewrite(entry["response"], change, dimension)
        entry["source"] = label
        total += count
        (target_dir / path.name).write_text(json.dumps(entry), encoding="utf-8")
    return total


def run_variant(variant: str, paths: list[Path], timeout: int) -> tuple[int, float]:
    """Replay ``paths`` against ``variant``'s recordings; print one line per chapter.
    Returns (failures, seconds)."""
    started = time.perf_counter()
    failures = 0
    with tempfile.TemporaryDirectory(prefix=f"other-answers-{variant}-") as folder:
        work = Path(folder)
        vectors = rewrite_recordings(RECORDINGS, work / "recordings", variant)
        print(f"[{variant}] {vectors} vectors rewritten: {VARIANTS[variant][0]}", flush=True)
        # patch.dict restores the environment afterwards; kernels inherit it meanwhile.
        with patch.dict(os.environ, TL_MODE="replay", TL_RECORDINGS_DIR=str(work / "recordings"),
                        COURSE_STORES_DIR=str(work / "stores"), COURSE_CACHE_DIR=str(work / "cache"),
                        MILVUS_URI=""):
            for path in paths:
                ok, seconds, detail = run_notebooks.run(path, write=False, timeout=timeout)
                failures += not ok
                print(f"[{variant}] {'ok    ' if ok else 'FAILED'} {seconds:6.1f} s  {path.name}"
                      + (f"  {detail}" if detail else ""), flush=True)
    seconds = time.perf_counter() - started
    print(f"[{variant}] {len(paths) - failures} of {len(paths)} chapters ran without a cell error "
          f"in {seconds:.1f} s", flush=True)
    return failures, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*",
                        help=f"variants ({', '.join(VARIANTS)}) and/or chapter name prefixes (default: all)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    variants = [n for n in args.names if n in VARIANTS] or list(VARIANTS)
    chapters = [n for n in args.names if n not in VARIANTS]
    paths = run_notebooks.chapters(chapters)
    if not paths:
        print("no notebooks matched", file=sys.stderr)
        return 2
    failures = sum(run_variant(variant, paths, args.timeout)[0] for variant in variants)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
