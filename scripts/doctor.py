#!/usr/bin/env python
"""Pre-flight check for a learner's machine: one line per check, green or red with the fix.

    make doctor          # exits non-zero when anything is red

Checks: Python, the pinned packages, the mode and why, the key (in live mode one cheap
authenticated call; never printed), that a Milvus Lite store opens, the sample data's checksums,
free disk, and that notebooks/00_setup runs top to bottom.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from helpers import checks
from helpers.settings import load_settings

GREEN, RED, RESET = "\033[32m", "\033[31m", "\033[0m"


def main() -> int:
    started = time.perf_counter()
    settings = load_settings()
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    with tempfile.TemporaryDirectory() as tmp:
        uri = settings.milvus_uri or str(Path(tmp) / "doctor.db")
        results = checks.run_checks(settings, store_uri=uri)
    results += [checks.api_key_works(settings), checks.free_disk(), checks.notebook_runs("00_setup")]
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
