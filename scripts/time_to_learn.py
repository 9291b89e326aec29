#!/usr/bin/env python
"""How long a learner needs for each chapter: one rule, applied to what the chapter holds.

    python scripts/time_to_learn.py           # print the estimate per chapter and how it was made
    python scripts/time_to_learn.py --write   # set every chapter's "Time to learn" and INSTRUCTORS.md

The rule: reading prose at 200 words a minute; reading, running and looking at the output of code at
15 lines a minute; 10 minutes per exercise (a cell tagged ``solution``); rounded up to 5 minutes.
tests/test_time_to_learn.py keeps each chapter's Prerequisites and INSTRUCTORS.md equal to it.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

from navigation import chapters  # scripts/: the one list of chapters, in order

ROOT = Path(__file__).resolve().parents[1]
WORDS_PER_MINUTE = 200
CODE_LINES_PER_MINUTE = 15
MINUTES_PER_EXERCISE = 10
LINE = re.compile(r"(- \*\*Time to learn\*\*: )\d+ minutes")
ROW = re.compile(r"^(\| (\d\d) · [^|]+\| )[^|]+(\|)", re.M)
TOTAL = re.compile(r"^(\| \*\*All\*\* \| )\*\*[^*]+\*\*", re.M)


def parts(path: Path) -> dict[str, int]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = lambda c: "".join(c["source"])  # noqa: E731
    return {
        "words": sum(len(text(c).split()) for c in cells if c["cell_type"] == "markdown"),
        "code_lines": sum(len([l for l in text(c).splitlines() if l.strip()])
                          for c in cells if c["cell_type"] == "code"),
        "exercises": sum("solution" in c.get("metadata", {}).get("tags", []) for c in cells),
    }


def minutes(path: Path) -> int:
    p = parts(path)
    raw = (p["words"] / WORDS_PER_MINUTE + p["code_lines"] / CODE_LINES_PER_MINUTE
           + p["exercises"] * MINUTES_PER_EXERCISE)
    return 5 * math.ceil(raw / 5)


def estimates() -> dict[str, int]:
    return {path.name[:2]: minutes(path) for path in chapters()}


def as_hours(total: int) -> str:
    return f"{total // 60} h {total % 60:02d} min" if total >= 60 else f"{total} min"


def write() -> None:
    found = estimates()
    for path in chapters():
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            source = "".join(cell["source"])
            if cell["cell_type"] == "markdown" and LINE.search(source):
                cell["source"] = LINE.sub(rf"\g<1>{found[path.name[:2]]} minutes", source).splitlines(True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    guide = ROOT / "INSTRUCTORS.md"
    text = ROW.sub(lambda m: f"{m.group(1)}{found[m.group(2)]} min {m.group(3)}"
                   if m.group(2) in found else m.group(0), guide.read_text(encoding="utf-8"))
    text = TOTAL.sub(rf"\g<1>**{as_hours(sum(found.values()))}**", text)
    guide.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    if parser.parse_args().write:
        write()
    for path in chapters():
        p = parts(path)
        print(f"{path.stem:16} {p['words']:5} words {p['code_lines']:4} code lines "
              f"{p['exercises']:2} exercises -> {minutes(path):3} min")
    print(f"all: {as_hours(sum(estimates().values()))}")


if __name__ == "__main__":
    main()
