#!/usr/bin/env python
"""Execute the course's notebooks headless, one line per notebook: ok/failed and wall seconds.

    python scripts/run_notebooks.py               # every notebook, in the mode the environment picks
    python scripts/run_notebooks.py 03_search     # just some (name prefixes)
    python scripts/run_notebooks.py --write       # also save the outputs into the notebooks

Outputs are committed from replay runs (`make notebooks`), so strict nbval can compare them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from coursekit.kernels import EncryptedKernelManager
from navigation import chapters as all_chapters  # scripts/: the one list of chapters, in order

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
# Metadata a notebook keeps: just enough to pick the kernel. Everything else (widget state,
# timings, the language version of whoever ran it last) is noise in a diff.
KEEP_METADATA = ("kernelspec",)


def clean(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb.metadata = {k: nb.metadata[k] for k in KEEP_METADATA if k in nb.metadata}
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
        if cell.cell_type == "code":
            # stderr (progress bars, library warnings, Milvus Lite's gRPC keepalive chatter) varies
            # run to run and nbval does not compare it: a stored copy could only fail a later run.
            cell.outputs = [o for o in cell.outputs if o.get("name") != "stderr"]
            # Output widgets' state cannot be compared or replayed; keep their text form only.
            for output in cell.outputs:
                if "data" in output:
                    output.data.pop("application/vnd.jupyter.widget-view+json", None)
    return nb


def failed_cell(nb: nbformat.NotebookNode) -> int | None:
    """The index (from 0, markdown included) of the first cell whose outputs hold an error."""
    return next((i for i, cell in enumerate(nb.cells)
                 if any(o.get("output_type") == "error" for o in cell.get("outputs", []))), None)


def chapters(names: list[str]) -> list[Path]:
    """The chapters, in order; only those whose name starts with one of ``names``, if any."""
    paths = all_chapters()
    return [p for p in paths if any(p.stem.startswith(n) for n in names)] if names else paths


def run(path: Path, write: bool, timeout: int) -> tuple[bool, float, str]:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            kernel_manager_class=EncryptedKernelManager,
                            resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    try:
        client.execute()
        ok, detail = True, ""
    except CellExecutionError as err:
        ok, detail = False, f"cell {failed_cell(nb)}: " + str(err).strip().splitlines()[-1][:300]
    seconds = time.perf_counter() - started
    if write and ok:
        nbformat.write(clean(nb), path)
    return ok, seconds, detail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="notebook name prefixes (default: all)")
    parser.add_argument("--write", action="store_true", help="save outputs into the notebooks")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = chapters(args.names)
    if not paths:
        print("no notebooks matched", file=sys.stderr)
        return 2
    failures, total = 0, 0.0
    for path in paths:
        ok, seconds, detail = run(path, args.write, args.timeout)
        total += seconds
        failures += not ok
        print(f"{'ok    ' if ok else 'FAILED'} {seconds:7.1f} s  {path.name}" + (f"  {detail}" if detail else ""),
              flush=True)
    print(f"{len(paths) - failures} ok, {failures} failed, {total:.1f} s in all")
    if args.write:
        import navigation  # scripts/navigation.py: keep every chapter's prev/next links current

        navigation.main([])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
