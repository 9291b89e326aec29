"""Batch ingestion: a folder or a list in, one row per video out, bounded concurrency, and a
batch that is killed mid-way and run again ends with every row once (counted in Milvus)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from coursekit.standin import video as standin_video

from helpers import store
from helpers.client import course_of
from helpers.embed import embed_text, embed_video
from helpers.errors import EmbeddingError, StoreError, VideoError
from helpers.ingest import ingest
from helpers.media import check_video, load_catalog
from faults import FakeEmbedAPI, FaultTransport, endpoint, fake_client, logged, task_failed

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT / "data" / "videos"
COLLECTION = "segments"


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "videos"
    d.mkdir()
    for name in ("bunny", "bikes", "carphone"):
        shutil.copy(VIDEOS / f"{name}.mp4", d / f"{name}.mp4")
    (d / "notes.txt").write_text("not a video, and not picked up from a folder")
    return d


@pytest.fixture
def milvus(tmp_path):
    client = store.connect(tmp_path / "store.db")
    yield client
    store.close(client)


def expected_rows(path: Path, clip_length: float = 6) -> int:
    """The stand-in's clips of ``clip_length`` (a last one under 2 s dropped, as the API's
    description says) plus one whole-video row."""
    return len(standin_video.segments(0, check_video(path).duration_sec, clip_length)) + 1


def test_a_folder_in_a_table_out_and_a_rerun_is_all_cached(tmp_path, folder, milvus):
    api = FakeEmbedAPI()
    table = ingest(fake_client(tmp_path, api), milvus, COLLECTION, folder, clip_length=6)
    assert list(table.columns) == ["video", "outcome", "segments", "reason"]
    assert table["video"].tolist() == ["bikes", "bunny", "carphone"]  # sorted, .txt skipped
    assert table["outcome"].tolist() == ["embedded"] * 3
    expected = sum(expected_rows(folder / f"{v}.mp4") for v in table["video"])
    assert table["segments"].sum() == expected == store.count(milvus, COLLECTION)
    calls = len(api.calls)
    again = ingest(fake_client(tmp_path, api), milvus, COLLECTION, folder, clip_length=6)
    assert again["outcome"].tolist() == ["cached"] * 3 and len(api.calls) == calls
    assert store.count(milvus, COLLECTION) == expected


def test_one_bad_video_is_a_row_not_the_end_of_the_batch(tmp_path, folder, milvus):
    broken = folder / "broken.mp4"
    broken.write_text("this is text pretending to be a video")
    api = FakeEmbedAPI()
    faults = FaultTransport(api, {"GET /embed-v2/tasks/{id}": [task_failed("decoder error at 3 s")]})
    table = ingest(fake_client(tmp_path, faults), milvus, COLLECTION, folder, concurrency=1).set_index("video")
    assert table.loc["broken", "outcome"] == "failed" and "not a video" in table.loc["broken", "reason"]
    assert table.loc["bikes", "outcome"] == "failed" and "decoder error at 3 s" in table.loc["bikes", "reason"]
    assert (table.loc[["bunny", "carphone"], "outcome"] == "embedded").all()
    # Run again, the fault is gone: the failed video is embedded, the others come from the cache.
    again = ingest(fake_client(tmp_path, api), milvus, COLLECTION, folder, concurrency=1).set_index("video")
    assert again.loc["bikes", "outcome"] == "embedded"
    assert (again.loc[["bunny", "carphone"], "outcome"] == "cached").all()


def test_catalog_videos_paths_and_mappings_are_accepted(tmp_path, milvus):
    catalog = load_catalog()
    chosen = [catalog.videos["bunny"], VIDEOS / "carphone.mp4"]
    table = ingest(fake_client(tmp_path, FakeEmbedAPI()), milvus, COLLECTION, chosen)
    assert table["video"].tolist() == ["bunny", "carphone"]
    rows = milvus.query(COLLECTION, filter='video_id == "bunny"', output_fields=["title"])
    assert {r["title"] for r in rows} == {catalog.videos["bunny"].title}
    by_id = {"bunny": catalog.videos["bunny"]}
    assert ingest(fake_client(tmp_path, FakeEmbedAPI()), milvus, COLLECTION, by_id)["outcome"].tolist() == ["cached"]


def test_two_files_with_one_id_are_refused_before_anything_happens(tmp_path, folder, milvus):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(VIDEOS / "tree.mp4", other / "bikes.mp4")
    api = FakeEmbedAPI()
    with pytest.raises(VideoError, match="Two videos would get the id 'bikes'"):
        ingest(fake_client(tmp_path, api), milvus, COLLECTION, [folder, other])
    assert api.calls == []


def test_an_empty_folder_says_so(tmp_path, milvus):
    with pytest.raises(VideoError, match="holds no video files"):
        ingest(fake_client(tmp_path, FakeEmbedAPI()), milvus, COLLECTION, tmp_path)


class Gauge(httpx.BaseTransport):
    """Counts the videos whose uploads are in flight at once. An upload waits (up to seconds)
    until ``meet`` uploads are in flight together or the last video has come, then holds a
    moment: a batch that can run ``meet`` at once is seen doing so, a serial one is seen alone,
    and one that would run more has the time to show it."""

    def __init__(self, inner, meet: int, videos: int):
        self.inner, self.meet, self.videos = inner, meet, videos
        self.active = self.peak = self.arrived = 0
        self.changed = threading.Condition()

    def handle_request(self, request):
        if not (request.method == "POST" and request.url.path.endswith("/assets")):
            return self.inner.handle_request(request)
        with self.changed:
            self.active += 1
            self.arrived += 1
            self.peak = max(self.peak, self.active)
            self.changed.notify_all()
            self.changed.wait_for(lambda: self.active >= self.meet or self.arrived >= self.videos, timeout=5)
        time.sleep(0.05)
        try:
            return self.inner.handle_request(request)
        finally:
            with self.changed:
                self.active -= 1


@pytest.mark.parametrize("concurrency", [1, 2])
def test_concurrency_is_bounded(tmp_path, folder, milvus, concurrency):
    gauge = Gauge(FakeEmbedAPI(), meet=concurrency, videos=3)
    table = ingest(fake_client(tmp_path, gauge), milvus, COLLECTION, folder, concurrency=concurrency)
    assert (table["outcome"] == "embedded").all()
    assert gauge.peak == concurrency  # reached, and never passed


def test_a_milvus_failure_stops_the_batch_and_keeps_the_embeddings(tmp_path, folder, milvus, monkeypatch):
    def refuse(*args, **kwargs):
        raise StoreError("Milvus refused the write (injected).")

    api = FakeEmbedAPI()
    with monkeypatch.context() as patch:
        patch.setattr(store, "upsert_segments", refuse)
        with pytest.raises(StoreError, match=r"Ingestion stopped with \d of 3 videos stored; the ones embedded so far "
                                             "are cached, so running ingest again re-embeds nothing"):
            ingest(fake_client(tmp_path, api), milvus, COLLECTION, folder, concurrency=1)
    assert api.calls.count("POST /embed-v2/tasks") == 1  # stopped after the first video
    table = ingest(fake_client(tmp_path, api), milvus, COLLECTION, folder, concurrency=1)
    assert table["outcome"].tolist() == ["cached", "embedded", "embedded"]
    assert api.calls.count("POST /embed-v2/tasks") == 3  # the first video was not embedded twice
    assert store.count(milvus, COLLECTION) == table["segments"].sum()


def test_one_progress_bar_and_none_in_replay(tmp_path, folder, milvus, capsys):
    ingest(fake_client(tmp_path, FakeEmbedAPI(), mode="replay"), milvus, COLLECTION, folder)
    assert capsys.readouterr().err == ""
    ingest(fake_client(tmp_path, FakeEmbedAPI(), mode="local"), milvus, "other", folder)
    err = capsys.readouterr().err
    assert "Ingesting" in err and "Upload" not in err and "Embed " not in err


# --- crash and rerun ------------------------------------------------------------------------

BATCH = ["bunny", "bikes", "carphone", "tree", "vtest", "montage"]

SCRIPT = textwrap.dedent('''
    """Ingest BATCH; with a limit, hang on every upload after the first LIMIT (until killed)."""
    import json, sys, threading
    from pathlib import Path

    import httpx

    from helpers import store
    from helpers.client import make_client
    from helpers.ingest import ingest
    from helpers.logs import configure_logging
    from helpers.settings import load_settings
    from faults import FakeEmbedAPI

    work, videos, limit = Path(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])

    class HangAfter(httpx.BaseTransport):
        def __init__(self, inner):
            self.inner, self.uploads, self.lock = inner, 0, threading.Lock()

        def handle_request(self, request):
            if request.method == "POST" and request.url.path.endswith("/assets"):
                with self.lock:
                    self.uploads += 1
                    hang = limit >= 0 and self.uploads > limit
                if hang:
                    (work / "hanging").touch()
                    threading.Event().wait()
            return self.inner.handle_request(request)

    configure_logging("INFO", directory=work / "logs")
    settings = load_settings({"TL_MODE": "local", "COURSE_CACHE_DIR": str(work / "cache")}, root=work)
    client = make_client(settings, transport=HangAfter(FakeEmbedAPI()), source="fake API")
    milvus = store.connect(work / "store.db")
    table = ingest(client, milvus, "segments", videos, clip_length=6, concurrency=2)
    store.close(milvus)
    print(table.to_json(orient="records"))
''')


def _run_batch(work: Path, limit: int) -> subprocess.Popen:
    script = work / "batch.py"
    script.write_text(SCRIPT)
    videos = json.dumps([str(VIDEOS / f"{v}.mp4") for v in BATCH])
    # The script imports the tests' fault injection (tests/faults.py), as the tests themselves do.
    path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, str(script), str(work), videos, str(limit)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": path}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _rows_per_video(work: Path) -> dict[str, int]:
    milvus = store.connect(work / "store.db")
    try:
        if not milvus.has_collection(COLLECTION):
            return {}
        store.ensure_collection(milvus, COLLECTION, 16)
        rows = milvus.query(COLLECTION, filter="", output_fields=["id", "video_id"], limit=10_000)
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)) == store.count(milvus, COLLECTION)
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["video_id"]] = counts.get(r["video_id"], 0) + 1
        return counts
    finally:
        store.close(milvus)


def test_a_batch_killed_mid_way_then_run_again_has_every_row_once(tmp_path):
    expected = {v: expected_rows(VIDEOS / f"{v}.mp4") for v in BATCH}
    log = tmp_path / "logs" / "course.log"
    first = _run_batch(tmp_path, limit=3)
    try:
        deadline = time.monotonic() + 180
        # Three videos written, the next two hanging in their uploads: kill it there.
        while not ((tmp_path / "hanging").exists() and log.exists()
                   and log.read_text().count("Upserted") >= 3):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the batch never reached the kill point"
            time.sleep(0.2)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    after_kill = _rows_per_video(tmp_path)
    assert after_kill == {v: expected[v] for v in BATCH[:3]}, after_kill

    second = _run_batch(tmp_path, limit=-1)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-3000:]
    table = json.loads(out.strip().splitlines()[-1])
    assert [r["outcome"] for r in table] == ["cached"] * 3 + ["embedded"] * 3
    final = _rows_per_video(tmp_path)
    assert final == expected, (final, expected)
    print(f"\ncrash and rerun: after the kill {sum(after_kill.values())} rows "
          f"({len(after_kill)} videos); after the rerun {sum(final.values())} rows, "
          f"expected {sum(expected.values())}")


# --- Ctrl-C, in this process -----------------------------------------------------------------

class CtrlC(httpx.BaseTransport):
    """Every task stays ``processing``. The first poll waits (up to 10 s) until two videos have a
    task, then presses Ctrl-C (a real SIGINT: the batch's main thread gets ``KeyboardInterrupt``
    while it waits for its workers). Every poll answers only once the batch has told its waits
    to stop (``cancel``); one that waited 10 s in vain is counted in ``unwoken`` (and no later
    one waits)."""

    def __init__(self):
        self.inner, self.cancel = FakeEmbedAPI(task_polls=10**9), threading.Event()
        self.changed = threading.Condition()
        self.uploads = self.creates = self.polls = self.unwoken = 0

    def handle_request(self, request):
        name = endpoint(request)
        if name in ("POST /assets", "POST /embed-v2/tasks"):
            response = self.inner.handle_request(request)
            with self.changed:
                self.uploads += name == "POST /assets"
                self.creates += name == "POST /embed-v2/tasks"
                self.changed.notify_all()
            return response
        if name == "GET /embed-v2/tasks/{id}":
            with self.changed:
                self.polls += 1
                first = self.polls == 1
                if first:
                    self.changed.wait_for(lambda: self.creates >= 2, timeout=10)
            if first:
                os.kill(os.getpid(), signal.SIGINT)
            if not self.unwoken and not self.cancel.wait(10):
                self.unwoken += 1
        return self.inner.handle_request(request)


def test_ctrl_c_wakes_every_wait_starts_nothing_new_and_leaves_the_client_usable(tmp_path, folder, milvus):
    # The third video is in the cache already: nothing would stop it but not being started.
    embed_video(fake_client(tmp_path, FakeEmbedAPI(), mode="live"), folder / "carphone.mp4", clip_length=6)
    server = CtrlC()
    client = fake_client(tmp_path, server, mode="live")
    server.cancel = course_of(client).cancel
    # Ctrl-C raises KeyboardInterrupt, as in a terminal or a kernel (a process started in the
    # background may have inherited SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            ingest(client, milvus, COLLECTION, folder, clip_length=6, concurrency=2)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert server.unwoken == 0  # both videos' waits were woken, not left to their deadlines
    assert server.uploads == 2 and server.creates == 2  # the third video never started ...
    assert not milvus.has_collection(COLLECTION)  # ... nor was it stored from the cache
    assert embed_text(client, "a dog").shape  # the interrupt is over: the client works again


def test_a_batch_is_not_cancelled_by_an_interrupt_whose_clean_up_was_cut_short(tmp_path, folder, milvus):
    client = fake_client(tmp_path, FakeEmbedAPI())
    course_of(client).cancel.set()  # Ctrl-C pressed again while the last batch was stopping
    table = ingest(client, milvus, COLLECTION, folder)
    assert table["outcome"].tolist() == ["embedded"] * 3


def test_videos_that_do_not_fit_an_existing_collection_are_failed_rows(tmp_path, folder, milvus):
    # A collection made earlier by another model (8-d): every video of this batch (16-d) is a
    # failed row saying why, none is stored, and the collection is left as it was.
    store.ensure_collection(milvus, COLLECTION, 8)
    table = ingest(fake_client(tmp_path, FakeEmbedAPI()), milvus, COLLECTION, folder)
    assert table["outcome"].tolist() == ["failed"] * 3
    assert all("its vectors have 16 dimensions and 'segments' holds 8-d ones" in r for r in table["reason"])
    assert store.count(milvus, COLLECTION) == 0


# --- what the batch refuses at once, shows while it runs, and writes in the log -----------------

@pytest.mark.parametrize("concurrency", [0, -1, 1.5, "2", None])
def test_a_concurrency_that_is_not_a_whole_number_of_at_least_one_is_refused(tmp_path, folder, milvus,
                                                                            concurrency):
    api = FakeEmbedAPI()
    with pytest.raises(ValueError, match=f"concurrency must be a whole number of at least 1, not {concurrency!r}"):
        ingest(fake_client(tmp_path, api), milvus, COLLECTION, folder, concurrency=concurrency)
    assert api.calls == []


def test_a_clip_length_out_of_range_is_one_error_before_any_video(tmp_path, folder, milvus):
    api = FakeEmbedAPI()
    with pytest.raises(EmbeddingError, match="clip_length=12: Marengo cuts videos into clips of 2-10 s"):
        ingest(fake_client(tmp_path, api), milvus, COLLECTION, folder, clip_length=12)
    assert api.calls == [] and not milvus.has_collection(COLLECTION)


def test_a_live_batch_shows_one_bar_that_counts_the_videos_and_names_the_last(tmp_path, folder, milvus, capsys):
    ingest(fake_client(tmp_path, FakeEmbedAPI(task_polls=1), mode="live"), milvus, COLLECTION, folder, concurrency=1)
    shown = capsys.readouterr().err
    assert "Ingesting" in shown and "3/3" in shown and "carphone: embedded" in shown
    assert "Upload" not in shown and "Embed " not in shown  # no bar per video under it


class Bug(httpx.BaseTransport):
    """The fake API, but the first upload meets a bug (a ``RuntimeError``, no course error)."""

    def __init__(self):
        self.inner, self.uploads = FakeEmbedAPI(), 0

    def handle_request(self, request):
        if endpoint(request) == "POST /assets":
            self.uploads += 1
            if self.uploads == 1:
                raise RuntimeError("a bug, not the API's answer")
        return self.inner.handle_request(request)


def test_the_log_has_each_failed_video_a_bugs_traceback_and_the_batchs_counts(tmp_path, folder, milvus,
                                                                              course_log):
    (folder / "broken.mp4").write_text("this is text pretending to be a video")
    table = ingest(fake_client(tmp_path, Bug()), milvus, COLLECTION, folder, concurrency=1).set_index("video")
    assert table["outcome"].to_dict() == {"bikes": "failed", "broken": "failed", "bunny": "embedded",
                                          "carphone": "embedded"}
    log = course_log.read_text()
    broken = next(line for line in logged(course_log, "ERROR") if "Ingest: broken failed: " in line)
    assert "is not a video PyAV can read" in broken
    # A course error explains itself: no traceback after it. A bug gets its traceback.
    after_broken = log.split(broken, 1)[1].splitlines()[1:2]
    assert not after_broken or not after_broken[0].startswith("Traceback")
    assert re.search(r" ERROR .*Ingest: bikes failed: a bug, not the API's answer\nTraceback", log)
    assert "Ingested 4 videos into 'segments': 2 embedded, 2 failed" in log


def test_a_video_id_that_names_other_footage_is_a_failed_row_and_an_error_in_the_log(tmp_path, folder, milvus,
                                                                                   course_log):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(VIDEOS / "tree.mp4", other / "bikes.mp4")
    ingest(fake_client(tmp_path, FakeEmbedAPI()), milvus, COLLECTION, [other / "bikes.mp4"])
    table = ingest(fake_client(tmp_path, FakeEmbedAPI()), milvus, COLLECTION, folder).set_index("video")
    assert table.loc["bikes", "outcome"] == "failed" and "already names other footage" in table.loc["bikes", "reason"]
    assert re.search(r" ERROR .*Ingest: bikes not stored: .*already names other footage", course_log.read_text())


class BothReady(httpx.BaseTransport):
    """The fake API, noting when every one of ``videos`` tasks has answered ``ready``."""

    def __init__(self, videos: int):
        self.inner, self.videos, self.ready = FakeEmbedAPI(), videos, 0
        self.changed = threading.Condition()

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        if endpoint(request) == "GET /embed-v2/tasks/{id}" and json.loads(response.read())["status"] == "ready":
            with self.changed:
                self.ready += 1
                self.changed.notify_all()
        return response


def test_a_milvus_failure_counts_the_video_another_worker_was_writing(tmp_path, milvus, monkeypatch):
    # Two videos at once. The first write fails once both are embedded, while the other video
    # waits to write: that write still happens, and the count in the error includes it.
    server, real, calls = BothReady(videos=2), store.upsert_segments, []

    def first_write_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            with server.changed:
                server.changed.wait_for(lambda: server.ready == 2, timeout=10)
            raise StoreError("Milvus refused the write (injected).")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "upsert_segments", first_write_fails)
    with pytest.raises(StoreError, match="Ingestion stopped with 1 of 2 videos stored"):
        ingest(fake_client(tmp_path, server), milvus, COLLECTION, [VIDEOS / "bikes.mp4", VIDEOS / "bunny.mp4"],
               clip_length=6, concurrency=2)
    assert len(calls) == 2 and store.count(milvus, COLLECTION) in {expected_rows(VIDEOS / f"{v}.mp4")
                                                                   for v in ("bikes", "bunny")}
