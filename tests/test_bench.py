"""Each benchmark runs on tiny sizes and writes its figures where asked, with the keys that
notebook 07 and a reader of bench/results/ rely on. No timing is asserted (timings go in
reports); what is asserted is that the table a benchmark writes adds up: its baseline row is 1,
every ratio is its row's seconds over the baseline's, every chapter is listed. The same checks
run on the committed reference results, so they are fast tests too.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MACHINE_KEYS = {"cpu", "cores", "memory_gb", "python", "packages", "measured_at"}
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BARE = "bare: kernel + open a Lite store"
# The benchmarks run kernels, the stand-in's model and Milvus at small sizes: minutes, not seconds.
smoke = pytest.mark.integration


def run_bench(script: str, out: Path, *extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick", "--out", str(out), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "x " in done.stdout or "vs" in done.stdout  # the printed table of ratios
    name = Path(script).stem
    assert (out / f"{name}.png").is_file()
    result = json.loads((out / f"{name}.json").read_text())
    assert result["benchmark"] == name and result["size"] == "quick"
    assert MACHINE_KEYS <= set(result["machine"])
    return result


def check_ingest(result: dict) -> None:
    """Rows per second, and each as a ratio to the raw insert on the same backend (which is 1)."""
    methods = {r["method"] for r in result["results"]}
    assert {"raw MilvusClient.insert", "raw MilvusClient.upsert", "store.upsert_segments"} <= methods
    raw = {r["backend"]: r for r in result["results"] if r["method"] == "raw MilvusClient.insert"}
    assert result["results"][0]["vs_raw_insert"] == 1.0
    for r in result["results"]:
        assert {"backend", "batch_size", "rows_per_sec", "vs_raw_insert", "seconds"} <= set(r)
        assert r["rows_per_sec"] == pytest.approx(r["rows"] / r["seconds"]), r
        assert r["vs_raw_insert"] == pytest.approx(r["rows_per_sec"] / raw[r["backend"]]["rows_per_sec"]), r


@smoke
def test_ingest(tmp_path):
    result = run_bench("ingest.py", tmp_path)
    check_ingest(result)
    assert {r["backend"] for r in result["results"]} == {"lite"}


@smoke
def test_search(tmp_path):
    result = run_bench("search.py", tmp_path)
    rows = result["rows"]
    assert {r["index"] for r in rows} == {"numpy", "FLAT", "IVF_FLAT", "HNSW"}
    assert {r["metric"] for r in rows if r["index"] == "FLAT"} == {"IP", "COSINE"}
    for r in rows:
        assert {"backend", "n", "config", "p50_ms", "p99_ms", "batch_ms_per_query", "recall_at_10",
                "p50_vs_numpy"} <= set(r)
        assert 0.0 <= r["recall_at_10"] <= 1.0
    # Exact search is exact, whatever the engine: FLAT finds numpy's top 10 (float32 rounding
    # may swap a near-tie at rank 10, hence not exactly 1).
    assert all(r["recall_at_10"] >= 0.99 for r in rows if r["index"] in ("numpy", "FLAT"))


def check_notebooks(result: dict, chapters: list[str]) -> None:
    """Seconds per chapter against a bare kernel: the baseline is the median bare run and is 1,
    each ratio is seconds over it, and the last row is the chapters' sum."""
    rows = result["rows"]
    assert [r["notebook"] for r in rows] == [BARE, *chapters, "whole course"]
    assert len(result["bare_runs"]) == 3
    baseline = rows[0]
    assert baseline["seconds"] == statistics.median(result["bare_runs"]) and baseline["vs_bare"] == 1.0
    for r in rows:
        assert r["vs_bare"] == pytest.approx(r["seconds"] / baseline["seconds"]), r
    assert rows[-1]["seconds"] == pytest.approx(sum(r["seconds"] for r in rows[1:-1]))
    assert all(r["seconds"] > baseline["seconds"] / 2 for r in rows[1:])  # a chapter starts a kernel too


@smoke
def test_notebooks(tmp_path):
    check_notebooks(run_bench("notebooks.py", tmp_path), CHAPTERS[:1])  # --quick: 00_setup only


def check_embed_concurrency(result: dict) -> None:
    """One video is the baseline (1); n one after the other, n at once, one with no delay."""
    n = result["videos"]
    rows = result["rows"]
    assert [(r["run"], r["videos"]) for r in rows] == [
        ("one video (baseline)", 1), (f"{n} videos, one after the other", n),
        (f"{n} videos at once ({n} threads)", n), ("one video, no simulated delay (compute only)", 1)]
    single, sequential, concurrent, _ = rows
    assert single["vs_one"] == 1.0
    for r in rows:
        assert r["vs_one"] == pytest.approx(r["seconds"] / single["seconds"]), r
        assert r["videos_per_sec"] == pytest.approx(r["videos"] / r["seconds"]), r
    assert result["speedup_concurrent_over_sequential"] == pytest.approx(
        sequential["seconds"] / concurrent["seconds"])
    assert sequential["vs_one"] > 1  # n videos, one after the other, take longer than one


@smoke
@pytest.mark.local
def test_embed_concurrency(tmp_path):
    result = run_bench("embed_concurrency.py", tmp_path)
    assert result["videos"] == 2 and result["requests_per_video"] == 4
    check_embed_concurrency(result)


def test_reference_results_are_committed_and_complete():
    """Notebook 07 quotes bench/results/: the reference run must be there, at full size."""
    results = ROOT / "bench" / "results"
    for name in ("ingest", "search", "notebooks", "embed_concurrency"):
        data = json.loads((results / f"{name}.json").read_text())
        assert data["size"] in ("default", "full") and MACHINE_KEYS <= set(data["machine"])
        assert (results / f"{name}.png").is_file()
    search = json.loads((results / "search.json").read_text())
    assert {r["n"] for r in search["rows"]} >= {10_000, 100_000}
    check_ingest(json.loads((results / "ingest.json").read_text()))
    check_notebooks(json.loads((results / "notebooks.json").read_text()), CHAPTERS)
    check_embed_concurrency(json.loads((results / "embed_concurrency.json").read_text()))
