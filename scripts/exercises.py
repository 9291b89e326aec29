#!/usr/bin/env python
"""Learner copies of the chapters, with the exercise solutions taken out.

    python scripts/exercises.py           # write exercises/NN_name.ipynb for every chapter
    python scripts/exercises.py --check   # exit 1 when a learner copy is missing or out of date

In a chapter, each solution is a code cell tagged ``solution``. The learner copy keeps every
other cell with its output, and puts an empty answer cell where each solution was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXERCISES = ROOT / "exercises"
TAG = "solution"
ANSWER = "# Your answer here"


def learner_copy(nb):
    nb = nbformat.from_dict(nb)  # a deep copy: the chapter itself is never changed
    cells = []
    for cell in nb.cells:
        if TAG in cell.get("metadata", {}).get("tags", []):
            answer = nbformat.v4.new_code_cell(ANSWER)
            answer["id"] = f"{cell['id']}-answer"
            cells.append(answer)
        else:
            cells.append(cell)
    nb.cells = cells
    return nb


def render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    stale = []
    chapters = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for chapter in chapters:
        nb = nbformat.read(chapter, as_version=4)
        if not any(TAG in c.get("metadata", {}).get("tags", []) for c in nb.cells):
            continue
        target = EXERCISES / chapter.name
        text = render(learner_copy(nb))
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(target.name)
        if not args.check:
            EXERCISES.mkdir(exist_ok=True)
            target.write_text(text, encoding="utf-8")
    extra = sorted({p.name for p in EXERCISES.glob("*.ipynb")} - {c.name for c in chapters})
    if args.check:
        if stale or extra:
            print(f"learner copies out of date: {stale}; without a chapter: {extra}. "
                  "Run `make exercises`.")
            return 1
        return 0
    print(f"wrote {len(stale)} learner copies in exercises/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
