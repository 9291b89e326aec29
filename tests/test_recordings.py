"""Recordings as sequences (the n-th identical request of a process gets the n-th recording,
the first keeping its plain name), and damaged recordings refused with a message that names the
file and says how to record it again."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from helpers.errors import RecordingNotFound
from coursekit.transports.record import RecordingTransport
from coursekit.transports.replay import ReplayTransport, recording_path

URL = "https://api.twelvelabs.io/v1.3/embed-v2/tasks/abc"


def poll() -> httpx.Request:
    return httpx.Request("GET", URL)


def record(directory: Path, statuses: list[str]) -> None:
    answers = iter(statuses)
    upstream = httpx.MockTransport(lambda r: httpx.Response(200, json={"_id": "abc", "status": next(answers)}))
    recorder = RecordingTransport(upstream, directory)
    for _ in statuses:
        recorder.handle_request(poll())


def replay_statuses(directory: Path, n: int) -> list[str]:
    replay = ReplayTransport(directory)
    return [json.loads(replay.handle_request(poll()).read())["status"] for _ in range(n)]


def test_the_nth_request_gets_the_nth_recording_and_the_first_keeps_its_name(tmp_path):
    record(tmp_path, ["processing", "processing", "ready"])
    names = sorted(p.name for p in tmp_path.glob("*.json"))
    first = recording_path(tmp_path, poll()).name
    assert names == sorted([first, first.replace(".json", ".2.json"), first.replace(".json", ".3.json")])
    assert replay_statuses(tmp_path, 5) == ["processing", "processing", "ready", "ready", "ready"]


def test_a_shorter_sequence_of_another_process_keeps_the_longer_ones_tail(tmp_path, monkeypatch):
    # Each chapter records in its own process: chapter 02 uploads a clip three times, chapter 03
    # once. Chapter 03 recording its one upload must not delete the second and third that 02 needs.
    from coursekit.transports import record as record_module

    record(tmp_path, ["processing", "ready"])
    monkeypatch.setattr(record_module, "_RECORDED", {})  # a new process
    record(tmp_path, ["ready"])
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_a_recording_that_ends_processing_fails_at_once_naming_it(tmp_path):
    record(tmp_path, ["processing"])
    replay = ReplayTransport(tmp_path)
    replay.handle_request(poll())
    with pytest.raises(RecordingNotFound, match=recording_path(tmp_path, poll()).name + ".*'processing'"):
        replay.handle_request(poll())


def _damage(tmp_path: Path, how: str) -> Path:
    record(tmp_path, ["ready"])
    path = recording_path(tmp_path, poll())
    entry = json.loads(path.read_text())
    if how == "cut short":
        path.write_text(path.read_text()[:40])
        return path
    if how == "no source":
        del entry["source"]
    elif how == "no status":
        del entry["response"]["status"]
    elif how == "no response":
        del entry["response"]
    path.write_text(json.dumps(entry))
    return path


@pytest.mark.parametrize("how", ["cut short", "no source", "no status", "no response"])
def test_a_damaged_recording_names_the_file_and_how_to_record_it(tmp_path, how):
    path = _damage(tmp_path, how)
    with pytest.raises(RecordingNotFound) as caught:
        ReplayTransport(tmp_path).handle_request(poll())
    assert str(path) in str(caught.value) and "TL_MODE=record" in str(caught.value)
    assert "Delete it and record it again" in str(caught.value)
    if how == "cut short":
        assert f"The recording {path} is not whole JSON (" in str(caught.value)
