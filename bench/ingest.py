"""Ingestion: segments per second through the course's helper (``store.upsert_segments``) at a
few batch sizes, against a raw ``MilvusClient.insert`` of the same rows measured in the same run.

    .venv/bin/python bench/ingest.py            # 5,000 segments, about a minute on Lite
    .venv/bin/python bench/ingest.py --full     # 20,000 segments
    .venv/bin/python bench/ingest.py --server-uri http://127.0.0.1:19530   # also a server

Baseline: ``client.insert`` of ready-made row dicts (unit vectors, our schema) in batches of
1,000 into a fresh collection: the least work Milvus can be asked to do for these rows.
``x raw`` = helper rate / raw rate. The helper does more on purpose -- checks every vector,
normalises, builds deterministic ids, and *upserts* (so a re-run never duplicates) -- and the
raw ``upsert`` row shows how much of the difference is Milvus' upsert itself.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import common  # noqa: E402

from helpers import store  # noqa: E402
from helpers.segments import Segment  # noqa: E402

RAW_BATCH = 1000
HELPER_BATCHES = (64, 256, 1024, 4096)


def synthetic(n: int, dim: int, seed: int = 0) -> list[Segment]:
    """Segments of 6 s, 50 per video, with random vectors (content does not matter for writes)."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    return [
        Segment(f"video{i // 50:05d}", 6.0 * (i % 50), 6.0 * (i % 50 + 1), "clip", "visual",
                tuple(vectors[i].tolist()), f"Synthetic video {i // 50}")
        for i in range(n)
    ]


def raw_rows(segments: list[Segment]) -> list[dict]:
    vectors = np.asarray([s.vector for s in segments], dtype=np.float64)
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return [
        {"id": store.segment_id(s), "vector": v, "video_id": s.video_id, "start_sec": s.start_sec,
         "end_sec": s.end_sec, "scope": s.scope, "option": s.option, "title": s.title,
         "content": s.content}
        for s, v in zip(segments, vectors.tolist())
    ]


def fresh(client, name: str, dim: int) -> None:
    store.ensure_collection(client, name, dim, reset=True)


def measure_backend(backend: str, client, segments: list[Segment], dim: int, batches) -> list[dict]:
    n = len(segments)
    rows = raw_rows(segments)
    results = []

    def record(method: str, batch: int, seconds: float) -> None:
        results.append({"backend": backend, "method": method, "batch_size": batch, "rows": n,
                        "seconds": seconds, "rows_per_sec": n / seconds})
        print(f"  {backend} {method} batch {batch}: {n / seconds:.0f} rows/s", flush=True)

    for method in ("insert", "upsert"):
        fresh(client, "bench_ingest", dim)
        call = getattr(client, method)
        start = time.perf_counter()
        for i in range(0, n, RAW_BATCH):
            call("bench_ingest", rows[i : i + RAW_BATCH])
        record(f"raw MilvusClient.{method}", RAW_BATCH, time.perf_counter() - start)
    for batch in batches:
        fresh(client, "bench_ingest", dim)
        seconds = common.timed(lambda b=batch: store.upsert_segments(client, "bench_ingest", segments, batch_size=b))
        record("store.upsert_segments", batch, seconds)
    # A second helper run over the same rows: what re-running an ingest notebook costs.
    seconds = common.timed(lambda: store.upsert_segments(client, "bench_ingest", segments))
    record("store.upsert_segments (again, same rows)", store.DEFAULT_BATCH_SIZE, seconds)
    assert store.count(client, "bench_ingest") == n, "the helper must leave exactly one row per segment"
    client.drop_collection("bench_ingest")
    base = results[0]["rows_per_sec"]
    for r in results:
        r["vs_raw_insert"] = r["rows_per_sec"] / base
    return results


def main(argv=None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--server-uri", help="also measure this Milvus server")
    args = p.parse_args(argv)
    size = common.size(args)
    n = {"quick": 300, "default": 5_000, "full": 20_000}[size]
    batches = (64, 256) if args.quick else HELPER_BATCHES
    segments = synthetic(n, common.DIMENSION)
    results: list[dict] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        lite = store.connect(tmp / "ingest.db")
        try:
            results += measure_backend("lite", lite, segments, common.DIMENSION, batches)
        finally:
            store.close(lite)
        if args.server_uri:
            server = store.connect(args.server_uri, timeout=30)
            try:
                results += measure_backend("server", server, segments, common.DIMENSION, batches)
            finally:
                store.close(server)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    common.print_table(f"Ingestion of {n:,} segments ({common.DIMENSION}-d): rows/s, x raw = rate / raw insert rate",
                       results, ["backend", "method", "batch_size", "rows_per_sec", "vs_raw_insert", "seconds"])
    result = {"benchmark": "ingest", "size": size, "machine": common.machine(), "dimension": common.DIMENSION,
              "rows": n, "raw_batch": RAW_BATCH, "default_batch_size": store.DEFAULT_BATCH_SIZE,
              "results": results}
    common.write(args.out, "ingest", result)
    if not args.no_plot:
        plot(results, args.out)
    return 0


def plot(results: list[dict], out: Path) -> None:
    plt = common.figure()
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(results) + 1.2))
    labels = [f"{r['backend']}: {r['method'].replace('raw MilvusClient.', 'raw ')}, batch {r['batch_size']}"
              for r in results]
    colours = ["tab:grey" if r["method"].startswith("raw") else "tab:blue" for r in results]
    ax.barh(range(len(results)), [r["rows_per_sec"] for r in results], color=colours)
    ax.set_yticks(range(len(results)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("segments written per second")
    ax.set_title("Writing segments: the helper (blue) vs the raw client (grey)")
    common.save_plot(fig, out, "ingest")


if __name__ == "__main__":
    raise SystemExit(main())
