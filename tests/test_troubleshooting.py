"""The README's "When something goes wrong" table stays true: at least 15 rows, each message one
the helpers really produce, each proved by a test that exists."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## When something goes wrong"
#: How much of a row's message must be text the helpers write (the rest: names, numbers, what
#: the API or the system said), measured by 10-character windows found in the helpers'
#: strings. Every row measured 0.55 or more; plain English sentences 0.22-0.44.
MIN_COVERAGE = 0.5
WINDOW = 10
_PERCENT_FIELD = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdifr]")


def _rows() -> list[dict]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    lines = [l for l in section.splitlines() if l.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        rows.append(dict(zip(header, cells)))
    return rows


def _helper_strings() -> list[str]:
    """Every piece of literal text in helpers/: plain strings, the fixed parts of f-strings,
    and %-format templates cut at their fields."""
    pieces = []
    for path in [*(ROOT / "helpers").rglob("*.py"), *(ROOT / "coursekit").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                pieces.extend(_PERCENT_FIELD.split(node.value))
    return [p for p in pieces if p.strip()]


HELPER_TEXT = "\x00".join(_helper_strings())


def _message(cell: str) -> str:
    """The first code span of the "You see" cell, without its exception class."""
    spans = re.findall(r"`([^`]+)`", cell)
    assert spans, f"no message in backticks: {cell}"
    return re.sub(r"^[A-Z]\w*(Error|NotFound): ", "", spans[0])


def _coverage(message: str) -> float:
    text = message.replace("…", "\x01")
    if len(text) < WINDOW:
        return 1.0 if any(p.strip() == text for p in HELPER_TEXT.split("\x00")) else 0.0
    covered = [False] * len(text)
    for i in range(len(text) - WINDOW + 1):
        if text[i:i + WINDOW] in HELPER_TEXT:
            covered[i:i + WINDOW] = [True] * WINDOW
    counted = [c for c, ch in zip(covered, text) if ch != "\x01"]
    return sum(counted) / len(counted)


def _test_exists(reference: str) -> bool:
    file, _, name = reference.partition("::")
    path = ROOT / file
    if not path.is_file() or not name:
        return False
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body)


ROWS = _rows()


def test_the_table_has_at_least_15_rows_each_with_a_proof():
    assert len(ROWS) >= 15
    for row in ROWS:
        assert set(row) == {"You see", "Why", "What to do", "Proved by"}, row
        assert all(row.values()), row


@pytest.mark.parametrize("row", ROWS, ids=lambda r: _message(r["You see"])[:40])
def test_each_row_names_a_test_that_exists(row):
    references = re.findall(r"`(tests/[^`]+::\w+)`", row["Proved by"])
    assert references, f"name a test as `tests/file.py::test_name`: {row['Proved by']}"
    for reference in references:
        assert _test_exists(reference), f"{reference} does not exist"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: _message(r["You see"])[:40])
def test_each_message_is_one_the_helpers_write(row):
    message = _message(row["You see"])
    assert _coverage(message) >= MIN_COVERAGE, (
        f"{message!r}: only {_coverage(message):.0%} of it is text from helpers/ (reworded there?)"
    )
    exceptions = re.findall(r"^`([A-Z]\w*(?:Error|NotFound)):", row["You see"])
    for name in exceptions:
        assert re.search(rf"class {name}\(", "".join(
            p.read_text(encoding="utf-8") for p in (ROOT / "helpers").rglob("*.py"))), name


@pytest.mark.parametrize("invented", [
    "Everything is fine, carry on and have a nice day",
    "The server exploded because the moon is full tonight",
    "Your video is too blue; paint it red and retry",
])
def test_the_coverage_check_can_fail(invented):
    assert _coverage(invented) < MIN_COVERAGE
