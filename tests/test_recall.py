"""A floor under search quality: the shipped recordings must still find most catalog queries.

The real figures are printed by `make recall` (scripts/evaluate_recall.py); this only guards
against a change that breaks retrieval outright (the floor is far below what is measured)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_replayed_text_queries_find_their_annotated_segments():
    env = dict(os.environ, TL_MODE="replay")
    out = subprocess.run([sys.executable, "scripts/evaluate_recall.py"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    recall = {k: float(v) for k, v in re.findall(r"recall@(\d) = ([0-9.]+)", out.stdout)}
    assert set(recall) == {"1", "5"}
    # A random ranking of the 35 clip segments gives, in expectation, recall@1 = 0.14 and
    # recall@5 = 0.45 on this catalog (computed from the relevant-segment counts per query);
    # the stand-in measures 0.67 and 0.92.
    assert recall["5"] >= 0.5 and recall["1"] >= 0.25, out.stdout
