"""The embedding cache: a second run makes no API call and returns identical vectors; keys
keep sources and settings apart; damaged entries are ignored, never trusted."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from helpers import cache as cache_module
from helpers.cache import EmbeddingCache, video_key
from helpers.client import STANDIN_SOURCE, make_client, vector_source
from helpers.embed import embed_clip, embed_text, embed_video, embed_video_result, embed_videos
from helpers.errors import EmbeddingError
from helpers.media import load_catalog
from helpers.settings import load_settings
from faults import FakeClock, FakeEmbedAPI

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "data" / "videos" / "bikes.mp4"
FAKE_KEY = "tlk_" + "C4ch3T3stK3y000000"


def client_for(tmp_path, mode="local", api=None, cache_dir=None, **kwargs):
    env = {"TL_MODE": mode, "COURSE_CACHE_DIR": str(cache_dir or tmp_path / "cache")}
    if mode in ("live", "record"):
        env["TWELVE_LABS_API_KEY"] = FAKE_KEY
    if mode in ("record", "replay"):
        env["TL_RECORDINGS_DIR"] = str(tmp_path / "recordings")
    api = api or FakeEmbedAPI()
    kwargs.setdefault("policy", FakeClock().policy())  # live mode polls every 5 s: of fake time
    return make_client(load_settings(env, root=tmp_path), transport=api, **kwargs), api


def entries(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*.json") if p.parent.name != "tasks"]


def test_a_second_run_makes_no_call_and_returns_identical_vectors(tmp_path):
    client, api = client_for(tmp_path)
    first = embed_video_result(client, VIDEO, video_id="bikes", title="Bikes")
    q1 = embed_text(client, "a red car")
    calls = len(api.calls)
    again, api2 = client_for(tmp_path)  # a new process would build a new client just like this
    second = embed_video_result(again, VIDEO, video_id="bikes", title="Bikes")
    q2 = embed_text(again, "a red car")
    assert calls > 0 and api2.calls == []
    assert (first.cached, second.cached) == (False, True)
    assert second.segments == first.segments and np.array_equal(q1, q2)


def test_the_id_and_title_are_labels_not_part_of_the_key(tmp_path):
    client, api = client_for(tmp_path)
    embed_video(client, VIDEO, video_id="bikes")
    calls = len(api.calls)
    renamed = embed_video(client, VIDEO, video_id="cyclists", title="Renamed")
    assert len(api.calls) == calls
    assert {s.video_id for s in renamed} == {"cyclists"} and {s.title for s in renamed} == {"Renamed"}


@pytest.mark.parametrize("change", [
    {"clip_length": 4}, {"scopes": ("clip",)}, {"options": ("visual", "audio")},
])
def test_other_settings_are_other_entries(tmp_path, change):
    client, api = client_for(tmp_path)
    embed_video(client, VIDEO)
    calls = len(api.calls)
    try:
        embed_video(client, VIDEO, **change)
    except EmbeddingError as err:  # the fake, like the stand-in, refuses audio: asked all the same
        assert "only 'visual'" in str(err)
    assert len(api.calls) > calls


def test_6_and_6_0_seconds_share_an_entry():
    a, _ = video_key("abc", model="m", clip_length=6, options=["visual"], scopes=["clip"], source="s")
    b, _ = video_key("abc", model="m", clip_length=6.0, options=["visual"], scopes=["clip"], source="s")
    assert a == b


def test_stand_in_vectors_are_never_served_live_and_back(tmp_path):
    local, local_api = client_for(tmp_path, "local")
    live, live_api = client_for(tmp_path, "live")
    assert local.course.source == STANDIN_SOURCE
    assert live.course.source.startswith("api.twelvelabs.io")
    embed_video(local, VIDEO)
    embed_text(local, "a tree")
    embed_video(live, VIDEO)
    embed_text(live, "a tree")
    assert "POST /embed-v2/tasks" in live_api.calls and "POST /embed-v2" in live_api.calls
    # Both are now cached, each under its own source.
    assert len(entries(tmp_path / "cache")) == 4


def test_the_sources_follow_the_mode(tmp_path):
    def source(env):
        return vector_source(load_settings(env, root=tmp_path), "https://api.twelvelabs.io/v1.3")

    assert source({"TL_MODE": "local"}) == STANDIN_SOURCE
    assert source({"TL_MODE": "record", "TL_RECORD_FROM": "local"}) == STANDIN_SOURCE
    assert source({"TL_MODE": "record", "TL_RECORD_FROM": "live"}) == source({"TL_MODE": "live"})
    assert source({"TL_MODE": "live"}) != STANDIN_SOURCE


def test_the_stand_in_label_matches_the_stand_ins_own(tmp_path):
    """Local mode's cache entries are labelled with what the stand-in's answers say about
    themselves, and knowing the label costs no import of the stand-in (or its model)."""
    from coursekit.transports.local import SOURCE_HEADER, LocalTransport

    answer = httpx.Client(transport=LocalTransport()).get("https://api.twelvelabs.io/v1.3/assets/none")
    local = vector_source(load_settings({"TL_MODE": "local"}, root=tmp_path))
    assert answer.status_code == 404 and answer.headers[SOURCE_HEADER] == local
    probe = ("import sys, helpers.client; "
             "print(sorted(m for m in sys.modules if m.startswith(('coursekit.standin', "
             "'coursekit.transports.local', 'torch', 'av'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert loaded.returncode == 0 and loaded.stdout.strip() == "[]", (loaded.stdout, loaded.stderr[-2000:])


def test_replay_uses_no_cache_and_record_never_reads_it(tmp_path):
    replay, _ = client_for(tmp_path, "replay")
    assert replay.course.cache is None
    warm, _ = client_for(tmp_path, "local")
    embed_video(warm, VIDEO)
    record, api = client_for(tmp_path, "record", source=STANDIN_SOURCE)
    embed_video(record, VIDEO)
    assert "POST /embed-v2/tasks" in api.calls  # every request reaches the recorder


def test_the_cache_folder_is_configurable(tmp_path):
    elsewhere = tmp_path / "somewhere" / "else"
    client, _ = client_for(tmp_path, cache_dir=elsewhere)
    embed_video(client, VIDEO)
    assert len(entries(elsewhere / "embeddings")) == 1
    off, api = client_for(tmp_path, cache=False)
    embed_video(off, VIDEO)
    embed_video(off, VIDEO)
    assert api.calls.count("POST /embed-v2/tasks") == 2


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _empty(path):
    path.write_bytes(b"")


def _flip_a_number(path):
    entry = json.loads(path.read_text())
    entry["payload"]["items"][0]["vector"][0] += 0.5
    path.write_text(json.dumps(entry))


def _wrong_key(path):
    entry = json.loads(path.read_text())
    entry["key"] = "0" * 64
    path.write_text(json.dumps(entry))


def _no_items(path):
    entry = json.loads(path.read_text())
    entry["payload"] = {"items": []}
    entry["sha256"] = cache_module._digest(entry["payload"])  # consistent, but useless
    path.write_text(json.dumps(entry))


def _nan_vector(path):
    entry = json.loads(path.read_text())
    entry["payload"]["items"][0]["vector"][0] = float("nan")
    entry["sha256"] = cache_module._digest(entry["payload"])
    path.write_text(json.dumps(entry))


def _binary_noise(path):
    path.write_bytes(b"\x00\xff" * 100)


def _items_not_a_list(path):
    entry = json.loads(path.read_text())
    entry["payload"] = {"items": 5}
    entry["sha256"] = cache_module._digest(entry["payload"])
    path.write_text(json.dumps(entry))


@pytest.mark.parametrize("damage", [_truncate, _empty, _flip_a_number, _wrong_key, _no_items, _nan_vector,
                                    _binary_noise, _items_not_a_list])
def test_a_damaged_entry_is_ignored_and_replaced(tmp_path, damage, caplog):
    client, api = client_for(tmp_path)
    clean = embed_video(client, VIDEO)
    [path] = entries(tmp_path / "cache")
    damage(path)
    calls = len(api.calls)
    with caplog.at_level(logging.WARNING, logger="helpers.cache"):
        again = embed_video_result(client, VIDEO)
    assert not again.cached and len(api.calls) > calls  # asked the API again
    assert again.segments == clean
    assert any("Ignored cache entry" in r.getMessage() for r in caplog.records)
    assert embed_video_result(client, VIDEO).cached  # and the entry was rewritten whole


def test_an_entry_that_cannot_be_read_is_said_and_embedded_again(tmp_path, monkeypatch, caplog):
    client, api = client_for(tmp_path)
    clean = embed_video(client, VIDEO)
    [path] = entries(tmp_path / "cache")
    read_bytes = Path.read_bytes

    def refused(self):  # a file of another user's, mode 600 (injected: root ignores permissions)
        if self == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refused)
    calls = len(api.calls)
    with caplog.at_level(logging.WARNING, logger="helpers.cache"):
        again = embed_video_result(client, VIDEO)
    assert not again.cached and len(api.calls) > calls and again.segments == clean
    assert f"Ignored cache entry {path.name}: it cannot be read ([Errno 13] Permission denied" in caplog.text
    monkeypatch.undo()
    assert embed_video_result(client, VIDEO).cached  # replaced by one this user can read


def test_a_text_entry_without_a_usable_vector_is_ignored_and_replaced(tmp_path, caplog):
    client, api = client_for(tmp_path)
    clean = embed_text(client, "a red car")
    [path] = entries(tmp_path / "cache")
    entry = json.loads(path.read_text())
    entry["payload"] = {"vector": ["not", "numbers"]}
    entry["sha256"] = cache_module._digest(entry["payload"])  # consistent, but useless
    path.write_text(json.dumps(entry))
    calls = len(api.calls)
    with caplog.at_level(logging.WARNING, logger="helpers.cache"):
        again = embed_text(client, "a red car")
    assert len(api.calls) > calls and np.array_equal(again, clean)
    assert f"Ignored cache entry {path.name}: it holds no usable vector" in caplog.text
    calls = len(api.calls)
    assert np.array_equal(embed_text(client, "a red car"), clean) and len(api.calls) == calls


def test_an_entry_is_checked_by_its_content_not_its_layout(tmp_path):
    """An entry pretty-printed to look at it (keys sorted, indented) is the same entry: still served."""
    client, api = client_for(tmp_path)
    clean = embed_video(client, VIDEO)
    [path] = entries(tmp_path / "cache")
    path.write_text(json.dumps(json.loads(path.read_text()), indent=2, sort_keys=True))
    calls = len(api.calls)
    again = embed_video_result(client, VIDEO)
    assert again.cached and again.segments == clean and len(api.calls) == calls


def test_a_damaged_task_journal_entry_is_never_resumed(tmp_path):
    """A journal entry whose task id is not one (a number, empty, missing, cut short) is never offered
    for resuming: the next run creates its task instead of asking the API about one that cannot exist."""
    cache = EmbeddingCache(tmp_path)
    key = "k" * 64
    journal = tmp_path / "tasks" / f"{key}.json"
    journal.parent.mkdir()
    for damaged in ('{"task_id": 42}', '{"task_id": ""}', '{"task_id": null}', '{}', '["task_1"]', '{"task_id": "ta'):
        journal.write_text(damaged)
        assert cache.pending_task(key) is None, damaged
    cache.remember_task(key, "task_1")
    assert cache.pending_task(key) == "task_1"


def test_the_course_settings_show_the_cache_folder_and_what_it_may_do(tmp_path):
    local, _ = client_for(tmp_path, "local")
    record, _ = client_for(tmp_path, "record", source=STANDIN_SOURCE)
    folder = str(tmp_path / "cache" / "embeddings")
    assert f"cache=EmbeddingCache({folder!r}, read=True, write=True)" in repr(local.course)
    assert f"cache=EmbeddingCache({folder!r}, read=False, write=True)" in repr(record.course)


def _items(value: float, n: int = 20, dim: int = 500) -> list[dict]:
    """A video entry of about ``n * dim * 4`` bytes, every number ``value``."""
    return [{"start_sec": 6.0 * i, "end_sec": 6.0 * (i + 1), "scope": "clip", "option": "visual",
             "vector": [value] * dim} for i in range(n)]


# A writer that the kernel kills part-way through its write: the file size limit makes the
# write that would pass it raise SIGXFSZ, whose default action ends the process on the spot
# (Python ignores the signal unless told otherwise, and then the write merely fails).
_KILLED_WRITER = textwrap.dedent("""
    import json, resource, signal, sys
    from helpers.cache import EmbeddingCache

    directory, key, fields, limit = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
    items = [{"start_sec": 6.0 * i, "end_sec": 6.0 * (i + 1), "scope": "clip", "option": "visual",
              "vector": [0.25] * 2000} for i in range(40)]
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    EmbeddingCache(directory).put_video(key, fields, items)
    print("the write finished, which it should not have")
""")


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path):
    key, fields = video_key("x", model="m", clip_length=6, options=["visual"], scopes=["clip"], source="s")
    first, second = _items(0.5), _items(0.75)

    # A reader racing a writer that replaces the entry again and again sees a whole entry
    # every time, one or the other, and never a half-written file.
    raced = EmbeddingCache(tmp_path / "raced")
    raced.put_video(key, fields, first)
    done = threading.Event()

    def writer():
        for i in range(24):
            raced.put_video(key, fields, second if i % 2 == 0 else first)
        done.set()

    seen = []
    thread = threading.Thread(target=writer)
    thread.start()
    while not done.is_set():
        seen.append(raced.get_video(key))
    thread.join()
    assert raced.rejected == 0 and len(seen) > 1
    assert all(items == first or items == second for items in seen), "a reader saw a partial entry"
    assert not [p for p in (tmp_path / "raced").rglob("*") if p.is_file() and p.suffix != ".json"]

    # A writer killed mid-write leaves the entry that was there, whole; the next write works.
    killed = EmbeddingCache(tmp_path / "killed")
    killed.put_video(key, fields, first)
    script = tmp_path / "killed_writer.py"
    script.write_text(_KILLED_WRITER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "killed"), key, json.dumps(fields),
                          "65536"], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == -signal.SIGXFSZ, (run.returncode, run.stdout, run.stderr[-2000:])
    assert killed.get_video(key) == first and killed.rejected == 0
    killed.put_video(key, fields, second)
    assert EmbeddingCache(tmp_path / "killed").get_video(key) == second


def test_a_whole_course_session_costs_nothing_the_second_time(tmp_path):
    """What the notebooks ask for (every catalog video, the catalog's queries, the query clips),
    twice over one cache: the second pass makes zero API calls and gets identical answers."""
    catalog = load_catalog()

    def session(client):
        segments = embed_videos(client, catalog.videos.values(), clip_length=6)
        queries = [embed_text(client, q.text) for q in catalog.queries]
        clips = [embed_clip(client, c.path) for c in catalog.query_clips.values()]
        return segments, queries, clips

    first_client, first_api = client_for(tmp_path)
    first = session(first_client)
    second_client, second_api = client_for(tmp_path)
    second = session(second_client)
    assert len(first_api.calls) > 0 and second_api.calls == []
    assert first[0] == second[0]
    assert all(np.array_equal(a, b) for a, b in zip(first[1] + first[2], second[1] + second[2]))
