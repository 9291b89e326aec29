"""One set of time estimates: each chapter's Prerequisites and INSTRUCTORS.md's schedule say what
scripts/time_to_learn.py computes from the chapter (prose, code, exercises)."""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import time_to_learn  # noqa: E402


def test_every_chapter_states_the_estimate_its_content_gives():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        text = "".join("".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"])
        stated = re.findall(r"\*\*Time to learn\*\*: (\d+) minutes", text)
        assert stated == [str(time_to_learn.minutes(path))], f"{path.name}: run scripts/time_to_learn.py --write"


def test_the_instructors_schedule_says_the_same():
    guide = (ROOT / "INSTRUCTORS.md").read_text(encoding="utf-8")
    found = time_to_learn.estimates()
    rows = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\| (\d\d) · [^|]+\| (\d+) min \|", guide, re.M)}
    assert rows == found
    assert f"**{time_to_learn.as_hours(sum(found.values()))}**" in guide


def test_the_rule_counts_prose_code_and_exercises(tmp_path):
    cell = lambda kind, text, tags=(): {"cell_type": kind, "source": [text], "metadata": {"tags": list(tags)}}  # noqa: E731
    nb = tmp_path / "99_x.ipynb"
    nb.write_text(json.dumps({"cells": [cell("markdown", "word " * 1000), cell("code", "x = 1\n" * 30),
                                         cell("code", "y = 2", ["solution"])]}))
    assert time_to_learn.parts(nb) == {"words": 1000, "code_lines": 31, "exercises": 1}
    assert time_to_learn.minutes(nb) == 20  # 5 + 2.07 + 10, rounded up to 5
