"""Top-10 search over synthetic segment vectors: latency (p50/p99) and recall@10 of Milvus index
types and parameters, against exact numpy brute force measured in the same run.

    .venv/bin/python bench/search.py            # 10k vectors, a few minutes
    .venv/bin/python bench/search.py --full     # 10k and 100k (slow: ~20 min on 2 cores)
    .venv/bin/python bench/search.py --server-uri http://127.0.0.1:19530   # also a server

The vectors look like video segments: 512-d (Marengo 3.0), 50 segments per video, a video made
of a few scenes whose segments are near-duplicates, videos drawn from shared topics. Queries are
noisy copies of stored segments, as a text query is "near" a few moments. Recall@10 is the
share of numpy's exact top 10 that Milvus returns.

Baseline: numpy brute force (one matrix-vector product and a partial sort) on the same vectors
and queries. ``x numpy`` = Milvus p50 / numpy p50: how many times slower than the simplest
exact search in memory, i.e. what the database costs (or saves) at this size.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import common  # noqa: E402  (bench/ is on sys.path when run as a script)

from pymilvus import DataType, MilvusClient  # noqa: E402

SEGMENTS_PER_VIDEO = 50
SCENES_PER_VIDEO = 5
TOPICS = 40
K = 10


def synthetic_segments(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Unit vectors with video-like structure (see the module docstring), float32."""
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(TOPICS, dim))
    n_videos = math.ceil(n / SEGMENTS_PER_VIDEO)
    videos = topics[rng.integers(0, TOPICS, n_videos)] + 0.8 * rng.normal(size=(n_videos, dim))
    scenes = np.repeat(videos, SCENES_PER_VIDEO, axis=0) + 0.5 * rng.normal(
        size=(n_videos * SCENES_PER_VIDEO, dim))
    per_scene = SEGMENTS_PER_VIDEO // SCENES_PER_VIDEO
    segments = np.repeat(scenes, per_scene, axis=0)[:n]
    segments = segments + 0.25 * rng.normal(size=segments.shape)
    return (segments / np.linalg.norm(segments, axis=1, keepdims=True)).astype(np.float32)


def make_queries(vectors: np.ndarray, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = vectors[rng.choice(len(vectors), n, replace=False)].astype(np.float64)
    noisy = picked + 0.04 * rng.normal(size=picked.shape)
    return (noisy / np.linalg.norm(noisy, axis=1, keepdims=True)).astype(np.float32)


def numpy_top_k(vectors: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    scores = queries @ vectors.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def configs(n: int, quick: bool) -> list[dict]:
    """Index type x build parameters x search parameters. nlist ~ 4*sqrt(n), Milvus' rule of thumb."""
    nlist = max(16, int(4 * math.sqrt(n)))
    out = [
        {"index": "FLAT", "metric": "IP", "build": {}, "search": {}},
        {"index": "FLAT", "metric": "COSINE", "build": {}, "search": {}},
    ]
    for nprobe in ([8] if quick else [4, 16, 64]):
        out.append({"index": "IVF_FLAT", "metric": "IP", "build": {"nlist": nlist}, "search": {"nprobe": nprobe}})
    for ef in ([32] if quick else [16, 64, 256]):
        out.append({"index": "HNSW", "metric": "IP", "build": {"M": 16, "efConstruction": 200}, "search": {"ef": ef}})
    return out


def label(c: dict) -> str:
    build = ",".join(f"{k}={v}" for k, v in c["build"].items())
    search = ",".join(f"{k}={v}" for k, v in c["search"].items())
    parts = [c["index"], c["metric"]] + [p for p in (build, search) if p]
    return " ".join(parts)


def setting(c: dict) -> str:
    """The label without build parameters (nlist depends on n): comparable across sizes."""
    search = ",".join(f"{k}={v}" for k, v in c["search"].items())
    return " ".join(p for p in (c["index"], c["metric"], search) if p)


def fill(client: MilvusClient, name: str, vectors: np.ndarray, batch: int = 2000) -> float:
    """Create a bare collection (id + vector: the engine, not our schema) and insert; seconds."""
    if client.has_collection(name):
        client.drop_collection(name)
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=vectors.shape[1])
    client.create_collection(name, schema=schema, consistency_level="Strong")
    start = time.perf_counter()
    for i in range(0, len(vectors), batch):
        chunk = vectors[i : i + batch]
        client.insert(name, [{"id": i + j, "vector": v} for j, v in enumerate(chunk.tolist())])
    if hasattr(client, "flush"):
        client.flush(name)
    return time.perf_counter() - start


def use_index(client: MilvusClient, name: str, c: dict, deadline_sec: float = 1800) -> float:
    """Swap the collection's index for ``c``'s (unless it already has it) and load it; seconds
    until the first search works, with every row indexed."""
    start = time.perf_counter()
    wanted = {"index_type": c["index"], "metric_type": c["metric"], **{k: str(v) for k, v in c["build"].items()}}
    current = client.describe_index(name, "vector") if "vector" in client.list_indexes(name) else {}
    if any(str(current.get(k)) != str(v) for k, v in wanted.items()):
        client.release_collection(name)
        for index in client.list_indexes(name):
            client.drop_index(name, index)
        params = client.prepare_index_params()
        params.add_index(field_name="vector", index_name="vector", index_type=c["index"],
                         metric_type=c["metric"], params=dict(c["build"]))
        client.create_index(name, params, sync=False)
        # A server builds indexes in the background; searching before it is done would time
        # a brute-force scan of unindexed rows. (Lite reports no progress and builds on load.)
        while True:
            info = client.describe_index(name, "vector")
            total, done = info.get("total_rows"), info.get("indexed_rows")
            if total is None or done is None or done >= total or time.perf_counter() - start > deadline_sec:
                break
            time.sleep(0.5)
        client.load_collection(name)
    probe = np.ones(_dim(client, name)) / math.sqrt(_dim(client, name))
    client.search(name, data=[probe.tolist()], anns_field="vector", limit=K,
                  search_params={"metric_type": c["metric"], "params": dict(c["search"])})
    return time.perf_counter() - start


def _dim(client: MilvusClient, name: str) -> int:
    fields = client.describe_collection(name)["fields"]
    return int(next(f for f in fields if f["name"] == "vector")["params"]["dim"])


def measure(client: MilvusClient, name: str, c: dict, queries: np.ndarray, truth: np.ndarray,
            n_single: int, batch: int) -> dict:
    params = {"metric_type": c["metric"], "params": dict(c["search"])}

    def search(q: np.ndarray):
        return client.search(name, data=q.tolist(), anns_field="vector", limit=K, search_params=params,
                             consistency_level="Eventually")

    single, found = [], []
    for q in queries[:n_single]:
        start = time.perf_counter()
        hits = search(q[None, :])[0]
        single.append(time.perf_counter() - start)
        found.append([h["id"] for h in hits])
    batched = []
    for i in range(0, len(queries) - batch + 1, batch):
        start = time.perf_counter()
        search(queries[i : i + batch])
        batched.append(time.perf_counter() - start)
    recall = float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth[:n_single].tolist())]))
    return {
        "p50_ms": 1000 * common.percentile(single, 50),
        "p99_ms": 1000 * common.percentile(single, 99),
        "batch_ms_per_query": 1000 * float(np.median(batched)) / batch if batched else None,
        "recall_at_10": recall,
    }


#: BLAS threads for the numpy baseline. One: on 2 shared cores a second BLAS thread fights the
#: other processes for a core and made single queries slower and far noisier (measured here:
#: 17 ms p50 with one thread, 23 ms with two, at 100k x 512).
NUMPY_THREADS = 1


def numpy_baseline(vectors: np.ndarray, queries: np.ndarray, n_single: int, batch: int) -> dict:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(NUMPY_THREADS):
        return _numpy_baseline(vectors, queries, n_single, batch)


def _numpy_baseline(vectors: np.ndarray, queries: np.ndarray, n_single: int, batch: int) -> dict:
    numpy_top_k(vectors, queries[:1])  # warm-up, as Milvus gets one in use_index
    single = []
    for q in queries[:n_single]:
        start = time.perf_counter()
        numpy_top_k(vectors, q[None, :])
        single.append(time.perf_counter() - start)
    batched = [common.timed(lambda i=i: numpy_top_k(vectors, queries[i : i + batch]))
               for i in range(0, len(queries) - batch + 1, batch)]
    return {
        "p50_ms": 1000 * common.percentile(single, 50),
        "p99_ms": 1000 * common.percentile(single, 99),
        "batch_ms_per_query": 1000 * float(np.median(batched)) / batch if batched else None,
        "recall_at_10": 1.0,
    }


def run_backend(backend: str, client: MilvusClient, n: int, vectors, queries, truth, args, sizes) -> list[dict]:
    name = f"bench_search_{n}"
    rss_before = common.rss_bytes()
    insert_sec = fill(client, name, vectors)
    rows = []
    for c in configs(n, args.quick):
        build_sec = use_index(client, name, c)
        result = measure(client, name, c, queries, truth, sizes["single"], sizes["batch"])
        rows.append({"backend": backend, "n": n, "config": label(c), "setting": setting(c), **c,
                     "build_load_sec": build_sec, **result})
        print(f"  {backend} n={n} {label(c)}: p50 {result['p50_ms']:.1f} ms, recall {result['recall_at_10']:.3f}", flush=True)
    memory = (common.rss_bytes() - rss_before) if backend == "lite" else None
    for r in rows:
        r["insert_rows_per_sec"] = n / insert_sec
        r["memory_over_raw"] = (memory / vectors.nbytes) if memory else None
    client.drop_collection(name)
    return rows


def main(argv=None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--server-uri", help="also measure this Milvus server (e.g. http://127.0.0.1:19530)")
    args = p.parse_args(argv)
    size = common.size(args)
    ns = {"quick": [2_000], "default": [10_000], "full": [10_000, 100_000]}[size]
    sizes = {"quick": {"single": 10, "batch": 10, "queries": 20},
             "default": {"single": 50, "batch": 50, "queries": 100},
             "full": {"single": 100, "batch": 50, "queries": 200}}[size]
    rows: list[dict] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    try:
        for n in ns:
            vectors = synthetic_segments(n, common.DIMENSION)
            queries = make_queries(vectors, sizes["queries"])
            truth = numpy_top_k(vectors, queries)
            base = numpy_baseline(vectors, queries, sizes["single"], sizes["batch"])
            rows.append({"backend": "numpy", "n": n, "config": "numpy brute force",
                         "setting": "numpy brute force", "index": "numpy",
                         "metric": "IP", "build": {}, "search": {}, **base})
            lite = MilvusClient(str(tmp / f"search_{n}.db"))
            try:
                rows += run_backend("lite", lite, n, vectors, queries, truth, args, sizes)
            finally:
                lite.close()
            if args.server_uri:
                server = MilvusClient(uri=args.server_uri, timeout=30)
                try:
                    rows += run_backend("server", server, n, vectors, queries, truth, args, sizes)
                finally:
                    server.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for r in rows:
        base = next(b for b in rows if b["backend"] == "numpy" and b["n"] == r["n"])
        r["p50_vs_numpy"] = r["p50_ms"] / base["p50_ms"]
        if r.get("batch_ms_per_query") and base.get("batch_ms_per_query"):
            r["batch_vs_numpy"] = r["batch_ms_per_query"] / base["batch_ms_per_query"]
    common.print_table(
        "Top-10 search: latency and recall vs exact numpy brute force (x numpy = p50 / numpy p50)",
        rows, ["backend", "n", "config", "p50_ms", "p99_ms", "p50_vs_numpy", "batch_ms_per_query",
               "batch_vs_numpy", "recall_at_10", "build_load_sec"])
    result = {"benchmark": "search", "size": size, "machine": common.machine(), "dimension": common.DIMENSION,
              "k": K, "segments_per_video": SEGMENTS_PER_VIDEO, "queries": sizes, "numpy_threads": NUMPY_THREADS,
              "memory_note": "memory_over_raw: growth of this process's RSS (Milvus Lite runs in it) from "
                             "before the insert to after the last index, divided by the raw float32 vectors",
              "rows": rows}
    common.write(args.out, "search", result)
    if not args.no_plot:
        plot(rows, args.out)
    return 0


def plot(rows: list[dict], out: Path) -> None:
    """Recall@10 against median latency, one panel per size: colour = index, shape = backend."""
    from matplotlib.lines import Line2D

    plt = common.figure()
    ns = sorted({r["n"] for r in rows})
    colours = {"numpy": "black", "FLAT": "tab:red", "IVF_FLAT": "tab:blue", "HNSW": "tab:green"}
    markers = {"numpy": "*", "lite": "o", "server": "s"}
    fig, axes = plt.subplots(1, len(ns), figsize=(5.5 * len(ns), 4.2), squeeze=False, sharey=True)
    for ax, n in zip(axes[0], ns):
        for r in (r for r in rows if r["n"] == n):
            ax.scatter(r["p50_ms"], r["recall_at_10"], color=colours[r["index"]],
                       marker=markers[r["backend"]], s=90 if r["index"] == "numpy" else 45, alpha=0.85)
            # Points at recall 1 crowd together: label only the trade-offs and FLAT's metric.
            note = (r["metric"] if r["index"] == "FLAT" else
                    ",".join(f"{k}={v}" for k, v in r["search"].items()) if r["recall_at_10"] < 0.999 else "")
            if note:
                ax.annotate(note, (r["p50_ms"], r["recall_at_10"]), fontsize=6, xytext=(3, -8),
                            textcoords="offset points", color=colours[r["index"]])
        ax.set_xscale("log")
        ax.set_xlabel("median latency of one query (ms, log scale)")
        ax.set_title(f"{n:,} segment vectors ({common.DIMENSION}-d)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("recall@10 (share of the exact top 10 found)")
    handles = [Line2D([], [], color=c, marker="o", linestyle="", label=i if i != "numpy" else "numpy (exact, in memory)")
               for i, c in colours.items()]
    handles += [Line2D([], [], color="grey", marker=m, linestyle="", label=f"{b}" if b != "numpy" else "")
                for b, m in markers.items() if b != "numpy"]
    axes[0][-1].legend(handles=handles, fontsize=7, loc="lower right", title="colour: index, shape: backend",
                       title_fontsize=7)
    common.save_plot(fig, out, "search")


if __name__ == "__main__":
    raise SystemExit(main())
