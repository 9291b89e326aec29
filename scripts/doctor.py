#!/usr/bin/env python
"""Pre-flight check for a learner's machine: one line per check, green or red with the fix.

    make doctor          # exits non-zero when anything is red

Checks: Python, the pinned packages, the mode and why, the key (in live mode one cheap
authenticated call; never printed), that a Milvus Lite store opens, the sample data's checksums,
free disk, and that notebooks/00_setup runs top to bottom.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from helpers import checks
from helpers.checks import Check
from helpers.client import make_client
from helpers.errors import ConfigError
from helpers.settings import ROOT, Settings, load_settings

GREEN, RED, RESET = "\033[32m", "\033[31m", "\033[0m"


# The doctor's own checks: too slow (running a notebook) or too costly (an API call) for a chapter.


def free_disk(path: Path = ROOT, needed_gb: float = 2.0) -> Check:
    free = shutil.disk_usage(path).free / 1e9
    ok = free >= needed_gb
    return Check("Free disk", ok, f"{free:.1f} GB free"
                 + ("" if ok else f"; the course needs about {needed_gb:g} GB"))


def api_key_works(settings: Settings) -> Check:
    """One cheap authenticated call (list one asset) in the modes that use the real API."""
    if not settings.needs_api_key:
        return Check("API key works", True, f"not needed in {settings.mode} mode")
    if not settings.api_key:
        return Check("API key works", False, settings.key_problem or "no key to try: set TWELVE_LABS_API_KEY or .env")
    try:
        next(iter(make_client(settings).assets.list(page_limit=1)), None)
    except Exception as err:  # report, never raise: the table must finish
        status = getattr(err, "status_code", None)
        hint = ("the key was refused: check it in the Twelve Labs dashboard" if status in (401, 403)
                else "the API did not answer: check the network")
        label = f"{type(err).__name__} {status}" if status else type(err).__name__
        return Check("API key works", False, f"{label}: {hint}")
    return Check("API key works", True, "one authenticated call answered")


def notebook_runs(name: str = "00_setup", timeout: int = 300) -> Check:
    """Execute a copy of a notebook headless (outputs discarded), as a learner's first run would."""
    path = ROOT / "notebooks" / f"{name}.ipynb"
    try:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except Exception as err:  # any failure is the answer to "would it run?"
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()  # tracebacks carry terminal colours
        last = text.splitlines()[-1][:200] if text else type(err).__name__
        return Check(f"notebooks/{name}", False, f"fails: {last}")
    return Check(f"notebooks/{name}", True, "runs top to bottom")


def main() -> int:
    started = time.perf_counter()
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    try:
        settings = load_settings()
    except ConfigError as err:  # every other check reads the settings: this is the one answer
        print(f"{RED if color else ''}FAIL{RESET if color else ''}  Settings  {err}")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        uri = settings.milvus_uri or str(Path(tmp) / "doctor.db")
        results = checks.run_checks(settings, store_uri=uri)
    results += [api_key_works(settings), free_disk(), notebook_runs("00_setup")]
    width = max(len(c.name) for c in results)
    for c in results:
        mark = "ok  " if c.ok else "FAIL"
        if color:
            mark = f"{GREEN if c.ok else RED}{mark}{RESET}"
        print(f"{mark}  {c.name:<{width}}  {c.detail}")
    failed = [c for c in results if not c.ok]
    print(f"{len(results) - len(failed)} ok, {len(failed)} failed, {time.perf_counter() - started:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
