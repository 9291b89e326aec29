"""The whole course in replay mode: seconds per notebook, against the bare cost of starting a
kernel and opening a Milvus Lite store, measured in the same run.

    .venv/bin/python bench/notebooks.py           # every notebook
    .venv/bin/python bench/notebooks.py --quick   # 00_setup only

Each notebook runs top to bottom in a fresh kernel, as `make test` runs it, against empty
Milvus Lite stores in a temp folder (a first run: nothing cached in a store). Nothing is written
back into the notebooks.

Baseline: a one-cell notebook that imports the store helper and opens and closes a Lite store
(the fixed cost every chapter pays before it does anything), median of three runs.
``x bare`` = notebook seconds / baseline seconds: how much of a chapter is its own work.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import common  # noqa: E402

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from coursekit.kernels import EncryptedKernelManager  # noqa: E402

NOTEBOOKS = common.ROOT / "notebooks"
BARE = """from helpers import store
client = store.connect(STORE)
store.close(client)"""


def execute(nb: nbformat.NotebookNode, cwd: Path) -> float:
    client = NotebookClient(nb, timeout=1800, kernel_name="python3", record_timing=False,
                            kernel_manager_class=EncryptedKernelManager,
                            resources={"metadata": {"path": str(cwd)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def bare_notebook(store_path: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(BARE.replace("STORE", repr(str(store_path))))]
    return nb


def main(argv=None) -> int:
    p = common.parser(__doc__)
    args = p.parse_args(argv)
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.quick:
        paths = paths[:1]
    tmp = Path(tempfile.mkdtemp(prefix="bench-notebooks-"))
    saved = {k: os.environ.get(k) for k in ("TL_MODE", "COURSE_STORES_DIR", "MILVUS_URI")}
    os.environ.update(TL_MODE="replay", COURSE_STORES_DIR=str(tmp / "stores"))
    os.environ.pop("MILVUS_URI", None)  # Lite: the course's default
    try:
        bare = [execute(bare_notebook(tmp / f"bare{i}.db"), NOTEBOOKS) for i in range(3)]
        baseline = statistics.median(bare)
        print(f"  bare kernel + Lite store: {baseline:.2f} s (runs: {', '.join(f'{b:.2f}' for b in bare)})", flush=True)
        rows = [{"notebook": "bare: kernel + open a Lite store", "seconds": baseline, "vs_bare": 1.0}]
        for path in paths:
            seconds = execute(nbformat.read(path, as_version=4), NOTEBOOKS)
            rows.append({"notebook": path.stem, "seconds": seconds, "vs_bare": seconds / baseline})
            print(f"  {path.stem}: {seconds:.1f} s", flush=True)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(tmp, ignore_errors=True)
    total = sum(r["seconds"] for r in rows[1:])
    rows.append({"notebook": "whole course", "seconds": total, "vs_bare": total / baseline})
    common.print_table("The course in replay: seconds per notebook, x bare = seconds / (kernel start + open a Lite store)",
                       rows, ["notebook", "seconds", "vs_bare"])
    result = {"benchmark": "notebooks", "size": common.size(args), "machine": common.machine(),
              "mode": "replay", "bare_runs": bare, "rows": rows}
    common.write(args.out, "notebooks", result)
    if not args.no_plot:
        plt = common.figure()
        fig, ax = plt.subplots(figsize=(7, 3.5))
        shown = rows[1:-1]
        ax.barh([r["notebook"] for r in shown], [r["seconds"] for r in shown], color="tab:blue")
        ax.axvline(baseline, color="black", linestyle="--", label="bare kernel + Lite store")
        ax.invert_yaxis()
        ax.set_xlabel("seconds (replay mode, fresh stores)")
        ax.legend(loc="lower right")
        common.save_plot(fig, args.out, "notebooks")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
