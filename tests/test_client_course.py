"""The course's settings travel with the client (``client.course``), not on a side channel: a
plain ``TwelveLabs`` client gets no cache and the default retries without the environment being
read again, and an explicit cache folder is honoured in replay too (a second embedding of the
same video then sends zero requests)."""

from __future__ import annotations

from pathlib import Path

import httpx
from twelvelabs import TwelveLabs

from helpers import client as client_module, settings as settings_module
from helpers.client import CourseClient, course_of, make_client, make_transport
from helpers.embed import embed_text, embed_video
from helpers.retry import DEFAULT_POLICY
from helpers.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def test_the_client_is_the_sdks_own_and_carries_its_settings(tmp_path):
    client = make_client(load_settings({"TL_MODE": "replay"}, root=ROOT))
    assert isinstance(client, CourseClient) and isinstance(client, TwelveLabs)
    assert client.course.mode == "replay" and client.course.cache is None


def test_a_plain_sdk_client_gets_no_cache_and_never_rereads_the_environment(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the environment was read again")

    # Both names: helpers.client holds its own reference to the function.
    monkeypatch.setattr(settings_module, "load_settings", refuse)
    monkeypatch.setattr(client_module, "load_settings", refuse)
    monkeypatch.setattr("helpers.embed.course_of", course_of)  # the real one, nothing patched
    api = httpx.MockTransport(lambda r: httpx.Response(200, json={"data": [{"embedding": [1.0, 0.0]}]}))
    plain = TwelveLabs(api_key="test", httpx_client=httpx.Client(transport=api))
    course = course_of(plain)
    assert course.cache is None and course.policy is DEFAULT_POLICY
    assert embed_text(plain, "a dog").tolist() == [1.0, 0.0]


def test_an_explicit_cache_folder_is_used_in_replay(tmp_path):
    settings = load_settings({"TL_MODE": "replay"}, root=ROOT)
    replay = make_transport(settings)
    client = make_client(settings, transport=replay, cache=tmp_path / "cache")
    video = ROOT / "data" / "videos" / "bikes.mp4"
    first = embed_video(client, video, video_id="bikes")
    served = replay.served
    again = embed_video(client, video, video_id="bikes")
    assert served > 0 and replay.served == served  # zero requests the second time
    assert again == first


def test_each_mode_gets_its_own_transport_and_says_whose_vectors_it_has(tmp_path):
    """The label is honest (the stand-in's answers are never called the API's) and it is part of
    every cache key; the transport is what makes the mode what it is."""
    from coursekit.labels import STANDIN_SOURCE
    from coursekit.transports.record import LIVE_SOURCE, RecordingTransport
    from coursekit.transports.replay import ReplayTransport

    def settings(**env):
        return load_settings({"COURSE_DOTENV": str(tmp_path / "none"), **env}, root=tmp_path)

    key = "tlk_" + "M0d3S0urc3K3y0000000"
    live = settings(TL_MODE="live", TWELVE_LABS_API_KEY=key)
    record_live = settings(TL_MODE="record", TWELVE_LABS_API_KEY=key)
    record_local = settings(TL_MODE="record", TL_RECORD_FROM="local")
    local, replay = settings(TL_MODE="local"), settings(TL_MODE="replay")

    assert type(make_transport(live, key)) is httpx.HTTPTransport
    assert isinstance(make_transport(record_live, key), RecordingTransport)
    assert isinstance(make_transport(record_local), RecordingTransport)
    # What is recorded comes from where TL_RECORD_FROM says: the network, or the stand-in.
    assert type(make_transport(record_live, key).inner) is httpx.HTTPTransport
    assert type(make_transport(record_local).inner) is type(make_transport(local))
    assert isinstance(make_transport(replay), ReplayTransport)
    assert not isinstance(make_transport(local), (httpx.HTTPTransport, RecordingTransport, ReplayTransport))

    assert make_client(local).course.source == STANDIN_SOURCE
    # Live and local runs cache by default (a re-run pays nothing); replay does not.
    assert make_client(local).course.cache.directory == tmp_path / ".cache" / "embeddings"
    assert make_client(live).course.cache is not None and make_client(replay).course.cache is None
    assert make_client(record_local).course.source == STANDIN_SOURCE
    assert make_client(replay).course.source == f"replay of {replay.recordings_dir.name}"
    assert make_client(live).course.source.startswith(f"{LIVE_SOURCE} at https://")
    assert make_client(record_live).course.source.startswith(f"{LIVE_SOURCE} at https://")


def test_a_live_clients_note_speaks_of_marengo_not_of_the_recordings():
    """The course's recordings hold the stand-in's answers; a learner with a key gets Marengo's,
    and the note under their first cell must say so (not what the recordings hold)."""
    from helpers.client import vectors_note

    key = "tlk_" + "N0t3K3yF0rAL1v3Cl13nt"
    live = make_client(load_settings({"TL_MODE": "live", "TWELVE_LABS_API_KEY": key, "COURSE_DOTENV": "/dev/null"},
                                     root=ROOT))
    note = vectors_note(live, standin="(this chapter's caveat)")
    assert note.startswith(f"Vectors: computed by {live.course.source}.") and "These are Twelve Labs' Marengo answers" in note
    assert "yours are Marengo's, so numbers, rankings and winners may differ" in note
    assert "stand-in" not in note and "(this chapter's caveat)" not in note
    # With a transport of its own (a fake API), a replay client's note speaks of that, not of the recordings.
    faked = make_client(load_settings({"TL_MODE": "replay"}, root=ROOT), transport=httpx.MockTransport(
        lambda request: httpx.Response(500)), source="a fake API")
    assert vectors_note(faked).startswith("Vectors: replayed from recordings made by a fake API.")


def test_the_log_says_which_client_was_made(tmp_path, course_log):
    make_client(load_settings({"TL_MODE": "replay", "COURSE_DOTENV": "/dev/null"}, root=tmp_path))
    assert ("Twelve Labs client in replay mode (TL_MODE=replay); vectors from replay of recordings; cache off"
            in course_log.read_text())
