"""Local mode: an in-process stand-in for the Twelve Labs API, so the course runs offline.

``LocalTransport`` sits where the network would be, under the official SDK client
(``TwelveLabs(httpx_client=httpx.Client(transport=LocalTransport()))``). It answers with the
API's own JSON wire shapes (OpenAPI v1.3), so the SDK parses its answers unchanged -- except
that the vectors come from a small model on this machine, not from Marengo. The model is
pluggable: the ConSE model (``coursekit.standin.model``, loaded on the first request that needs
it) by default; the tests give a tiny deterministic one that needs no torch.

Endpoints: ``POST``/``GET /assets`` (direct upload; list), ``GET``/``DELETE /assets/{id}``,
``POST``/``GET /embed-v2/tasks`` (create; list), ``GET /embed-v2/tasks/{id}``, ``POST /embed-v2``
(text, image, text and image, and video up to 10 minutes). What it cannot compute -- audio,
transcription, several inputs at once (``multi_input``), fetching a URL -- is answered with the
API's error shape and a message that says so and points to live mode; other endpoints answer 501.

Choices, all for reproducible recordings (outputs are compared byte for byte):

* every create gets a fresh id, like the real API, and ids are still the same every run: an id
  is a hash of what was created and of how many identical creates this registry saw before;
* timestamps count seconds from a fixed instant (:data:`CREATED_AT`), one per create, so
  listings sort newest first and nothing depends on the clock -- unless the transport is given a
  ``clock`` (the tests give a fake one, to exercise what a lost answer adopts by its age);
* an upload answers ``processing``; its first retrieve answers ``ready`` or ``failed`` (with the
  reason), as the API documents for direct uploads; an embedding task is computed when it is
  created and answers ``ready`` (or ``failed``) after ``task_polls`` answers of ``processing``;
* vectors are rounded to 6 decimals: float32 noise would only make files differ.

Assets and tasks live in a :class:`Registry`: by default one per process (uploads as temporary
files), so a second transport in the same process -- a re-run notebook cell -- still finds them.
Validation and every error answer work without the model. Nothing here opens a socket.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import re
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import numpy as np

from coursekit import limits
from coursekit.labels import STANDIN_IMAGE_SOURCE, STANDIN_SOURCE, STANDIN_TEXT_IMAGE_SOURCE
from coursekit.probe import ImageInfo, VideoInfo, decode_image, image_type, probe
from coursekit.standin import video as standin_video
from helpers.errors import EmbeddingError, VideoError

from . import multipart
from .fingerprint import api_path

log = logging.getLogger(__name__)

#: Sent as the ``x-course-source`` header on every answer; the recorder labels recordings with it.
SOURCE = STANDIN_SOURCE
SOURCE_HEADER = "x-course-source"
#: Says what an answer left out that the real API would have given (the default audio and
#: transcription embeddings): the body keeps the API's shape, this header says the rest.
NOTE_HEADER = "x-course-note"
#: The first timestamp the stand-in writes; each create after it is one second later.
CREATED_AT = "2025-01-01T00:00:00Z"
#: The ConSE model's vector length (all-MiniLM-L6-v2). Checked against the model when it loads.
DIMENSION = 384
#: Model names accepted in requests; all map to the same stand-in model.
MODEL_NAMES = ("marengo3.0", "marengo3.5")
#: Frames sampled per segment, evenly spaced: enough to see a 2-10 s clip, cheap on two cores.
FRAMES_PER_CLIP = 4
VECTOR_DECIMALS = 6
#: ``page_limit``'s default and maximum in the list endpoints.
PAGE_LIMIT, MAX_PAGE_LIMIT = 10, 50

_ID_HEX = 24  # the API's ids are 24 hex characters (MongoDB ObjectIds); ours look alike
_LIVE_HINT = "use live mode (TL_MODE=live) for that"
_EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)

# Containers the course may meet, by extension; our own table rather than the ``mimetypes``
# module, whose answers depend on the machine's /etc/mime.types.
_MIME_BY_EXTENSION = {
    ".mp4": "video/mp4", ".m4v": "video/x-m4v", ".mov": "video/quicktime", ".webm": "video/webm",
    ".mkv": "video/x-matroska", ".avi": "video/x-msvideo", ".mpg": "video/mpeg", ".mpeg": "video/mpeg",
    ".ts": "video/mp2t", ".ogv": "video/ogg", ".3gp": "video/3gpp",
}


# ---------------------------------------------------------------- errors as HTTP answers


class _HttpError(Exception):
    """An error answer. ``nested`` picks the wire shape: the embed-v2 endpoints answer
    ``{"error": {"code", "message", "details"}}`` (ErrorResponse), the assets endpoints answer
    ``{"code", "message"}`` (the generic error), as the API reference specifies."""

    def __init__(self, status: int, code: str, message: str, *, nested: bool, details: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.nested, self.details = status, code, message, nested, details

    def body(self) -> dict:
        if not self.nested:
            return {"code": self.code, "message": self.message}
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def _bad(message: str, *, nested: bool = True, field: str | None = None, value: Any = None) -> _HttpError:
    details = None if field is None else ({"field": field} if value is None else {"field": field, "value": value})
    return _HttpError(400, "VALIDATION_ERROR" if nested else "parameter_invalid", message, nested=nested,
                      details=details)


def _not_found(what: str, ident: str, *, nested: bool, again: str) -> _HttpError:
    return _HttpError(404, "NOT_FOUND" if nested else "not_found",
                      f"No {what} {ident!r} in this session. The local stand-in keeps {what}s only for the "
                      f"life of the Python process: {again}.", nested=nested)


# ---------------------------------------------------------------- the registry


@dataclass
class _Asset:
    id: str
    filename: str
    file_type: str
    created_at: str
    size: int
    digest: str
    path: Path | None
    #: ``video`` or ``image``; ``None`` when the file is neither (the asset then fails)
    kind: str | None
    info: VideoInfo | ImageInfo | None
    error: str | None
    retrieved: bool = False

    @property
    def status(self) -> str:
        if not self.retrieved:
            return "processing"
        return "failed" if self.error else "ready"


@dataclass
class _Task:
    id: str
    created_at: str
    answer: dict
    summary: dict
    polls_left: int

    @property
    def status(self) -> str:
        return "processing" if self.polls_left > 0 else self.answer["status"]


@dataclass
class Registry:
    """The assets and tasks of one stand-in "account"."""

    assets: dict[str, _Asset] = field(default_factory=dict)
    tasks: dict[str, _Task] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _seen: Counter = field(default_factory=Counter)
    _creates: int = 0
    _upload_dir: Path | None = None
    #: answers already computed, by what they depend on: identical work is done once
    _memo: dict[str, tuple[list, dict]] = field(default_factory=dict)

    def new_id(self, kind: str, key: str, clock: Callable[[], dt.datetime] | None = None) -> tuple[str, str]:
        """A fresh id and creation time for the n-th create of ``key``: the time is ``clock()``,
        or by default one second per create after :data:`CREATED_AT` (deterministic)."""
        with self.lock:
            n = self._seen[(kind, key)]
            self._seen[(kind, key)] += 1
            created = (clock() if clock else _EPOCH + dt.timedelta(seconds=self._creates)).astimezone(dt.timezone.utc)
            self._creates += 1
        ident = hashlib.sha256(f"{kind}\0{key}\0{n}".encode()).hexdigest()[:_ID_HEX]
        return ident, created.strftime("%Y-%m-%dT%H:%M:%SZ")

    def upload_dir(self) -> Path:
        with self.lock:
            if self._upload_dir is None:
                self._upload_dir = Path(tempfile.mkdtemp(prefix="tl-standin-"))
                atexit.register(shutil.rmtree, self._upload_dir, True)
            return self._upload_dir

    def reset(self) -> None:
        with self.lock:
            for asset in self.assets.values():
                if asset.path is not None:
                    asset.path.unlink(missing_ok=True)
            self.assets.clear()
            self.tasks.clear()
            self._seen.clear()
            self._memo.clear()
            self._creates = 0


PROCESS_REGISTRY = Registry()


def reset() -> None:
    """Forget every asset and task of this process, and restart the id sequence."""
    PROCESS_REGISTRY.reset()


def _mime_type(filename: str, declared: str | None, data: bytes) -> str:
    sniffed = image_type(data)
    if sniffed:
        return sniffed
    ext = Path(filename).suffix.lower()
    if ext in _MIME_BY_EXTENSION:
        return _MIME_BY_EXTENSION[ext]
    return declared if declared and declared != "application/octet-stream" else "application/octet-stream"


def _measure(data: bytes, path: Path) -> tuple[str | None, VideoInfo | ImageInfo | None, str | None]:
    """What an upload is: ``(kind, info, error)``; the error is the ``failed`` status's reason."""
    if image_type(data):
        try:
            return "image", decode_image(data)[1], None
        except VideoError as exc:
            return None, None, str(exc)
    try:
        return "video", probe(path), None
    except VideoError as exc:
        return None, None, (f"The local stand-in could not read it as a video or an image: {exc} (It "
                            "accepts video files and JPEG/PNG images; the live API also takes audio.)")


# ---------------------------------------------------------------- request parsing


def _json_body(request: httpx.Request) -> dict:
    try:
        body = json.loads(request.content or b"null")
    except ValueError as exc:
        raise _bad(f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    return body


def _check_model_name(body: dict) -> str:
    name = body.get("model_name")
    if name not in MODEL_NAMES:
        raise _bad(f"model_name={name!r} is not supported. Use 'marengo3.0' (the local stand-in answers "
                   "for it with its own model).", field="model_name", value=name)
    for option in ("embedding_dimension", "embedding_uncertainty"):
        if body.get(option):
            raise _bad(f"The local stand-in cannot honour {option} (its vectors have one fixed length and "
                       f"no uncertainty); leave it out, or {_LIVE_HINT}.", field=option, value=body[option])
    return name


def _query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode(), keep_blank_values=True)


def _page_args(query: dict[str, list[str]]) -> tuple[int, int]:
    values = []
    for name, default, top in (("page", 1, None), ("page_limit", PAGE_LIMIT, MAX_PAGE_LIMIT)):
        raw = query.get(name, [str(default)])[-1]
        if not raw.isdigit() or int(raw) < 1 or (top and int(raw) > top):
            raise _bad(f"{name} must be a whole number from 1{f' to {top}' if top else ''} (got {raw!r}).",
                       nested=False)
        values.append(int(raw))
    return values[0], values[1]


def _page(items: list[dict], query: dict[str, list[str]]) -> dict:
    """One page of ``items`` (already sorted) with the API's ``page_info``; a page past the end
    is empty, which is how the SDK's pagers know to stop."""
    page, limit = _page_args(query)
    total = len(items)
    return {"data": items[(page - 1) * limit: page * limit],
            "page_info": {"limit_per_page": limit, "page": page, "total_page": -(-total // limit),
                          "total_results": total}}


def _instant(query: dict[str, list[str]], name: str) -> str | None:
    raw = query.get(name, [None])[-1]
    if raw is None:
        return None
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise _bad(f"{name} must be an RFC 3339 date and time such as 2025-01-01T00:00:00Z (got {raw!r}).",
                   nested=False) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _VideoJob:
    asset: _Asset
    start: float
    end: float
    #: fixed clip length in seconds, or ``None`` for dynamic segmentation
    clip_length: int | None
    min_duration: int | None
    options: list[str]
    scopes: list[str]
    start_given: bool
    end_given: bool
    #: what the answer leaves out of a default (empty when nothing)
    note: str = ""

    def key(self) -> str:
        """What the vectors depend on: the file's bytes and the cut, not the asset's id."""
        return json.dumps([self.asset.digest, self.start, self.end, self.clip_length, self.min_duration])


def _parse_segmentation(video: dict, model_name: str) -> tuple[int | None, int | None]:
    """``(clip_length, min_duration)``: one of them is ``None``."""
    seg = video.get("segmentation")
    if seg is None:  # the documented default: dynamic, min 4 s (3.0) or 2 s (3.5)
        return None, limits.DEFAULT_DYNAMIC if model_name == "marengo3.0" else limits.MIN_DYNAMIC
    if not isinstance(seg, dict):
        raise _bad("video.segmentation must be an object.", field="video.segmentation", value=seg)
    if isinstance(seg.get("temporal"), dict) and "strategy" not in seg:
        seg = seg["temporal"]  # Marengo 3.5 nests the same settings one level down
    strategy = seg.get("strategy")
    if strategy not in ("fixed", "dynamic"):
        raise _bad(f"segmentation.strategy must be 'fixed' or 'dynamic' (got {strategy!r}).",
                   field="video.segmentation.strategy", value=strategy)
    if strategy == "dynamic":
        settings = seg.get("dynamic")
        value = settings.get("min_duration_sec") if isinstance(settings, dict) else None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not limits.MIN_DYNAMIC <= value <= limits.MAX_DYNAMIC:
            raise _bad(f"segmentation.dynamic.min_duration_sec must be a whole number of seconds from "
                       f"{limits.MIN_DYNAMIC} to {limits.MAX_DYNAMIC} (got {value!r}).",
                       field="video.segmentation.dynamic.min_duration_sec", value=value)
        return None, value
    settings = seg.get("fixed")
    value = settings.get("duration_sec") if isinstance(settings, dict) else None
    problem = limits.clip_length_problem(value)
    if problem:
        raise _bad(f"segmentation.fixed.duration_sec: {problem}.", field="video.segmentation.fixed.duration_sec",
                   value=value)
    return int(value), None


def _parse_options(video: dict, model_name: str) -> tuple[list[str], list[str], str]:
    """``(options computed, scopes, note)``. Left out, the options default to the API's own
    (with audio and transcription); the stand-in computes the visual part and says so."""
    options = video.get("embedding_option")
    note = ""
    if options is None:
        default = ["visual", "audio", "transcription"] if model_name == "marengo3.0" else ["visual", "audio"]
        note = (f"embedding_option defaults to {default}; the local stand-in computed only 'visual' "
                f"(it has no audio or speech model): {_LIVE_HINT}")
        log.warning("local stand-in: %s", note)
        options = ["visual"]
    if not isinstance(options, list) or not options:
        raise _bad("embedding_option must be a non-empty list.", field="video.embedding_option", value=options)
    others = [o for o in options if o != "visual"]
    if "fused_embedding" in (video.get("embedding_type") or []):
        others.append("fused")
    if others:
        raise _bad("The local stand-in embeds only 'visual' (it has no audio or speech model); it cannot "
                   f"produce {', '.join(repr(o) for o in others)}. Ask for embedding_option=['visual'], "
                   f"or {_LIVE_HINT} (audio, transcription and fused embeddings).",
                   field="video.embedding_option", value=options)
    scopes = video.get("embedding_scope")
    scopes = ["clip", "asset"] if scopes is None else scopes
    if not isinstance(scopes, list) or not scopes or any(s not in ("clip", "asset", "local") for s in scopes):
        raise _bad("embedding_scope must list 'clip' and/or 'asset'.", field="video.embedding_scope", value=scopes)
    return list(dict.fromkeys(options)), list(dict.fromkeys(scopes)), note


# ---------------------------------------------------------------- the transport


class LocalTransport(httpx.BaseTransport):
    """An offline Twelve Labs API for the SDK client (see the module docstring).

    ``model`` embeds frames and texts (``embed_frames``, ``embed_texts``, ``input_size``,
    ``dimension``); ``None`` loads the ConSE model on first need, raising
    :class:`helpers.errors.ConfigError` -- an exception, not an HTTP answer -- when the
    ``[local]`` extra is missing. ``registry`` holds the assets and tasks (the process's by
    default); ``task_polls`` is how many retrieves of a new task answer ``processing``; ``source``
    is what the ``x-course-source`` header says the vectors are; ``clock`` (an aware ``datetime``
    per create) replaces the fixed timestamps. Accepts any ``x-api-key``.
    """

    def __init__(self, model=None, *, registry: Registry | None = None, task_polls: int = 0,
                 source: str = SOURCE, clock: Callable[[], dt.datetime] | None = None):
        self._model = model
        self.clock = clock
        self.registry = registry if registry is not None else PROCESS_REGISTRY
        self.task_polls = task_polls
        self.source = source

    # -- plumbing

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        headers = {"content-type": "application/json", SOURCE_HEADER: self.source}
        try:
            status, body, extra = self._route(request.method.upper(), "/" + api_path(request.url).strip("/"), request)
        except _HttpError as err:
            status, body, extra = err.status, err.body(), {}
        headers.update(extra)
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        return httpx.Response(status, headers=headers, content=content, request=request)

    def _route(self, method: str, path: str, request: httpx.Request) -> tuple[int, Any, dict]:
        if path == "/assets":
            if method == "POST":
                return self._create_asset(request)
            if method == "GET":
                return 200, self._list_assets(_query(request)), {}
        m = re.fullmatch(r"/assets/([^/]+)", path)
        if m and method == "GET":
            return 200, self._asset_body(self._get_asset(m.group(1), retrieve=True)), {}
        if m and method == "DELETE":
            asset = self._get_asset(m.group(1))
            with self.registry.lock:
                self.registry.assets.pop(asset.id, None)
            if asset.path is not None:
                asset.path.unlink(missing_ok=True)
            return 204, None, {}
        if path == "/embed-v2/tasks":
            if method == "POST":
                return self._create_task(request)
            if method == "GET":
                return 200, self._list_tasks(_query(request)), {}
        m = re.fullmatch(r"/embed-v2/tasks/([^/]+)", path)
        if m and method == "GET":
            return 200, self._retrieve_task(m.group(1)), {}
        if path == "/embed-v2" and method == "POST":
            return self._embed_sync(request)
        raise _HttpError(501, "not_implemented",
                         f"The local stand-in does not implement {method} {path}; it answers only the assets "
                         f"and embed-v2 calls. {_LIVE_HINT[0].upper()}{_LIVE_HINT[1:]}.",
                         nested=path.startswith("/embed-v2"))

    def _get_model(self):
        if self._model is None:
            from coursekit.standin.model import get_model

            model = get_model()  # raises ConfigError when the [local] extra is missing
            if model.dimension != DIMENSION:
                raise EmbeddingError(f"the stand-in model gives {model.dimension}-d vectors, expected {DIMENSION}")
            self._model = model
        return self._model

    # -- assets

    def _create_asset(self, request: httpx.Request) -> tuple[int, Any, dict]:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise _bad("POST /assets takes multipart/form-data (method=direct and a file).", nested=False)
        try:
            parts = multipart.parse(request.content, content_type)
        except ValueError as exc:
            raise _bad(str(exc), nested=False) from exc
        fields = {p.name: p.data.decode("utf-8", errors="replace") for p in parts if p.filename is None}
        files = [p for p in parts if p.name == "file"]
        method = fields.get("method")
        if method == "url" or (fields.get("url") and method != "direct"):
            raise _bad("The local stand-in cannot fetch URLs (it never touches the network). Download the file "
                       f"and upload it with method='direct' and file=open(path, 'rb'), or {_LIVE_HINT}.",
                       nested=False, field="url", value=fields.get("url"))
        if method != "direct":
            raise _bad(f"method must be 'direct' or 'url' (got {method!r}).", nested=False, field="method", value=method)
        if not files or not files[0].data:
            raise _bad("The upload carries no file content. Pass file=open(path, 'rb'). (If you turned on the "
                       "SDK's retries: a retried upload is re-sent with an empty body.)", nested=False, field="file")
        part = files[0]
        if len(part.data) > limits.MAX_DIRECT_UPLOAD_BYTES:
            raise _bad(f"Direct uploads are limited to {limits.MAX_DIRECT_UPLOAD_BYTES // 2**20} MB; this file has "
                       f"{len(part.data) / 2**20:.0f} MB. Cut or re-encode it smaller.", nested=False, field="file")
        filename = fields.get("filename") or part.filename or "upload"
        asset = self._register(part.data, filename, part.content_type)
        return 201, self._asset_body(asset), {}

    def _register(self, data: bytes, filename: str, declared_type: str | None) -> _Asset:
        digest = hashlib.sha256(data).hexdigest()
        asset_id, created = self.registry.new_id("asset", f"{digest}:{filename}", self.clock)
        # No extension on disk: FFmpeg then judges the bytes alone, and cannot be talked into
        # reading, say, a .txt file as ANSI-art "video" by its name.
        path = self.registry.upload_dir() / asset_id
        path.write_bytes(data)
        kind, info, error = _measure(data, path)
        asset = _Asset(asset_id, filename, _mime_type(filename, declared_type, data), created, len(data),
                       digest, path, kind, info, error)
        with self.registry.lock:
            self.registry.assets[asset_id] = asset
        return asset

    def _get_asset(self, asset_id: str, *, retrieve: bool = False, nested: bool = False) -> _Asset:
        with self.registry.lock:
            asset = self.registry.assets.get(asset_id)
            if asset is not None and retrieve:
                asset.retrieved = True  # validation is over: the next answer is ready or failed
        if asset is None:
            raise _not_found("asset", asset_id, nested=nested, again="upload the file again")
        return asset

    @staticmethod
    def _asset_body(asset: _Asset) -> dict:
        body: dict[str, Any] = {"_id": asset.id, "method": "direct", "status": asset.status,
                                "filename": asset.filename, "file_type": asset.file_type,
                                "created_at": asset.created_at}
        if asset.status == "ready":
            body["size"] = asset.size
            if isinstance(asset.info, VideoInfo):
                body["duration"] = asset.info.duration_sec
        elif asset.status == "failed":
            body["error"] = {"message": asset.error}
        return body

    def _list_assets(self, query: dict[str, list[str]]) -> dict:
        ids = set(query.get("asset_ids", []))
        types = set(query.get("asset_types", []))
        name = query.get("filename", [""])[-1].lower()
        with self.registry.lock:
            chosen = [a for a in self.registry.assets.values()
                      if (not ids or a.id in ids) and (not types or a.kind in types) and name in a.filename.lower()]
        chosen.sort(key=lambda a: a.created_at, reverse=True)  # newest first, as the API lists them
        return _page([self._asset_body(a) for a in chosen], query)

    # -- media for embedding

    def _media_asset(self, media: dict, where: str, kind: str) -> _Asset:
        """The asset a ``media_source`` names (base64 is registered as an anonymous upload)."""
        if not isinstance(media, dict):
            raise _bad(f"{where}.media_source is required: give an asset_id from POST /assets.",
                       field=f"{where}.media_source")
        given = [k for k in ("url", "base64_string", "asset_id") if media.get(k) is not None]
        if len(given) != 1:
            raise _bad(f"media_source needs exactly one of url, base64_string or asset_id (got "
                       f"{', '.join(given) or 'none'}).", field=f"{where}.media_source")
        if given == ["url"]:
            raise _bad("The local stand-in cannot fetch URLs (it never touches the network). Download the file, "
                       "upload it with the assets API (client.assets.create(method='direct', file=...)) and pass "
                       f"MediaSource(asset_id=...), or {_LIVE_HINT}.", field=f"{where}.media_source.url",
                       value=media["url"])
        if given == ["base64_string"]:
            try:
                data = base64.b64decode(media["base64_string"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise _bad("media_source.base64_string is not valid base64.",
                           field=f"{where}.media_source.base64_string") from exc
            if len(data) > limits.MAX_BASE64_BYTES:
                raise _bad(f"Base64 media is limited to {limits.MAX_BASE64_BYTES // 2**20} MB decoded; upload the "
                           "file with the assets API instead.", field=f"{where}.media_source.base64_string")
            asset = self._register(data, f"base64-{kind}", None)
        else:
            asset = self._get_asset(media["asset_id"], nested=True)
        if asset.error:
            raise _bad(f"Asset {asset.id} ({asset.filename!r}) failed processing: {asset.error}",
                       field=f"{where}.media_source")
        if asset.kind != kind:
            raise _bad(f"Asset {asset.id} ({asset.filename!r}) is {'an' if asset.kind == 'image' else 'a'} "
                       f"{asset.kind}; input_type {kind!r} needs {'an' if kind == 'image' else 'a'} {kind}.",
                       field=f"{where}.media_source")
        return asset

    def _video_job(self, body: dict, *, max_seconds: float) -> _VideoJob:
        model_name = _check_model_name(body)
        video = body.get("video")
        if not isinstance(video, dict):
            raise _bad("input_type 'video' needs a 'video' object.", field="video")
        # Cheap checks first, so a wrong request fails before any file is read.
        clip_length, min_duration = _parse_segmentation(video, model_name)
        options, scopes, note = _parse_options(video, model_name)
        asset = self._media_asset(video.get("media_source"), "video", "video")
        info = asset.info
        problems = limits.video_problems(info.duration_sec, info.width, info.height,
                                         header_duration=info.header_duration_sec, max_seconds=max_seconds)
        if problems:
            raise _bad(f"{asset.filename!r} is outside the Embed API's limits: " + "; ".join(problems) + ". "
                       + limits.video_rules(max_seconds) + "; re-encode the file (for example with ffmpeg) to fit.",
                       field="video.media_source")
        start, end = video.get("start_sec"), video.get("end_sec")
        for name, value in (("start_sec", start), ("end_sec", end)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise _bad(f"video.{name} must be a number of seconds.", field=f"video.{name}", value=value)
        s = float(start) if start is not None else 0.0
        e = min(float(end), info.duration_sec) if end is not None else info.duration_sec
        if s < 0 or s >= e:
            raise _bad(f"video.start_sec ({s:g}) must be at least 0 and before end_sec ({e:g}); the video lasts "
                       f"{info.duration_sec:g} s.", field="video.start_sec", value=start)
        return _VideoJob(asset, s, e, clip_length, min_duration, options, scopes, start is not None,
                         end is not None, note)

    # -- computing embeddings

    def _embed_video(self, job: _VideoJob) -> tuple[list[dict], dict]:
        """Segment vectors (mean of each segment's frame vectors) and the asset vector (mean of
        the segment vectors), as the wire's ``data`` list and ``metadata`` object."""
        key = job.key()
        with self.registry.lock:
            known = self.registry._memo.get(key)
        if known is None:
            known = self._compute_video(job)
            with self.registry.lock:
                self.registry._memo[key] = known
        clips, clip_vecs = known
        data = []
        if "clip" in job.scopes or "local" in job.scopes:
            data += [{"embedding": _vector(v), "embedding_option": "visual", "embedding_scope": "clip",
                      "start_sec": a, "end_sec": b} for (a, b), v in zip(clips, clip_vecs)]
        if "asset" in job.scopes:
            data.append({"embedding": _vector(_unit(np.mean(clip_vecs, axis=0))), "embedding_option": "visual",
                         "embedding_scope": "asset", "start_sec": job.start, "end_sec": job.end})
        metadata: dict[str, Any] = {"input_type": "video", "input_filename": job.asset.filename}
        if job.clip_length is not None:
            metadata["clip_length"] = job.clip_length
        metadata.update(embedding_scopes=job.scopes, embedding_options=job.options,
                        duration=job.asset.info.duration_sec)
        if job.start_given:
            metadata["start_offset_sec"] = job.start
        if job.end_given:
            metadata["end_offset_sec"] = job.end
        metadata["embedding_dimension"] = len(data[0]["embedding"])
        return data, metadata

    def _compute_video(self, job: _VideoJob) -> tuple[list[tuple[float, float]], list[np.ndarray]]:
        model = self._get_model()
        if job.clip_length is not None:
            clips = standin_video.segments(job.start, job.end, job.clip_length)
        else:
            cuts = standin_video.scene_cuts(job.asset.path)
            clips = standin_video.dynamic_segments(job.start, job.end, cuts, job.min_duration, limits.MAX_CLIP)
        times = [t for a, b in clips for t in standin_video.sample_times(a, b, FRAMES_PER_CLIP)]
        log.info("local stand-in: embedding %s (%d segments x %d frames)", job.asset.filename, len(clips),
                 FRAMES_PER_CLIP)
        frames = standin_video.sample_frames(job.asset.path, times, size=model.input_size)
        frame_vecs = np.asarray(model.embed_frames(frames), dtype=np.float64)
        vecs = [_unit(frame_vecs[i * FRAMES_PER_CLIP:(i + 1) * FRAMES_PER_CLIP].mean(axis=0)) for i in range(len(clips))]
        return clips, vecs

    def _embed_image(self, body: dict, input_type: str) -> tuple[list[dict], dict]:
        """An ``image`` answer (the picture's vector, as for one frame) or a ``text_image`` one: the
        stand-in has no joint model, so it sums the text's and the picture's unit vectors and
        rescales; the answer's source header says which (``coursekit.labels``)."""
        _check_model_name(body)
        request = body.get(input_type) if isinstance(body.get(input_type), dict) else {}
        text = request.get("input_text")
        if input_type == "text_image" and (not isinstance(text, str) or not text.strip()):
            raise _bad("text_image.input_text must be a non-empty string.", field="text_image.input_text", value=text)
        asset = self._media_asset(request.get("media_source"), input_type, "image")
        info = asset.info
        problems = limits.image_problems(info.width, info.height, asset.size, info.mime_type)
        if problems:
            raise _bad(f"{asset.filename!r} is outside the Embed API's image limits: " + "; ".join(problems) + ".",
                       field=f"{input_type}.media_source")
        model = self._get_model()
        frame = decode_image(asset.path.read_bytes(), size=model.input_size)[0]
        vec = np.asarray(model.embed_frames([frame]), dtype=np.float64)[0]
        if input_type == "text_image":
            vec = _unit(_unit(vec) + _unit(np.asarray(model.embed_texts([text]), dtype=np.float64)[0]))
        item = {"embedding": _vector(vec), "embedding_option": None, "embedding_scope": None,
                "start_sec": None, "end_sec": None}
        return [item], {"input_type": input_type, "input_filename": asset.filename}

    # -- embed-v2

    def _create_task(self, request: httpx.Request) -> tuple[int, Any, dict]:
        body = _json_body(request)
        input_type = body.get("input_type")
        if input_type != "video":
            why = (f"the local stand-in has no audio model; {_LIVE_HINT}" if input_type == "audio" else
                   "the local stand-in embeds only video asynchronously (images go to POST /embed-v2)")
            raise _bad(f"input_type={input_type!r} is not supported here: {why}.", field="input_type", value=input_type)
        job = self._video_job(body, max_seconds=limits.MAX_SECONDS)
        canonical = json.dumps(_canonical(body), sort_keys=True, separators=(",", ":"))
        task_id, created = self.registry.new_id("task", canonical, self.clock)
        answer: dict[str, Any] = {"_id": task_id, "status": "ready", "created_at": created, "updated_at": created}
        try:
            data, metadata = self._embed_video(job)
            answer.update(data=data, metadata=metadata)
        except (VideoError, EmbeddingError) as exc:
            # The real API reports trouble found after acceptance as a failed task.
            log.warning("local stand-in: task %s failed: %s", task_id, exc)
            answer.update(status="failed", data=None, error={"message": str(exc)})
        summary = {"_id": task_id, "model_name": body["model_name"], "created_at": created, "updated_at": created,
                   "video_embedding": {"metadata": {
                       "input_filename": job.asset.filename, "video_clip_length": job.clip_length,
                       "video_embedding_scope": job.scopes, "video_embedding_option": job.options,
                       "duration": job.asset.info.duration_sec}}}
        with self.registry.lock:
            self.registry.tasks[task_id] = _Task(task_id, created, answer, summary, self.task_polls)
        location = f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.path.rstrip('/')}/{task_id}"
        extra = {"location": location, **({NOTE_HEADER: job.note} if job.note else {})}
        return 202, {"_id": task_id, "status": "processing", "data": None}, extra

    def _retrieve_task(self, task_id: str) -> dict:
        with self.registry.lock:
            task = self.registry.tasks.get(task_id)
            if task is not None and task.polls_left > 0:
                task.polls_left -= 1
                return {"_id": task_id, "status": "processing", "data": None}
        if task is None:
            raise _not_found("embedding task", task_id, nested=True, again="create the task again")
        return task.answer

    def _list_tasks(self, query: dict[str, list[str]]) -> dict:
        after, before = _instant(query, "started_at"), _instant(query, "ended_at")
        status = query.get("status", [None])[-1]
        with self.registry.lock:
            tasks = sorted(self.registry.tasks.values(), key=lambda t: t.created_at, reverse=True)
            items = [{**t.summary, "status": t.status} for t in tasks
                     if (after is None or t.created_at >= after) and (before is None or t.created_at <= before)
                     and (status is None or t.status == status)]
        for item in items:  # a dynamic task has no clip length: leave the key out, as the API does
            if item["video_embedding"]["metadata"]["video_clip_length"] is None:
                item["video_embedding"] = {"metadata": {k: v for k, v in item["video_embedding"]["metadata"].items()
                                                        if k != "video_clip_length"}}
        return _page(items, query)

    def _embed_sync(self, request: httpx.Request) -> tuple[int, Any, dict]:
        body = _json_body(request)
        input_type = body.get("input_type")
        if input_type == "text":
            _check_model_name(body)
            text = body.get("text")
            value = text.get("input_text") if isinstance(text, dict) else None
            if not isinstance(value, str) or not value.strip():
                raise _bad("text.input_text must be a non-empty string.", field="text.input_text", value=value)
            vec = self._get_model().embed_texts([value])[0]
            return 200, {"data": [{"embedding": _vector(vec), "embedding_option": None, "embedding_scope": None,
                                   "start_sec": None, "end_sec": None}]}, {}
        if input_type in ("image", "text_image"):
            data, metadata = self._embed_image(body, input_type)
            source = STANDIN_IMAGE_SOURCE if input_type == "image" else STANDIN_TEXT_IMAGE_SOURCE
            # Only the default label is refined: a transport built with another ``source`` keeps it.
            return 200, {"data": data, "metadata": metadata}, ({SOURCE_HEADER: source} if self.source == SOURCE else {})
        if input_type == "video":
            job = self._video_job(body, max_seconds=limits.MAX_SYNC_SECONDS)
            data, metadata = self._embed_video(job)
            return 200, {"data": data, "metadata": metadata}, ({NOTE_HEADER: job.note} if job.note else {})
        cannot = {"audio": "it has no audio model",
                  "multi_input": "it has no model that combines several inputs"}
        why = cannot.get(input_type, "it embeds text, images and video")
        raise _bad(f"input_type={input_type!r} is not supported by the local stand-in: {why}; {_LIVE_HINT}.",
                   field="input_type", value=input_type)


def _canonical(value: Any) -> Any:
    """The request without its nulls: an explicit ``null`` and an omitted field mean the same."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items()) if v is not None}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _vector(v: np.ndarray) -> list[float]:
    return [round(float(x), VECTOR_DECIMALS) for x in v]


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


__all__ = ["CREATED_AT", "DIMENSION", "LocalTransport", "NOTE_HEADER", "PROCESS_REGISTRY", "Registry", "SOURCE",
           "SOURCE_HEADER", "reset"]
