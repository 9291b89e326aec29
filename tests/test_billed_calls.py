"""No paid call repeated by accident: a create (an upload, an embedding task) whose answer is
lost after it reached the server is found in the API's lists and adopted, never sent twice; one
that cannot have arrived (no connection, a 429) is simply sent again. The creates are counted
where they arrive, below the faults."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from helpers.client import make_client
from helpers.embed import embed_video
from helpers.errors import EmbeddingError
from helpers.settings import load_settings
from faults import FakeClock, FakeEmbedAPI, FaultTransport, connect_error, forever, http_status, read_timeout

VIDEO = Path(__file__).resolve().parents[1] / "data" / "videos" / "bikes.mp4"
CREATES = ("POST /assets", "POST /embed-v2/tasks")


class Ledger(httpx.BaseTransport):
    """Sits where the server is: counts the creates that reached it, and answers the two list
    endpoints (``GET /assets``, ``GET /embed-v2/tasks``) from them, newest first, stamped with
    the time they arrived, in the API's page shape."""

    def __init__(self, inner: httpx.BaseTransport, lists: bool = True):
        self.inner, self.lists = inner, lists
        self.made: dict[str, list[dict]] = {name: [] for name in CREATES}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        path = request.url.path.removeprefix("/v1.3")
        name = f"{request.method} {path}"
        if request.method == "GET" and path in ("/assets", "/embed-v2/tasks"):
            if not self.lists:
                return httpx.Response(500, json={"code": "internal", "message": "lists are down"})
            with self._lock:
                data = list(reversed(self.made[f"POST {path}"]))
            return httpx.Response(200, json={"data": data, "page_info": {"page": 1, "total_results": len(data)}})
        response = self.inner.handle_request(request)
        if name in CREATES and response.status_code < 300:
            made = json.loads(response.read())
            made["created_at"] = datetime.now(timezone.utc).isoformat()
            if name == "POST /assets":
                made.update(filename=VIDEO.name, size=VIDEO.stat().st_size)
            else:
                video = json.loads(request.content)["video"]
                made.update(model_name=json.loads(request.content)["model_name"], video_embedding={"metadata": {
                    "video_clip_length": video["segmentation"]["fixed"]["duration_sec"],
                    "video_embedding_scope": video["embedding_scope"],
                    "video_embedding_option": video["embedding_option"]}})
            with self._lock:
                self.made[name].append(made)
        return response

    def count(self, name: str) -> int:
        return len(self.made[name])


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """Each test is a new process: it knows no ids yet (the fake reuses ids across tests)."""
    from helpers import retry

    monkeypatch.setattr(retry, "_KNOWN", set(), raising=False)


def rig(tmp_path: Path, script: dict, *, lists: bool = True):
    ledger = Ledger(FakeEmbedAPI(), lists=lists)
    faults = FaultTransport(ledger, script)
    clock = FakeClock()
    settings = load_settings({"TL_MODE": "local", "COURSE_CACHE_DIR": str(tmp_path / "cache")}, root=tmp_path)
    client = make_client(settings, transport=faults, policy=clock.policy(), source="fake API")
    return client, ledger, faults, clock


@pytest.mark.parametrize("endpoint", CREATES)
def test_a_timeout_after_the_create_reached_the_server_creates_one_not_two(tmp_path, endpoint):
    client, ledger, faults, _ = rig(tmp_path, {endpoint: [read_timeout(reaches_server=True)]})
    segments = embed_video(client, VIDEO, clip_length=6)
    assert segments and {s.scope for s in segments} == {"clip", "asset"}
    assert faults.count(endpoint) == 1  # never sent again ...
    assert ledger.count(endpoint) == 1  # ... and exactly one made: the lost answer was adopted


def test_a_5xx_that_created_nothing_is_sent_again_once(tmp_path):
    client, ledger, faults, _ = rig(tmp_path, {"POST /embed-v2/tasks": [http_status(503)]})
    embed_video(client, VIDEO, clip_length=6)
    assert faults.count("GET /embed-v2/tasks") == 1  # looked first
    assert faults.count("POST /embed-v2/tasks") == 2 and ledger.count("POST /embed-v2/tasks") == 1


@pytest.mark.parametrize("fault", [connect_error(), http_status(429, retry_after=3)], ids=["refused", "429"])
def test_a_create_that_cannot_have_arrived_is_simply_retried(tmp_path, fault):
    client, ledger, faults, clock = rig(tmp_path, {"POST /embed-v2/tasks": [fault]})
    embed_video(client, VIDEO, clip_length=6)
    assert faults.count("GET /embed-v2/tasks") == 0  # nothing to look for
    assert ledger.count("POST /embed-v2/tasks") == 1


def test_when_the_lists_cannot_be_read_it_stops_and_says_where_to_look(tmp_path):
    client, ledger, faults, _ = rig(tmp_path, {"POST /embed-v2/tasks": forever(read_timeout())}, lists=False)
    with pytest.raises(EmbeddingError, match=r"may have been created.*tasks\.list\(\)"):
        embed_video(client, VIDEO, clip_length=6)
    assert ledger.count("POST /embed-v2/tasks") == 1
