"""The README's "When something goes wrong" table stays true: at least 15 rows, each message one
the helpers really produce, each proved by a test that exists and asserts a distinctive piece of
that very message."""

from __future__ import annotations

import ast
import difflib
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
    return _test_function(reference) is not None


def _test_function(reference: str) -> tuple[ast.FunctionDef, ast.Module] | None:
    file, _, name = reference.partition("::")
    path = ROOT / file
    if not path.is_file() or not name:
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name]
    return (found[0], tree) if found else None


#: A fragment shorter than this could be in any message ("failed", "429"): not distinctive.
MIN_FRAGMENT = 16
_REGEX_ESCAPE = re.compile(r"\\(.)")


def _asserted_strings(function: ast.FunctionDef, module: ast.Module) -> list[str]:
    """The text a test checks a message against: string literals inside its ``assert``s and
    ``match=`` patterns (regex escapes undone, cut at regex wildcards), and the literals of the
    module-level tables it reads (a parametrized test's expected errors)."""
    checked: list[ast.AST] = [n for n in ast.walk(function) if isinstance(n, ast.Assert)]
    checked += function.decorator_list  # parametrize's expected messages
    checked += [k.value for n in ast.walk(function) if isinstance(n, ast.Call) for k in n.keywords
                if k.arg == "match"]
    names = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
    asserted = {n.id for c in checked for n in ast.walk(c) if isinstance(n, ast.Name)}
    checked += [n.value for n in ast.walk(function) if isinstance(n, ast.Assign)  # expected = "..."
                and any(isinstance(t, ast.Name) and t.id in asserted for t in n.targets)]
    checked += [n for n in module.body if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id in names and t.id.isupper() for t in n.targets)]
    strings = []
    for node in checked:
        for leaf in ast.walk(node):
            if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                for piece in re.split(r"\.\*|\.\+|\\s\*|\(\?:", leaf.value):
                    strings.append(_REGEX_ESCAPE.sub(r"\1", piece))
    return strings


def _distinctive_fragment(message: str, reference: str) -> str | None:
    """The longest piece of the row's message that the cited test asserts (a test's expected
    text may go on with the names and numbers of its own case)."""
    found = _test_function(reference)
    if found is None:
        return None
    best = ""
    for asserted in _asserted_strings(*found):
        for part in message.split("…"):
            match = difflib.SequenceMatcher(None, asserted, part, autojunk=False).find_longest_match()
            best = max(best, part[match.b:match.b + match.size], key=len)
    # A one-word "message" (an outcome in a table: ``cached``) must be asserted whole.
    needed = min(MIN_FRAGMENT, len(message.replace("…", "").strip()))
    return best if len(best.strip()) >= needed else None


ROWS = _rows()


#: What a chapter calls first on each path: a row's message must be met through one of these,
#: as a learner meets it, not only from the function deep inside that writes it.
LEARNER_CALLS = ("make_client(", "load_settings()", "store.connect(", "ingest(", "hits_table(", "thumbnail(",
                 "ensure_logging(")
#: Messages of the client and the Embed API's calls: a learner meets them through ``make_client``.
CLIENT_ERRORS = ("ApiCallError", "EmbeddingError", "RecordingNotFound", "VideoError", "ConfigError")


def _definitions(module: ast.Module, seen: frozenset[str] = frozenset()) -> dict[str, ast.FunctionDef]:
    """The module-level functions a test can reach: its module's, conftest's (fixtures), and
    those of the other modules in tests/ it imports from (test modules, ``faults``, ``clips``),
    with what they import in turn. A module's own names come first."""
    found = {}
    for node in module.body:
        name = node.module if isinstance(node, ast.ImportFrom) else None
        source = ROOT / "tests" / f"{name}.py" if name else None
        if source and source.is_file() and name not in seen:
            found.update(_definitions(ast.parse(source.read_text(encoding="utf-8")), seen | {name}))
    for tree in (ast.parse((ROOT / "tests" / "conftest.py").read_text(encoding="utf-8")), module):
        found.update({n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)})
    return found


def _reaches(reference: str, calls: tuple[str, ...]) -> bool:
    """Does the test (or a function or fixture it uses, or code it runs in a subprocess) call one of ``calls``?"""
    function, module = _test_function(reference)
    table, todo, seen = _definitions(module), [function], set()
    while todo:
        node = todo.pop()
        if any(call in ast.unparse(node) for call in calls):
            return True
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {a.arg for a in node.args.args}
        todo += [table[n] for n in used - seen if n in table]
        seen |= used
    return False




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
def test_each_rows_test_asserts_a_distinctive_piece_of_its_message(row):
    """Naming a test is not proof: the test must check this message, so that rewording the
    message (or removing the code that writes it) makes the test fail."""
    message = _message(row["You see"])
    references = re.findall(r"`(tests/[^`]+::\w+)`", row["Proved by"])
    proved = {r: _distinctive_fragment(message, r) for r in references}
    assert any(proved.values()), (
        f"none of {references} asserts {MIN_FRAGMENT}+ characters of {message!r} (in an assert, a "
        "match= pattern or the table of expected errors it reads)")


@pytest.mark.parametrize("row", ROWS, ids=lambda r: _message(r["You see"])[:40])
def test_each_row_is_proved_on_the_learners_own_path(row):
    """A message checked only where it is written can still be wrapped, changed or swallowed on
    the way to the learner: one cited test must meet it through what a chapter calls."""
    references = re.findall(r"`(tests/[^`]+::\w+)`", row["Proved by"])
    exception = re.match(r"`([A-Z]\w*):", row["You see"])
    calls = (("make_client(", "load_settings()") if exception and exception.group(1) in CLIENT_ERRORS
             else LEARNER_CALLS)
    assert any(_reaches(r, calls) for r in references), (
        f"none of {references} reaches {' or '.join(calls)}: test the message through the learner's path")


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


def test_the_path_check_can_fail():
    assert _reaches("tests/test_learner_paths.py::test_a_mistyped_mode_stops_make_client", ("make_client(",))
    assert not _reaches("tests/test_transports.py::test_unknown_mode_is_refused_with_the_choices", ("make_client(",))


def test_the_fragment_check_can_fail():
    row = next(r for r in ROWS if "Video file not found" in r["You see"])
    reference = re.findall(r"`(tests/[^`]+::\w+)`", row["Proved by"])[0]
    assert _distinctive_fragment(_message(row["You see"]), reference)
    assert _distinctive_fragment("Something no test in the course ever asserts, at all", reference) is None
    assert _distinctive_fragment(_message(row["You see"]), "tests/test_embed.py::no_such_test") is None
