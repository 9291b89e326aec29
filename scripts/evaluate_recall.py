#!/usr/bin/env python
"""How well does search find what the catalog says is there? Recall@1, recall@5 and MRR of two
sets of text queries, and how many of chapter 05's montage moments land on their annotation.

* the catalog's 12 queries (``data/catalog.json``) and the 25 of ``data/queries_tuning.json``:
  the split on which the offline stand-in may be tuned;
* the held-out queries (``data/queries_heldout.json``), which it must never be tuned on;
* montage moments: for each catalog query annotated in the montage, the best moment
  ``helpers.moments.moments_in_video`` finds there, and whether it overlaps the annotation
  (as chapter 05 measures it), at several clip lengths.

Runs in whatever mode the environment picks (replay by default: the shipped recordings; set
TL_MODE=local to embed afresh with the stand-in, or use a key for Marengo itself), in throw-away
Milvus Lite stores and with the embedding cache off, so every number comes from this run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from helpers import store
from helpers.client import make_client
from helpers.embed import embed_text, embed_video, embed_videos
from helpers.evaluate import recall_at, results_table, run_queries
from helpers.media import DATA_DIR, Interval, Query, load_catalog
from helpers.moments import moment_error, moments_in_video
from helpers.settings import load_settings

HELDOUT_FILE = DATA_DIR / "queries_heldout.json"
TUNING_FILE = DATA_DIR / "queries_tuning.json"


def load_queries(path: Path) -> tuple[Query, ...]:
    """Queries in the catalog's ``queries`` format from a file of their own."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return tuple(
        Query(q["text"], tuple(Interval(r["video_id"], float(r["start_sec"]), float(r["end_sec"]))
                               for r in q["relevant"]))
        for q in raw["queries"]
    )


def mean_reciprocal_rank(results) -> float:
    """1/rank of the first relevant hit, averaged (0 for a query with none in its hits)."""
    return sum(1 / r.first_relevant_rank() if r.first_relevant_rank() else 0.0 for r in results) / len(results)


def report(name: str, results, limit: int, table: bool = True) -> dict:
    k = min(5, limit)
    scores = {"recall@1": recall_at(results, 1), f"recall@{k}": recall_at(results, k),
              "MRR": mean_reciprocal_rank(results)}
    print(f"\n== {name}: {len(results)} queries")
    if table:
        print(results_table(results).to_string(index=False))
    print(f"{name}: " + ", ".join(f"{key} {value:.3f}" for key, value in scores.items()))
    return scores


def montage_moment_hits(client, milvus, catalog, lengths) -> None:
    """Chapter 05's measurement: one store per clip length, the montage alone in it."""
    montage = catalog.videos["montage"]
    queries = [(q, next(i for i in q.relevant if i.video_id == "montage"))
               for q in catalog.queries if any(i.video_id == "montage" for i in q.relevant)]
    vectors = {q.text: embed_text(client, q.text) for q, _ in queries}
    print(f"\n== montage moments: {len(queries)} catalog queries annotated in the montage")
    for length in lengths:
        name = f"montage_{str(length).replace('.', '_')}s"
        cut = [s for s in embed_video(client, montage.path, video_id="montage", title=montage.title,
                                      clip_length=length) if s.scope == "clip"]
        store.ensure_collection(milvus, name, cut[0].dimension)
        store.upsert_segments(milvus, name, cut)
        hits, missed = 0, []
        for q, interval in queries:
            moment = moments_in_video(milvus, name, vectors[q.text], "montage")[0]
            if moment_error(moment, interval).hit:
                hits += 1
            else:
                missed.append(f"{q.text!r} found {moment.start_sec:g}-{moment.end_sec:g}")
        print(f"montage moment hits at {length:g} s = {hits} of {len(queries)}")
        for line in missed:
            print(f"  missed: {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip-length", type=float, default=6)
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--moment-lengths", type=float, nargs="*", default=None,
                        help="clip lengths for the montage moments (default 2 4 6; none given: skip)")
    parser.add_argument("--heldout", action=argparse.BooleanOptionalAction, default=None,
                        help="also the tuning and held-out queries (default: yes, except in replay mode)")
    args = parser.parse_args(argv)
    settings = load_settings()
    client = make_client(settings, cache=False)
    catalog = load_catalog()
    # The recordings hold what the chapters ask, not the other query sets: replay can only
    # answer the catalog's set (and the montage cuts only if a chapter recorded them).
    replay = settings.mode == "replay"
    sets = [("catalog", catalog.queries, True)]
    if args.heldout if args.heldout is not None else not replay:
        tuning = load_queries(TUNING_FILE)
        # The combined split's rows are the two tables above, so only its scores are printed.
        sets += [("tuning", tuning, True), ("catalog + tuning", tuple(catalog.queries) + tuning, False),
                 ("held-out", load_queries(HELDOUT_FILE), True)]
    lengths = args.moment_lengths if args.moment_lengths is not None else ([] if replay else [2, 4, 6])
    with tempfile.TemporaryDirectory() as tmp:
        milvus = store.connect(str(Path(tmp) / "recall.db"))
        segments = embed_videos(client, catalog.videos.values(), clip_length=args.clip_length)
        store.ensure_collection(milvus, "recall", segments[0].dimension)
        store.upsert_segments(milvus, "recall", segments)
        print(f"mode: {settings.mode}; {len(segments)} segments; clip length {args.clip_length:g} s")
        for name, queries, table in sets:
            results = run_queries(
                queries,
                lambda text: store.search(milvus, "recall", embed_text(client, text), limit=args.limit),
            )
            scores = report(name, results, args.limit, table=table)
            if name == "catalog":  # the lines tests/test_recall.py reads
                print(f"recall@1 = {scores['recall@1']:.3f}")
                print(f"recall@5 = {recall_at(results, min(5, args.limit)):.3f}")
        if lengths:
            montage_moment_hits(client, milvus, catalog, lengths)
        elif replay:
            print("\n(replay mode: tuning and held-out queries and montage moments skipped; TL_MODE=local runs them)")
        milvus.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
