#!/usr/bin/env python
"""Previous / contents / next links at the start and the end of every chapter.

    python scripts/navigation.py          # write them (scripts/run_notebooks.py --write does too)
    python scripts/navigation.py --check  # exit 1 when any notebook's links are missing or stale

The links live in markdown cells tagged ``navigation``: the second cell (right after the title)
and the last cell. They are derived from the chapter files, so adding a chapter updates its
neighbours' links on the next run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
TAG = "navigation"
CONTENTS = "[Contents](../README.md#the-chapters)"


def chapters() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def title(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0].source.splitlines()[0] if nb.cells else path.stem
    return first.lstrip("#").strip()


def links(paths: list[Path], index: int) -> str:
    parts = []
    if index > 0:
        parts.append(f"[← {title(paths[index - 1])}]({paths[index - 1].name})")
    parts.append(CONTENTS)
    if index + 1 < len(paths):
        parts.append(f"[{title(paths[index + 1])} →]({paths[index + 1].name})")
    return " · ".join(parts)


def _nav_cell(text: str, cell_id: str):
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata = {"tags": [TAG]}
    cell["id"] = cell_id
    return cell


def with_navigation(nb, text: str, stem: str):
    body = [c for c in nb.cells if TAG not in c.get("metadata", {}).get("tags", [])]
    prefix = stem[:2]
    nb.cells = [body[0], _nav_cell(text, f"{prefix}-nav-top"), *body[1:],
                _nav_cell(text, f"{prefix}-nav-end")]
    return nb


def has_navigation(nb, text: str) -> bool:
    cells = nb.cells
    return (len(cells) >= 3 and cells[1].cell_type == "markdown" and cells[1].source == text
            and cells[-1].cell_type == "markdown" and cells[-1].source == text
            and TAG in cells[1].get("metadata", {}).get("tags", [])
            and TAG in cells[-1].get("metadata", {}).get("tags", []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    paths = chapters()
    stale = []
    for i, path in enumerate(paths):
        nb = nbformat.read(path, as_version=4)
        text = links(paths, i)
        if has_navigation(nb, text):
            continue
        stale.append(path.name)
        if not args.check:
            nbformat.write(with_navigation(nb, text, path.stem), path)
    if args.check and stale:
        print(f"navigation links missing or stale in: {', '.join(stale)}; run `python scripts/navigation.py`")
        return 1
    if not args.check:
        print(f"navigation written in {len(stale)} of {len(paths)} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
