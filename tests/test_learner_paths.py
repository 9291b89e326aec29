"""The README's troubleshooting messages as a learner meets them: settings and client read from
the environment (``load_settings()``, ``make_client()``), then the helper a chapter calls
(``embed_text``, ``embed_video``). The tests beside each module check the same messages closer to
the code; these check that nothing on the learner's way changes, wraps or swallows them.

A fake network stands in for the API where a row is about the API's answers (``rig``: the client
``make_client`` builds, over a transport that misbehaves on cue, on a fake clock)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from faults import connect_error, forever, http_status
from helpers.client import make_client
from helpers.embed import embed_text, embed_video
from helpers.errors import ConfigError, EmbeddingError, RecordingNotFound
from helpers.retry import ApiCallError
from helpers.settings import load_settings
from test_faults import VIDEO, rig

ROOT = Path(__file__).resolve().parents[1]
#: A query chapter 01 recorded: its recording is the one replay reads for it.
RECORDED_QUERY = "a big rabbit stretching and yawning on a grassy hill"


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """A learner's environment with nothing set but what the test sets, and no ``.env``."""
    for name in ("TL_MODE", "TWELVE_LABS_API_KEY", "MILVUS_URI", "TL_RECORDINGS_DIR", "TL_RECORD_FROM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COURSE_DOTENV", str(tmp_path / "no.env"))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    return monkeypatch


# --- Settings: the first cell's make_client() and load_settings() ------------------------------
def test_a_mistyped_mode_stops_make_client(environment):
    environment.setenv("TL_MODE", "offline")
    with pytest.raises(ConfigError) as caught:
        make_client()
    assert "TL_MODE='offline' is not a mode this course knows" in str(caught.value)
    assert "live, record, replay, local" in str(caught.value)


@pytest.mark.parametrize("key", ["tlk_" + "A1b2C3d4E5f6G7h8J9k0#mine", "sk-proj-" + "Zz9Yy8Xx7Ww6#2"])
def test_a_key_pasted_with_a_hash_stops_make_client_and_is_never_shown(environment, key):
    environment.setenv("TL_MODE", "live")
    environment.setenv("TWELVE_LABS_API_KEY", key)
    with pytest.raises(ConfigError) as caught:
        make_client()
    assert "TWELVE_LABS_API_KEY holds '#' inside it, which no API key has: it was not sent" in str(caught.value)
    assert key.split("#")[0] not in str(caught.value)


def test_a_dotenv_saved_as_utf16_stops_make_client(environment, tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_bytes("TL_MODE=replay\n".encode("utf-16-le"))  # Notepad's "Unicode" without its mark
    environment.setenv("COURSE_DOTENV", str(dotenv))
    with pytest.raises(ConfigError) as caught:
        make_client()
    assert f"{dotenv} holds NUL bytes: it looks like UTF-16 saved without" in str(caught.value)


def test_a_milvus_uri_without_a_scheme_stops_the_chapters_settings(environment):
    environment.setenv("MILVUS_URI", "localhost:19530")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "MILVUS_URI='localhost:19530' is neither a Milvus server (http://host:19530)" in str(caught.value)


# --- Replay: a query the recordings do not hold, and a damaged recording ------------------------
def _recording_of(text: str) -> Path:
    for path in sorted((ROOT / "data" / "recordings").glob("POST-embed-v2-*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))["request"].get("body") or {}
        if (body.get("text") or {}).get("input_text") == text:
            return path
    raise AssertionError(f"no recording holds {text!r}: re-record, or pick a query a chapter sends")


def test_a_query_that_was_never_recorded_names_the_request_and_what_to_do(environment, tmp_path):
    environment.setenv("TL_MODE", "replay")
    environment.setenv("TL_RECORDINGS_DIR", str(tmp_path / "recordings"))
    (tmp_path / "recordings").mkdir()
    with pytest.raises(RecordingNotFound) as caught:
        embed_text(make_client(), "a query no chapter sends")
    message = str(caught.value)
    assert message.startswith("Replay mode has no recording for POST /v1.3/embed-v2")
    assert "a query no chapter sends" in message and "TL_MODE=record" in message and "TL_MODE=local" in message


def test_a_recording_cut_short_names_the_file_and_how_to_record_it(environment, tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    damaged = folder / _recording_of(RECORDED_QUERY).name
    shutil.copy(_recording_of(RECORDED_QUERY), damaged)
    embed_text(make_client(load_settings({"TL_MODE": "replay", "TL_RECORDINGS_DIR": str(folder)})), RECORDED_QUERY)
    damaged.write_bytes(damaged.read_bytes()[:200])
    environment.setenv("TL_MODE", "replay")
    environment.setenv("TL_RECORDINGS_DIR", str(folder))
    with pytest.raises(RecordingNotFound) as caught:
        embed_text(make_client(), RECORDED_QUERY)
    assert f"The recording {damaged} is not whole JSON (" in str(caught.value)
    assert "Delete it and record it again" in str(caught.value)


# --- The API's answers, through the client make_client builds (a fake network) ------------------
def _fails(tmp_path: Path, script: dict, call: str = "text") -> str:
    r = rig(tmp_path, script, mode="live")
    with pytest.raises(EmbeddingError) as caught:
        if call == "text":
            embed_text(r.client, "a dog")
        else:
            embed_video(r.client, VIDEO, video_id="bikes", clip_length=6, timeout=60)
    return str(caught.value)


def test_a_daily_limit_fails_at_once_and_says_it_is_the_plans_limit(tmp_path):
    message = _fails(tmp_path, {"POST /embed-v2": [http_status(429, retry_after=86400, message="daily limit")]})
    assert ("Embedding the text 'a dog' failed (the API asked to wait 86400 s, beyond the 300 s retry "
            "budget): the Embed API answered 429: daily limit. You are over your plan's rate limit") in message


def test_a_server_error_that_never_ends_says_how_often_it_tried(tmp_path):
    message = _fails(tmp_path, {"GET /embed-v2/tasks/{id}": forever(http_status(503, message="overloaded"))},
                     call="video")
    assert message.startswith("Embed bikes.mp4 failed after 6 attempts over ")
    assert "s: the Embed API answered 503: overloaded. The API is having trouble on its side" in message


def test_an_upload_whose_answer_never_comes_back_is_not_paid_twice(tmp_path):
    r = rig(tmp_path, {"POST /assets": forever(http_status(503, message="overloaded"))}, mode="live")
    with pytest.raises(EmbeddingError) as caught:
        embed_video(r.client, VIDEO, video_id="bikes", clip_length=6, timeout=60)
    assert ("Uploading bikes.mp4 lost its answer 6 times (the Embed API answered 503: overloaded); the API "
            "lists nothing it created, so nothing was paid twice") in str(caught.value)
    assert "The API is having trouble on its side" in str(caught.value)
    assert r.faults.count("POST /assets") == 6 and r.faults.count("GET /assets") == 6


def test_no_connection_names_the_network(tmp_path):
    message = _fails(tmp_path, {"POST /assets": forever(connect_error())}, call="video")
    assert "ConnectError: [Errno 111] Connection refused (injected). The connection to the API failed. Check your network" in message


def test_a_refused_key_says_to_check_it(tmp_path):
    r = rig(tmp_path, {"POST /embed-v2": [http_status(401, message="invalid api key")]}, mode="live")
    with pytest.raises(ApiCallError) as caught:
        embed_text(r.client, "a dog")
    assert "failed: the Embed API answered 401: invalid api key. The API refused the key" in str(caught.value)
    assert r.faults.count("POST /embed-v2") == 1  # a 4xx is never sent again
