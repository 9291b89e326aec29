"""Mutation testing of the modules that keep the README's promises: break one thing at a time
and check that some unit test fails.

    python scripts/mutate.py                      # every module below (tens of minutes on 2 cores)
    python scripts/mutate.py helpers/retry.py     # one module
    python scripts/mutate.py --list               # print the mutants, run nothing
    python scripts/mutate.py --again artifacts/mutate.json   # only the last run's survivors

Each mutant is one small edit of one statement, made by walking the module's syntax tree:
a comparison turned around (``==``/``!=``, ``<``/``>=``, ``in``/``not in``, ``is``/``is not``),
``and``/``or`` swapped, a ``not`` dropped, an ``if``/``while`` condition negated, a call
statement or a ``raise`` deleted (a log line, ``add_secret``, ``_KNOWN.add``, ...), a ``return``
that returns ``None`` instead, ``True``/``False`` swapped. Strings and numbers are left alone.

First the unit tests that touch these modules run once under coverage, recording which test
ran which line. A mutant on a line no test runs survives without running anything (reported
"not run by any test"); any other is applied in a scratch copy of the checkout (symlinks but
for the mutated file) and only the tests that ran its line are run, stopping at the first
failure (killed) or after a time limit (killed: a test hung). Writes a JSON report (every
mutant, its outcome and the test that killed it) and prints the survivors.

The map sees only code run in the test's own process: a mutant that only a subprocess test
(a notebook, a script) would notice is reported as surviving, never as killed.

A tool to run, not part of the unit suite. Measured on this project's 2-core machine, one
module at a time per core: 241 mutants of store and cache in 31 min; retry and client, whose
tests wait on fake clocks and hung mutants, about 16 s a mutant.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("helpers/retry.py", "helpers/client.py", "helpers/embed.py", "helpers/cache.py",
           "helpers/ingest.py", "helpers/store.py", "coursekit/redact.py",
           # Two more promises: limits checked before an upload, and keys cleaned, refused, never shown.
           "coursekit/limits.py", "helpers/media.py", "helpers/settings.py", "helpers/polling.py")
#: The unit tests that exercise these modules (the coverage run picks the ones per line).
TESTS = ("test_retry.py", "test_faults.py", "test_billed_calls.py", "test_polling.py", "test_interrupt.py",
         "test_wait_until_ready.py", "test_cache.py", "test_cache_failures.py", "test_embed.py",
         "test_ingest.py", "test_store.py", "test_store_rows.py", "test_secrets.py", "test_client_course.py",
         "test_transports.py", "test_answers.py", "test_vectors_note.py", "test_recordings.py",
         "test_local_transport.py", "test_doctor.py", "test_inputs_settings.py", "test_inputs_ids.py",
         "test_inputs_files.py", "test_learner_paths.py", "test_hybrid.py", "test_limits.py", "test_evaluate.py",
         "test_adoption.py", "test_embed_answers.py")
#: Per module, the tests that keep its promises: run first, so that most mutants die in seconds;
#: only a mutant they miss meets the rest of the tests that run its line.
FIRST = {
    "coursekit/redact.py": ("test_secrets.py", "test_transports.py"),
    "helpers/retry.py": ("test_retry.py", "test_billed_calls.py", "test_faults.py", "test_polling.py",
                         "test_wait_until_ready.py", "test_interrupt.py"),
    "helpers/client.py": ("test_client_course.py", "test_transports.py", "test_secrets.py", "test_vectors_note.py"),
    "helpers/embed.py": ("test_embed.py", "test_embed_answers.py", "test_adoption.py", "test_billed_calls.py",
                         "test_faults.py"),
    "helpers/cache.py": ("test_cache.py", "test_cache_failures.py"),
    "helpers/ingest.py": ("test_ingest.py", "test_interrupt.py"),
    "helpers/store.py": ("test_store.py", "test_store_rows.py", "test_inputs_ids.py", "test_hybrid.py"),
    "coursekit/limits.py": ("test_limits.py", "test_inputs_ids.py", "test_embed.py", "test_learner_paths.py"),
    "helpers/media.py": ("test_limits.py", "test_embed.py", "test_inputs_files.py", "test_inputs_ids.py",
                         "test_evaluate.py"),
    "helpers/settings.py": ("test_inputs_settings.py", "test_learner_paths.py", "test_transports.py", "test_secrets.py"),
    "helpers/polling.py": ("test_wait_until_ready.py", "test_polling.py"),
}
#: Imported once by the runner, then shared by every mutant's forked test run (the course's own
#: packages are never imported there: each fork imports the mutated copy).
PRELOAD = ("pytest", "numpy", "httpx", "pydantic", "tenacity", "twelvelabs", "av", "tqdm.auto", "dotenv",
           "pandas")
TIMEOUT = 240
_SWAP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE,
         ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}


@dataclass
class Mutant:
    module: str
    line: int
    kind: str
    before: str
    after: str
    outcome: str = ""
    killed_by: str = ""
    seconds: float = 0.0

    def apply(self, source: str) -> str:
        return source.replace(self.before, self.after, 1)


class _Finder(ast.NodeVisitor):
    """Collects (node, kind, replacement text) for every mutation the module allows."""

    def __init__(self, source: str):
        self.source = source
        self.found: list[tuple[ast.AST, str, str]] = []
        self._docstrings: set[int] = set()

    def text(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ""

    def visit_Compare(self, node: ast.Compare) -> None:
        for i, op in enumerate(node.ops):
            if type(op) in _SWAP:
                flipped = ast.Compare(left=node.left, ops=list(node.ops), comparators=node.comparators)
                flipped.ops[i] = _SWAP[type(op)]()
                self.found.append((node, f"{type(op).__name__} -> {_SWAP[type(op)].__name__}", ast.unparse(flipped)))
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self.found.append((node, f"{type(node.op).__name__} -> {type(other).__name__}",
                           ast.unparse(ast.BoolOp(op=other, values=node.values))))
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self.found.append((node, "drop not", f"({self.text(node.operand)})"))
        self.generic_visit(node)

    def _negate(self, node: ast.If | ast.While | ast.IfExp) -> None:
        if self.text(node.test) == "TYPE_CHECKING":  # imports for type hints only
            return
        if not isinstance(node.test, (ast.Compare, ast.UnaryOp, ast.BoolOp)):  # those have their own
            self.found.append((node.test, "negate condition", f"(not {self.text(node.test)})"))

    def visit_If(self, node: ast.If) -> None:
        self._negate(node)
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._negate(node)
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._negate(node)
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Call):
            self.found.append((node, "delete call", "pass"))
        self.generic_visit(node)

    def visit_Raise(self, node: ast.Raise) -> None:
        self.found.append((node, "delete raise", "pass"))
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            self.found.append((node, "return None", "return None"))
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg not in ("repr", "compare", "frozen", "leave"):  # dataclass and display flags
            self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, bool):
            self.found.append((node, f"{node.value} -> {not node.value}", str(not node.value)))


def mutants(module: str, root: Path = ROOT) -> list[Mutant]:
    """Every mutant of ``module``, each a replacement of one node's exact source text; the
    ``before`` text carries the whole lines around it, so it names one place in the file."""
    source = (root / module).read_text(encoding="utf-8")
    finder = _Finder(source)
    finder.visit(ast.parse(source))
    lines = source.splitlines(keepends=True)
    made, seen = [], set()
    for node, kind, replacement in finder.found:
        first, last = node.lineno, node.end_lineno
        block = "".join(lines[first - 1:last])
        raw = block.encode("utf-8")  # the syntax tree's columns count bytes
        end = len("".join(lines[first - 1:last - 1]).encode("utf-8")) + node.end_col_offset
        mutated = (raw[:node.col_offset] + replacement.encode("utf-8") + raw[end:]).decode("utf-8")
        if mutated == block or source.count(block) != 1 or (first, kind, replacement) in seen:
            continue
        try:
            ast.parse(source.replace(block, mutated, 1))
        except SyntaxError:
            continue
        seen.add((first, kind, replacement))
        made.append(Mutant(module, first, kind, block, mutated))
    return made


def _scratch() -> Path:
    """A copy of the committed checkout (``git archive HEAD``): edits made while the run goes on
    do not change what it measures. One file at a time is replaced by its mutant."""
    scratch = Path(tempfile.mkdtemp(prefix="mutate-"))
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)
    return scratch


def _env(scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TWELVE_LABS_API_KEY", "MILVUS_URI")}
    env.update(PYTHONPATH=str(scratch), TL_MODE="replay", PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    return env


def coverage_map(scratch: Path, modules: list[str]) -> dict[str, dict[int, set[str]]]:
    """Which tests (as pytest node-id prefixes) run each line of each module."""
    data_file = scratch / ".coverage-mutate"
    rc = scratch / ".coveragerc-mutate"
    rc.write_text(f"[run]\ndynamic_context = test_function\ndata_file = {data_file}\n"
                  f"source = {scratch}/helpers,{scratch}/coursekit\n")
    tests = [f"tests/{t}" for t in TESTS if (scratch / "tests" / t).exists()]
    subprocess.run([sys.executable, "-m", "coverage", "run", f"--rcfile={rc}", "-m", "pytest", *tests,
                    "-m", "not integration", "-q", "-p", "no:cacheprovider", "-x"],
                   cwd=scratch, env=_env(scratch), check=True)
    import coverage

    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    by_name = {Path(f).resolve(): f for f in data.measured_files()}
    result: dict[str, dict[int, set[str]]] = {}
    for module in modules:
        measured = by_name.get((scratch / module).resolve())
        contexts = data.contexts_by_lineno(measured) if measured else {}
        # A line run only while the module was imported (a default argument, a constant) has the
        # empty context: every test that imports the module runs it, so its own tests are the ones.
        result[module] = {line: {_node_id(c) if c else IMPORTED for c in names} for line, names in contexts.items()}
    return result


IMPORTED = "(run when the module is imported)"


def _node_id(context: str) -> str:
    """``test_faults.test_x`` (coverage's test_function context) as ``tests/test_faults.py::test_x``."""
    module, _, function = context.rpartition(".")
    return f"tests/{module.rpartition('.')[2]}.py::{function}"


def _pytest_in_a_fork(scratch: Path, tests: list[str], timeout: float) -> tuple[int | None, str]:
    """Run pytest on ``tests`` in a forked child (heavy libraries already imported, the course's
    packages not): its exit status (``None``: killed at the time limit) and its output."""
    output = scratch / ".mutant-output"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.chdir(scratch)
            sys.path.insert(0, str(scratch))
            import pytest

            code = pytest.main([*tests, "-x", "-q", "-p", "no:cacheprovider", "-m", "not integration",
                                "--no-header", "-rf"])
            sys.stdout.flush()
            os._exit(int(code))
        except BaseException:  # noqa: BLE001 (a child must never fall back into the parent's loop)
            os._exit(99)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), output.read_text(errors="replace")
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return None, output.read_text(errors="replace")
        time.sleep(0.2)


def _survivors(report: Path) -> set[tuple[str, str, str, str]]:
    """The mutants a previous report says survived, by what they change (line numbers move)."""
    return {(m["module"], m["kind"], m["before"], m["after"])
            for m in json.loads(report.read_text(encoding="utf-8")) if m["outcome"] == "survived"}


def run_mutant(mutant: Mutant, scratch: Path, tests: list[str], timeout: float = TIMEOUT) -> None:
    target = scratch / mutant.module
    original = target.read_text(encoding="utf-8")
    assert mutant.before in original, f"{mutant.module} changed since the mutants were made"
    target.write_text(mutant.apply(original), encoding="utf-8")
    first = tuple(f"tests/{name}::" for name in FIRST.get(mutant.module, ()))
    stages = [[t for t in tests if t.startswith(first)], [t for t in tests if not t.startswith(first)]]
    started = time.monotonic()
    try:
        mutant.outcome = "survived"
        for stage in (s for s in stages if s):
            code, out = _pytest_in_a_fork(scratch, stage, timeout)
            if code is None:
                mutant.outcome, mutant.killed_by = "killed", f"timed out after {timeout:g} s (a test hung)"
                break
            if code != 0:
                failed = [l for l in out.splitlines() if re.match(r"(FAILED|ERROR) tests/", l)]
                mutant.outcome = "killed"
                mutant.killed_by = (failed[0].split(" - ")[0] if failed else
                                    (out.strip().splitlines() or [f"exit {code}"])[-1][:200])
                break
    finally:
        mutant.seconds = round(time.monotonic() - started, 1)
        target.write_text(original, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES))
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument("--report", default=str(ROOT / "artifacts" / "mutate.json"))
    parser.add_argument("--again", metavar="REPORT", type=Path,
                        help="run only the mutants that survived in REPORT (after adding tests for them)")
    parser.add_argument("--timeout", type=float, default=TIMEOUT,
                        help=f"seconds before a mutant's tests count as hung, killed (default {TIMEOUT})")
    parser.add_argument("--reuse-map", action="store_true",
                        help="reuse the line-to-tests map the last run saved beside the report (same commit)")
    args = parser.parse_args(argv)
    every = [m for module in args.modules for m in mutants(module)]
    if args.list:
        for m in every:
            print(f"{m.module}:{m.line}: {m.kind}")
        print(f"{len(every)} mutants")
        return 0
    for name, value in _env(Path(".")).items():
        if name != "PYTHONPATH":
            os.environ[name] = value
    os.environ.pop("TWELVE_LABS_API_KEY", None)
    os.environ.pop("MILVUS_URI", None)
    for module in PRELOAD:
        __import__(module)
    scratch = _scratch()
    # The mutants are made from the committed text, the one the scratch copy holds.
    every = [m for module in args.modules for m in mutants(module, scratch)]
    if args.again:
        wanted = _survivors(args.again)
        every = [m for m in every if (m.module, m.kind, m.before, m.after) in wanted]
    try:
        saved = Path(args.report).with_suffix(".lines.json")
        if args.reuse_map and saved.exists():
            lines = {m: {int(n): set(t) for n, t in by_line.items()}
                     for m, by_line in json.loads(saved.read_text()).items()}
        else:
            lines = coverage_map(scratch, list(MODULES))
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(json.dumps({m: {n: sorted(t) for n, t in by_line.items()}
                                         for m, by_line in lines.items()}))
        for i, m in enumerate(every, 1):
            tests = set().union(*[lines[m.module].get(n, set())
                                  for n in range(m.line, m.line + m.before.count("\n"))] or [set()])
            if IMPORTED in tests:
                tests = (tests - {IMPORTED}) | {f"tests/{t}" for t in FIRST.get(m.module, ())}
            if not tests:
                m.outcome = "survived"
                m.killed_by = "not run by any test"
            else:
                run_mutant(m, scratch, sorted(tests), args.timeout)
            print(f"[{i}/{len(every)}] {m.module}:{m.line} {m.kind}: {m.outcome} {m.killed_by}", flush=True)
            Path(args.report).parent.mkdir(parents=True, exist_ok=True)
            Path(args.report).write_text(json.dumps([asdict(x) for x in every], indent=1), encoding="utf-8")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    survivors = [m for m in every if m.outcome == "survived"]
    print(f"\n{len(every)} mutants: {len(every) - len(survivors)} killed, {len(survivors)} survived")
    for m in survivors:
        print(f"  {m.module}:{m.line} {m.kind} ({m.killed_by or 'tests ran and passed'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
