"""The Twelve Labs seam: fingerprints, the recorder (and its key scrubbing), replay, and the
client each mode builds. Uses a fake upstream (httpx.MockTransport) so nothing leaves the machine."""

from __future__ import annotations

import json

import httpx
import pytest
from twelvelabs.types import TextInputRequest

from helpers.client import NO_KEY, make_client, make_transport
from helpers.errors import ConfigError, RecordingNotFound
from helpers.settings import load_settings
from coursekit.transports.fingerprint import describe, fingerprint
from helpers.logs import REDACTED, add_secret
from coursekit.transports.record import RecordingTransport, scrub
from coursekit.transports.replay import ReplayTransport

FAKE_KEY = "tlk_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"


def _upstream(log: list[httpx.Request]):
    """A pretend API: echoes the key back in a message (the worst case for leaking it)."""

    def handler(request: httpx.Request) -> httpx.Response:
        log.append(request)
        if request.url.path.endswith("/embed-v2"):
            return httpx.Response(200, json={
                "data": [{"embedding": [0.6, 0.8]}],
                "note": f"authenticated as {request.headers.get('x-api-key')}",
            })
        return httpx.Response(404, json={"code": "not_found", "message": "no such thing"})

    return httpx.MockTransport(handler)


def _text_request(text: str) -> httpx.Request:
    body = {"input_type": "text", "model_name": "marengo3.0", "text": {"input_text": text}}
    return httpx.Request("POST", "https://api.twelvelabs.io/v1.3/embed-v2", json=body,
                         headers={"x-api-key": FAKE_KEY})


def _upload(boundary: str, payload: bytes, filename: str) -> httpx.Request:
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\ndirect\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    return httpx.Request("POST", "https://api.twelvelabs.io/v1.3/assets", content=body,
                         headers={"content-type": f"multipart/form-data; boundary={boundary}"})


def test_fingerprint_ignores_json_formatting_and_key_order():
    a = _text_request("a dog")
    b = httpx.Request("POST", "https://api.twelvelabs.io/v1.3/embed-v2",
                      content=b'{"text": {"input_text": "a dog"},  "model_name": "marengo3.0", "input_type": "text"}',
                      headers={"content-type": "application/json"})
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(_text_request("a cat"))
    assert fingerprint(a).startswith("POST-embed-v2-")


def test_fingerprint_of_upload_depends_on_bytes_not_boundary_or_name():
    one = _upload("aaaa1111", b"video bytes", "clip.mp4")
    two = _upload("bbbb2222", b"video bytes", "other-name.mp4")
    three = _upload("aaaa1111", b"different bytes", "clip.mp4")
    assert fingerprint(one) == fingerprint(two)
    assert fingerprint(one) != fingerprint(three)
    fields = describe(one)["body"]["multipart"]
    assert fields["method"] == "direct"
    assert fields["file"]["bytes"] == len(b"video bytes")


def test_record_then_replay_gives_the_same_answer(tmp_path):
    seen: list[httpx.Request] = []
    recorder = RecordingTransport(_upstream(seen), tmp_path, secrets=(FAKE_KEY,))
    recorded = httpx.Client(transport=recorder).send(_text_request("a dog"))
    assert recorded.json()["data"][0]["embedding"] == [0.6, 0.8]
    assert recorder.recorded == 1 and len(seen) == 1

    replay = ReplayTransport(tmp_path)
    replayed = httpx.Client(transport=replay).send(_text_request("a dog"))
    assert replayed.status_code == 200
    assert replayed.json()["data"] == recorded.json()["data"]
    assert replay.served == 1


def test_recordings_hold_no_key_and_say_where_they_came_from(tmp_path):
    RecordingTransport(_upstream([]), tmp_path, secrets=(FAKE_KEY,)).handle_request(_text_request("a dog"))
    (path,) = tmp_path.glob("*.json")
    text = path.read_text()
    assert FAKE_KEY not in text and "x-api-key" not in text.lower()
    assert REDACTED in text  # the echoed key was replaced, not dropped silently
    entry = json.loads(text)
    assert entry["source"] == "api.twelvelabs.io marengo3.0"
    assert entry["request"]["path"] == "/embed-v2"


def test_recording_labels_stand_in_answers_by_their_header(tmp_path):
    def standin(request):
        return httpx.Response(200, json={"ok": True}, headers={"x-course-source": "local stand-in: test"})

    RecordingTransport(httpx.MockTransport(standin), tmp_path).handle_request(_text_request("x"))
    (path,) = tmp_path.glob("*.json")
    assert json.loads(path.read_text())["source"] == "local stand-in: test"


def test_scrub_finds_keys_anywhere():
    value = {"a": [f"key={FAKE_KEY}"], FAKE_KEY: "x", "n": 3}
    clean = scrub(value)
    assert FAKE_KEY not in json.dumps(clean) and clean["n"] == 3
    add_secret("hunter2hunter2")  # what the recorder does with the secrets it is given
    assert scrub("my secret is hunter2hunter2") == f"my secret is {REDACTED}"


def test_replay_miss_names_the_request_and_how_to_record_it(tmp_path):
    with pytest.raises(RecordingNotFound) as caught:
        httpx.Client(transport=ReplayTransport(tmp_path)).send(_text_request("never recorded"))
    message = str(caught.value)
    assert "POST /v1.3/embed-v2" in message and "never recorded" in message
    assert "TL_MODE=record" in message and "TL_MODE=local" in message


def test_replay_serves_recorded_errors_as_errors(tmp_path):
    RecordingTransport(_upstream([]), tmp_path).handle_request(
        httpx.Request("GET", "https://api.twelvelabs.io/v1.3/embed-v2/tasks/nope"))
    response = httpx.Client(transport=ReplayTransport(tmp_path)).get(
        "https://api.twelvelabs.io/v1.3/embed-v2/tasks/nope")
    assert response.status_code == 404 and response.json()["message"] == "no such thing"


def test_the_sdk_parses_replayed_answers(tmp_path):
    RecordingTransport(_upstream([]), tmp_path).handle_request(_text_request("a dog"))
    # root=tmp_path: the repository's own .env (a developer's key, their TL_* choices) stays out.
    settings = load_settings({"TL_MODE": "replay", "TL_RECORDINGS_DIR": str(tmp_path)}, root=tmp_path)
    client = make_client(settings)
    answer = client.embed.v_2.create(input_type="text", model_name="marengo3.0",
                                     text=TextInputRequest(input_text="a dog"))
    assert answer.data[0].embedding == [0.6, 0.8]


def test_default_mode_is_replay_without_key_and_live_with_one(tmp_path):
    assert load_settings({}, root=tmp_path).mode == "replay"
    with_key = load_settings({"TWELVE_LABS_API_KEY": FAKE_KEY}, root=tmp_path)
    assert with_key.mode == "live"
    assert FAKE_KEY not in repr(with_key)


def test_key_is_read_from_dotenv_but_environment_wins(tmp_path):
    (tmp_path / ".env").write_text(f"TWELVE_LABS_API_KEY={FAKE_KEY}\n")
    assert load_settings({}, root=tmp_path).api_key == FAKE_KEY
    assert load_settings({"TWELVE_LABS_API_KEY": "tlk_other"}, root=tmp_path).api_key == "tlk_other"


def test_live_mode_without_key_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")  # no prompt: nobody is there to answer it
    settings = load_settings({"TL_MODE": "live"}, root=tmp_path)
    with pytest.raises(ConfigError) as caught:
        make_client(settings)
    message = str(caught.value)
    assert "TWELVE_LABS_API_KEY" in message and ".env" in message and "TL_MODE=local" in message
    assert "TL_MODE=live talks to the real Twelve Labs API, and no API key was found" in message


def test_unknown_mode_is_refused_with_the_choices(tmp_path):
    with pytest.raises(ConfigError, match="live, record, replay, local") as caught:
        load_settings({"TL_MODE": "offline"}, root=tmp_path)
    assert "TL_MODE='offline' is not a mode this course knows" in str(caught.value)


def test_each_mode_gets_its_transport(tmp_path):
    replay = make_transport(load_settings({"TL_MODE": "replay"}, root=tmp_path))
    assert isinstance(replay, ReplayTransport)
    live = make_transport(load_settings({"TL_MODE": "live", "TWELVE_LABS_API_KEY": FAKE_KEY}, root=tmp_path))
    assert isinstance(live, httpx.HTTPTransport)
    record = make_transport(load_settings({"TL_MODE": "record"}, root=tmp_path), FAKE_KEY)
    assert isinstance(record, RecordingTransport) and record.secrets == (FAKE_KEY,)


def test_offline_modes_send_a_placeholder_not_a_key(tmp_path):
    settings = load_settings({"TL_MODE": "replay", "TWELVE_LABS_API_KEY": FAKE_KEY,
                              "TL_RECORDINGS_DIR": str(tmp_path)}, root=tmp_path)
    client = make_client(settings)
    assert client._client_wrapper.api_key == NO_KEY
