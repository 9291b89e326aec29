"""Ctrl-C during ``ingest`` stops in at most 2 s and starts nothing new: a subprocess ingests six
videos against a fake API that holds every task ``processing`` (polled every 5 s, as live),
gets SIGINT once two tasks exist, and must exit within 2 s with no task created after the
signal. Run again, the batch ends with every row once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import store
from tests.test_ingest import expected_rows

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / "data" / "videos"
BATCH = ["bunny", "bikes", "carphone", "tree", "vtest", "montage"]

SCRIPT = textwrap.dedent('''
    import json, sys, time
    from pathlib import Path

    import httpx

    from helpers import store
    from helpers.client import make_client
    from helpers.ingest import ingest
    from helpers.settings import load_settings
    from faults import FakeEmbedAPI

    work, videos, hold = Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3] == "hold"

    class Server(httpx.BaseTransport):
        """The fake API, writing down when each task create arrives."""
        def __init__(self, inner):
            self.inner = inner

        def handle_request(self, request):
            if request.method == "POST" and request.url.path.endswith("/embed-v2/tasks"):
                with open(work / "creates.log", "a") as log:
                    log.write(f"{time.time()}\\n")
            return self.inner.handle_request(request)

    env = {"TL_MODE": "live", "TWELVE_LABS_API_KEY": "tlk_" + "NotARealKey0000", "COURSE_CACHE_DIR": str(work / "cache")}
    client = make_client(load_settings(env, root=work), transport=Server(FakeEmbedAPI(task_polls=10**9 if hold else 0)),
                         source="fake API")
    milvus = store.connect(work / "store.db")
    try:
        table = ingest(client, milvus, "segments", videos, clip_length=6, concurrency=2)
        print(table.to_json(orient="records"))
    finally:
        store.close(milvus)
''')


def run(work: Path, mode: str) -> subprocess.Popen:
    script = work / "batch.py"
    script.write_text(SCRIPT)
    path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    videos = json.dumps([str(VIDEOS / f"{v}.mp4") for v in BATCH])
    return subprocess.Popen([sys.executable, str(script), str(work), videos, mode], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": path}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def creates(work: Path) -> list[float]:
    log = work / "creates.log"
    return [float(x) for x in log.read_text().split()] if log.exists() else []


def test_ctrl_c_stops_within_two_seconds_and_a_rerun_has_every_row_once(tmp_path):
    first = run(tmp_path, "hold")
    deadline = time.monotonic() + 120
    while len(creates(tmp_path)) < 2:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "no task was ever created"
        time.sleep(0.1)
    time.sleep(1.0)  # both workers are now asleep between two polls
    sent = time.time()
    first.send_signal(signal.SIGINT)
    try:
        first.communicate(timeout=30)
    finally:
        first.kill()
    exit_sec = time.time() - sent
    after = [t for t in creates(tmp_path) if t > sent]
    print(f"\nSIGINT to exit: {exit_sec:.2f} s; tasks created after the signal: {len(after)}")
    assert exit_sec <= 2.0 and not after

    second = run(tmp_path, "ready")
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-3000:]
    assert [r["outcome"] for r in json.loads(out.strip().splitlines()[-1])] == ["embedded"] * len(BATCH)
    milvus = store.connect(tmp_path / "store.db")
    try:
        store.ensure_loaded(milvus, "segments")
        rows = milvus.query("segments", filter="", output_fields=["id", "video_id"], limit=10_000)
    finally:
        store.close(milvus)
    per_video = {v: sum(r["video_id"] == v for r in rows) for v in BATCH}
    expected = {v: expected_rows(VIDEOS / f"{v}.mp4") for v in BATCH}
    assert per_video == expected and len({r["id"] for r in rows}) == len(rows)
