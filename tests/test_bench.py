"""Each benchmark runs on tiny sizes and writes its figures where asked, with the keys that
notebook 07 and a reader of bench/results/ rely on. No timing is asserted: timings go in reports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MACHINE_KEYS = {"cpu", "cores", "memory_gb", "python", "packages", "measured_at"}


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


def test_ingest(tmp_path):
    result = run_bench("ingest.py", tmp_path)
    methods = {r["method"] for r in result["results"]}
    assert {"raw MilvusClient.insert", "raw MilvusClient.upsert", "store.upsert_segments"} <= methods
    for r in result["results"]:
        assert {"backend", "batch_size", "rows_per_sec", "vs_raw_insert", "seconds"} <= set(r)
        assert r["backend"] == "lite" and r["rows_per_sec"] > 0
    assert result["results"][0]["vs_raw_insert"] == 1.0


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


def test_notebooks(tmp_path):
    result = run_bench("notebooks.py", tmp_path)
    names = [r["notebook"] for r in result["rows"]]
    assert names == ["bare: kernel + open a Lite store", "00_setup", "whole course"]
    assert len(result["bare_runs"]) == 3 and all(r["seconds"] > 0 for r in result["rows"])


def test_embed_concurrency(tmp_path):
    pytest.importorskip("onnxruntime", reason="the stand-in needs the [local] extra")
    result = run_bench("embed_concurrency.py", tmp_path)
    assert result["videos"] == 2 and result["requests_per_video"] == 4
    runs = [r["run"] for r in result["rows"]]
    assert runs[0] == "one video (baseline)" and len(runs) == 4
    assert result["speedup_concurrent_over_sequential"] > 0


def test_reference_results_are_committed_and_complete():
    """Notebook 07 quotes bench/results/: the reference run must be there, at full size."""
    results = ROOT / "bench" / "results"
    for name in ("ingest", "search", "notebooks", "embed_concurrency"):
        data = json.loads((results / f"{name}.json").read_text())
        assert data["size"] in ("default", "full") and MACHINE_KEYS <= set(data["machine"])
        assert (results / f"{name}.png").is_file()
    search = json.loads((results / "search.json").read_text())
    assert {r["n"] for r in search["rows"]} >= {10_000, 100_000}
