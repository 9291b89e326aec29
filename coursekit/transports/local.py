"""Local mode: an in-process stand-in for the Twelve Labs API, so the course runs offline.

``LocalTransport`` sits where the network would be, under the official SDK client
(``TwelveLabs(httpx_client=httpx.Client(transport=LocalTransport()))``). It answers the
endpoints the course uses with the API's own JSON wire shapes (OpenAPI v1.3), so the SDK
parses its answers unchanged and the notebooks cannot tell which mode they run in -- except
that the vectors come from a small model on this machine (ConSE over EfficientNet-Lite0 and
all-MiniLM-L6-v2, 384-d, see ``coursekit.standin.model``), not from Marengo.

Endpoints: ``POST /assets`` (direct upload), ``GET``/``DELETE /assets/{id}``,
``POST /embed-v2/tasks``, ``GET /embed-v2/tasks/{id}``, ``POST /embed-v2`` (text, and video up
to 10 minutes). Anything else is answered 501 with a message that points to live mode.

Design choices, all for reproducible recordings (outputs are compared byte for byte):

* ids are content hashes: an asset's id is the sha256 of its bytes, a task's id the sha256 of
  its canonical request body, so re-running produces the same ids;
* timestamps are a fixed instant (:data:`CREATED_AT`);
* an embedding task is computed when it is created and always retrieved ``ready``, so polling
  takes the same number of calls every run (one);
* a new upload answers ``processing`` and a retrieve answers ``ready``, like the real API's
  lifecycle, so code that forgets to poll fails here too rather than only live;
* vectors are rounded to 6 decimals: float32 noise would only make files differ.

Assets and tasks live in a process-wide registry (uploads as temporary files), so a second
transport in the same process -- a re-run notebook cell -- still finds them. The model loads
lazily on the first request that needs it; validation and every error answer work without it.
Nothing here opens a socket.
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import json
import logging
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from helpers.errors import EmbeddingError, VideoError
from coursekit.labels import STANDIN_SOURCE
from coursekit.standin import video as standin_video

log = logging.getLogger(__name__)

#: Sent as the ``x-course-source`` header on every answer; the recorder labels recordings with it.
SOURCE = STANDIN_SOURCE
SOURCE_HEADER = "x-course-source"
#: Every timestamp the stand-in writes: a fixed instant, so recordings do not change between runs.
CREATED_AT = "2025-01-01T00:00:00Z"
#: The stand-in's vector length (all-MiniLM-L6-v2). Checked against the model when it loads.
DIMENSION = 384
#: Model names accepted in requests; all map to the same stand-in model.
MODEL_NAMES = ("marengo3.0", "marengo3.5")

# Marengo 3.0 input limits, as the API reference states them (embed-v2 "Input requirements").
MIN_DURATION_SEC = 4.0
MAX_DURATION_SEC = 4 * 3600.0
MAX_SYNC_DURATION_SEC = 600.0  # POST /embed-v2 takes audio and video up to 10 minutes
MIN_SIDE_PX = 360
MAX_LONG_SIDE_PX = 5184
MAX_SHORT_SIDE_PX = 2160
MAX_ASPECT = 2.4
MIN_CLIP_SEC, MAX_CLIP_SEC = 2, 10
MAX_DIRECT_UPLOAD_BYTES = 200 * 1024 * 1024
MAX_BASE64_BYTES = 36 * 1024 * 1024

#: Frames sampled per clip, evenly spaced: enough to see a 2-10 s clip, cheap on two cores.
FRAMES_PER_CLIP = 4
VECTOR_DECIMALS = 6

_ID_HEX = 24  # the API's ids are 24 hex characters (MongoDB ObjectIds); ours look alike
_LIVE_HINT = "use live mode (TL_MODE=live) for that"

# Containers the course may meet, by extension; our own table rather than the ``mimetypes``
# module, whose answers depend on the machine's /etc/mime.types.
_MIME_BY_EXTENSION = {
    ".mp4": "video/mp4",
    ".m4v": "video/x-m4v",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".ts": "video/mp2t",
    ".ogv": "video/ogg",
    ".3gp": "video/3gpp",
}


# ---------------------------------------------------------------- errors as HTTP answers


class _HttpError(Exception):
    """An error answer. ``nested`` picks the wire shape: the embed-v2 endpoints answer
    ``{"error": {"code", "message", "details"}}`` (ErrorResponse), the assets endpoints answer
    ``{"code", "message"}`` (the generic error), as the API reference specifies."""

    def __init__(self, status: int, code: str, message: str, *, nested: bool, details: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.nested = nested
        self.details = details

    def body(self) -> dict:
        if self.nested:
            error: dict[str, Any] = {"code": self.code, "message": self.message}
            if self.details:
                error["details"] = self.details
            return {"error": error}
        return {"code": self.code, "message": self.message}


def _bad(message: str, *, nested: bool = True, field: str | None = None, value: Any = None) -> _HttpError:
    details: dict[str, Any] | None = None
    if field is not None:
        details = {"field": field} if value is None else {"field": field, "value": value}
    code = "VALIDATION_ERROR" if nested else "parameter_invalid"
    return _HttpError(400, code, message, nested=nested, details=details)


# ---------------------------------------------------------------- the process-wide registry


@dataclass(frozen=True)
class _Asset:
    id: str
    filename: str
    file_type: str
    path: Path
    info: standin_video.VideoInfo


_LOCK = threading.RLock()
_ASSETS: dict[str, _Asset] = {}
_TASKS: dict[str, dict] = {}
_UPLOAD_DIR: Path | None = None


def _upload_dir() -> Path:
    global _UPLOAD_DIR
    with _LOCK:
        if _UPLOAD_DIR is None:
            _UPLOAD_DIR = Path(tempfile.mkdtemp(prefix="tl-standin-"))
            atexit.register(shutil.rmtree, _UPLOAD_DIR, True)
        return _UPLOAD_DIR


def reset() -> None:
    """Forget every asset and task of this process (tests use it to start clean)."""
    with _LOCK:
        for asset in _ASSETS.values():
            asset.path.unlink(missing_ok=True)
        _ASSETS.clear()
        _TASKS.clear()


def _content_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:_ID_HEX]


def _canonical(value: Any) -> Any:
    """The request without its nulls: an explicit ``null`` and an omitted field mean the same,
    and must give the same task id."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items()) if v is not None}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _mime_type(filename: str, declared: str | None) -> str:
    ext = Path(filename).suffix.lower()
    if ext in _MIME_BY_EXTENSION:
        return _MIME_BY_EXTENSION[ext]
    if declared and declared != "application/octet-stream":
        return declared
    return "application/octet-stream"


def _register(data: bytes, filename: str, declared_type: str | None, *, nested: bool) -> _Asset:
    """Keep an upload on disk and measure it; the same bytes give the same asset."""
    asset_id = _content_id(data)
    with _LOCK:
        known = _ASSETS.get(asset_id)
    if known is not None and known.path.exists():
        return known
    # No extension on disk: FFmpeg then judges the bytes alone, and cannot be talked into
    # reading, say, a .txt file as ANSI-art "video" by its name.
    path = _upload_dir() / asset_id
    path.write_bytes(data)
    try:
        info = standin_video.probe(path)
    except VideoError as exc:
        path.unlink(missing_ok=True)
        raise _HttpError(
            400,
            "VALIDATION_ERROR" if nested else "video_not_decodable",
            f"The local stand-in could not read {filename!r} as a video: {exc} "
            "(The stand-in accepts only video files; the live API also takes images and audio.)",
            nested=nested,
        ) from exc
    asset = _Asset(asset_id, filename, _mime_type(filename, declared_type), path, info)
    with _LOCK:
        _ASSETS[asset_id] = asset
    return asset


# ---------------------------------------------------------------- multipart parsing


@dataclass(frozen=True)
class _Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))')


def _header_params(value: str) -> dict[str, str]:
    params = {}
    for key, quoted, bare in _PARAM.findall(value):
        raw = quoted if quoted or not bare else bare
        # httpx percent-escapes quotes and line breaks inside quoted parameters.
        raw = raw.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n").replace('\\"', '"')
        params[key.lower()] = raw
    return params


def _parse_multipart(body: bytes, content_type: str) -> list[_Part]:
    """Split a ``multipart/form-data`` body (RFC 7578) on the boundary from its content type.

    Written by hand rather than with the ``email`` package: an upload can be 200 MB and this
    slices bytes once, where the email parser copies and re-decodes them.
    """
    boundary = _header_params(";" + content_type.split(";", 1)[1]).get("boundary") if ";" in content_type else None
    if not boundary:
        raise _bad("The upload is not multipart/form-data with a boundary.", nested=False)
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    chunks = (b"\r\n" + body).split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise _bad("The multipart upload is malformed (a part has no header end).", nested=False)
        headers = {}
        for line in head.decode("utf-8", errors="replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        params = _header_params(";" + disposition.split(";", 1)[1]) if ";" in disposition else {}
        if "name" not in params:
            continue
        parts.append(_Part(params["name"], params.get("filename"), headers.get("content-type"), data))
    return parts


# ---------------------------------------------------------------- request validation


def _json_body(request: httpx.Request) -> dict:
    try:
        body = json.loads(request.content or b"null")
    except ValueError as exc:
        raise _bad(f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object.")
    return body


def _check_model_name(body: dict) -> None:
    name = body.get("model_name")
    if name not in MODEL_NAMES:
        raise _bad(
            f"model_name={name!r} is not supported. Use 'marengo3.0' (the local stand-in "
            "answers for it with its own 384-d model).",
            field="model_name",
            value=name,
        )
    if body.get("embedding_dimension") is not None:
        raise _bad(
            f"The local stand-in's vectors have {DIMENSION} dimensions and cannot be shortened; "
            "leave out embedding_dimension.",
            field="embedding_dimension",
            value=body.get("embedding_dimension"),
        )
    if body.get("embedding_uncertainty"):
        raise _bad(
            f"The local stand-in does not compute embedding uncertainty; {_LIVE_HINT}.",
            field="embedding_uncertainty",
            value=True,
        )


def _resolve_media(video: dict) -> _Asset:
    source = video.get("media_source")
    if not isinstance(source, dict):
        raise _bad("video.media_source is required: give an asset_id from POST /assets.", field="video.media_source")
    given = [k for k in ("url", "base64_string", "asset_id") if source.get(k) is not None]
    if len(given) != 1:
        raise _bad(
            "media_source needs exactly one of url, base64_string or asset_id "
            f"(got {', '.join(given) or 'none'}).",
            field="video.media_source",
        )
    if given == ["url"]:
        raise _bad(
            "The local stand-in cannot fetch URLs (it never touches the network). Download the "
            "file, upload it with the assets API (client.assets.create(method='direct', file=...)) "
            "and pass MediaSource(asset_id=...).",
            field="video.media_source.url",
            value=source["url"],
        )
    if given == ["base64_string"]:
        try:
            data = base64.b64decode(source["base64_string"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _bad("media_source.base64_string is not valid base64.", field="video.media_source.base64_string") from exc
        if len(data) > MAX_BASE64_BYTES:
            raise _bad(
                f"Base64 media is limited to {MAX_BASE64_BYTES // 2**20} MB decoded; upload the file "
                "with the assets API instead.",
                field="video.media_source.base64_string",
            )
        return _register(data, "base64-video", None, nested=True)
    asset_id = source["asset_id"]
    with _LOCK:
        asset = _ASSETS.get(asset_id)
    if asset is None:
        raise _HttpError(
            404,
            "NOT_FOUND",
            f"No asset {asset_id!r} in this session. The local stand-in keeps uploads in memory "
            "for the life of the Python process only: upload the file again (the same file gets "
            "the same id).",
            nested=True,
            details={"field": "video.media_source.asset_id", "value": asset_id},
        )
    return asset


@dataclass(frozen=True)
class _VideoJob:
    asset: _Asset
    start: float
    end: float
    clip_length: int
    options: list[str]
    scopes: list[str]
    start_given: bool
    end_given: bool


def _parse_segmentation(video: dict) -> int:
    seg = video.get("segmentation")
    if seg is None:
        raise _bad(
            "The local stand-in needs fixed segmentation: the API's default (dynamic, cut at "
            "scene changes) is not something it can imitate. Pass "
            "segmentation=VideoSegmentation_Fixed(fixed=VideoSegmentationFixedFixed(duration_sec=6)).",
            field="video.segmentation",
        )
    if not isinstance(seg, dict):
        raise _bad("video.segmentation must be an object.", field="video.segmentation", value=seg)
    if isinstance(seg.get("temporal"), dict) and "strategy" not in seg:
        seg = seg["temporal"]  # Marengo 3.5 nests the same settings one level down
    strategy = seg.get("strategy")
    if strategy == "dynamic":
        raise _bad(
            "The local stand-in supports only fixed segmentation (it cannot detect scene "
            f"changes): use strategy 'fixed' with duration_sec {MIN_CLIP_SEC}-{MAX_CLIP_SEC}, or {_LIVE_HINT}.",
            field="video.segmentation.strategy",
            value=strategy,
        )
    if strategy != "fixed":
        raise _bad(
            f"segmentation.strategy must be 'fixed' or 'dynamic' (got {strategy!r}).",
            field="video.segmentation.strategy",
            value=strategy,
        )
    fixed = seg.get("fixed")
    duration = fixed.get("duration_sec") if isinstance(fixed, dict) else None
    if isinstance(duration, float) and duration.is_integer():
        duration = int(duration)
    if isinstance(duration, bool) or not isinstance(duration, int) or not MIN_CLIP_SEC <= duration <= MAX_CLIP_SEC:
        raise _bad(
            f"segmentation.fixed.duration_sec must be a whole number of seconds from {MIN_CLIP_SEC} "
            f"to {MAX_CLIP_SEC} (got {duration!r}).",
            field="video.segmentation.fixed.duration_sec",
            value=duration,
        )
    return duration


def _parse_options(video: dict) -> tuple[list[str], list[str]]:
    options = video.get("embedding_option")
    if options is None:
        options = ["visual", "audio", "transcription"]  # the API's default for Marengo 3.0
    if not isinstance(options, list) or not options:
        raise _bad("embedding_option must be a non-empty list.", field="video.embedding_option", value=options)
    kinds = video.get("embedding_type") or []
    others = [o for o in options if o != "visual"]
    if "fused_embedding" in kinds:
        others.append("fused")
    if others:
        raise _bad(
            "The local stand-in embeds only 'visual' (it has no audio or speech model); it cannot "
            f"produce {', '.join(repr(o) for o in others)}. Ask for embedding_option=['visual'], "
            f"or {_LIVE_HINT} (audio, transcription and fused embeddings).",
            field="video.embedding_option",
            value=options,
        )
    scopes = video.get("embedding_scope")
    if scopes is None:
        scopes = ["clip", "asset"]
    if not isinstance(scopes, list) or not scopes or any(s not in ("clip", "asset", "local") for s in scopes):
        raise _bad(
            "embedding_scope must list 'clip' and/or 'asset'.", field="video.embedding_scope", value=scopes
        )
    return list(dict.fromkeys(options)), list(dict.fromkeys(scopes))


def _parse_video_job(body: dict, *, max_duration: float) -> _VideoJob:
    video = body.get("video")
    if not isinstance(video, dict):
        raise _bad("input_type 'video' needs a 'video' object.", field="video")
    # Cheap checks first, so a wrong request fails before any file is read.
    clip_length = _parse_segmentation(video)
    options, scopes = _parse_options(video)
    asset = _resolve_media(video)
    info = asset.info
    problems = standin_video.check_limits(
        info,
        min_duration=MIN_DURATION_SEC,
        max_duration=max_duration,
        min_side=MIN_SIDE_PX,
        max_long_side=MAX_LONG_SIDE_PX,
        max_short_side=MAX_SHORT_SIDE_PX,
        max_aspect=MAX_ASPECT,
    )
    if problems:
        raise _bad(
            f"{asset.filename!r} is outside the Embed API's limits: " + "; ".join(problems) + ". "
            f"Marengo accepts videos of {MIN_DURATION_SEC:g} s to {max_duration / 3600:g} h, "
            f"{MIN_SIDE_PX}x{MIN_SIDE_PX} to {MAX_LONG_SIDE_PX}x{MAX_SHORT_SIDE_PX} px, aspect "
            f"ratio up to {MAX_ASPECT:g}:1; re-encode the file (for example with ffmpeg) to fit.",
            field="video.media_source",
        )
    start = video.get("start_sec")
    end = video.get("end_sec")
    for name, value in (("start_sec", start), ("end_sec", end)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _bad(f"video.{name} must be a number of seconds.", field=f"video.{name}", value=value)
    s = float(start) if start is not None else 0.0
    e = min(float(end), info.duration) if end is not None else info.duration
    if s < 0 or s >= e:
        raise _bad(
            f"video.start_sec ({s:g}) must be at least 0 and before end_sec ({e:g}); the video "
            f"lasts {info.duration:g} s.",
            field="video.start_sec",
            value=start,
        )
    return _VideoJob(asset, s, e, clip_length, options, scopes, start is not None, end is not None)


# ---------------------------------------------------------------- computing embeddings


def _model():
    from coursekit.standin.model import get_model

    model = get_model()  # raises ConfigError when the [local] extra is missing
    if model.dimension != DIMENSION:
        raise EmbeddingError(f"the stand-in model gives {model.dimension}-d vectors, expected {DIMENSION}")
    return model


def _vector(v: np.ndarray) -> list[float]:
    return [round(float(x), VECTOR_DECIMALS) for x in v]


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _embed_video(job: _VideoJob) -> tuple[list[dict], dict]:
    """Clip vectors (mean of each clip's frame vectors) and the asset vector (mean of the clip
    vectors), as the wire's ``data`` list and ``metadata`` object."""
    model = _model()
    clips = standin_video.segments(job.start, job.end, job.clip_length)
    times = [t for a, b in clips for t in standin_video.sample_times(a, b, FRAMES_PER_CLIP)]
    log.info(
        "local stand-in: embedding %s (%d clips x %d frames, backend %s)",
        job.asset.filename, len(clips), FRAMES_PER_CLIP, model.backend,
    )
    frames = standin_video.sample_frames(job.asset.path, times, size=model.input_size)
    frame_vecs = model.embed_frames(frames).astype(np.float64)
    clip_vecs = [
        _unit(frame_vecs[i * FRAMES_PER_CLIP : (i + 1) * FRAMES_PER_CLIP].mean(axis=0))
        for i in range(len(clips))
    ]
    data = []
    if "clip" in job.scopes or "local" in job.scopes:
        for (a, b), v in zip(clips, clip_vecs):
            data.append({"embedding": _vector(v), "embedding_option": "visual", "embedding_scope": "clip",
                         "start_sec": a, "end_sec": b})
    if "asset" in job.scopes:
        whole = _unit(np.mean(clip_vecs, axis=0))
        data.append({"embedding": _vector(whole), "embedding_option": "visual", "embedding_scope": "asset",
                     "start_sec": job.start, "end_sec": job.end})
    metadata: dict[str, Any] = {
        "input_type": "video",
        "input_filename": job.asset.filename,
        "clip_length": job.clip_length,
        "embedding_scopes": job.scopes,
        "embedding_options": job.options,
        "duration": job.asset.info.duration,
    }
    if job.start_given:
        metadata["start_offset_sec"] = job.start
    if job.end_given:
        metadata["end_offset_sec"] = job.end
    metadata["embedding_dimension"] = DIMENSION
    return data, metadata


# ---------------------------------------------------------------- the transport


def _api_path(url: httpx.URL) -> str:
    """The path after the version prefix, whatever base URL the client was given."""
    path = url.path
    marker = path.find("/v1.3/")
    if marker >= 0:
        path = path[marker + len("/v1.3") :]
    return "/" + path.strip("/")


class LocalTransport(httpx.BaseTransport):
    """An offline Twelve Labs API for the SDK client (see the module docstring).

    Accepts any ``x-api-key`` (local mode needs none). Raises
    :class:`helpers.errors.ConfigError` -- an exception, not an HTTP answer -- when a request
    needs the model and the ``[local]`` extra is not installed.
    """

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        method = request.method.upper()
        path = _api_path(request.url)
        headers = {"content-type": "application/json", SOURCE_HEADER: SOURCE}
        try:
            status, body, extra = self._route(method, path, request)
        except _HttpError as err:
            status, body, extra = err.status, err.body(), {}
        headers.update(extra)
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
        return httpx.Response(status, headers=headers, content=content, request=request)

    def _route(self, method: str, path: str, request: httpx.Request) -> tuple[int, Any, dict]:
        if path == "/assets" and method == "POST":
            return self._create_asset(request)
        m = re.fullmatch(r"/assets/([^/]+)", path)
        if m and method == "GET":
            return 200, self._asset_body(self._get_asset(m.group(1)), "ready"), {}
        if m and method == "DELETE":
            self._get_asset(m.group(1))
            with _LOCK:
                asset = _ASSETS.pop(m.group(1))
            asset.path.unlink(missing_ok=True)
            return 204, None, {}
        if path == "/embed-v2/tasks" and method == "POST":
            return self._create_task(request)
        m = re.fullmatch(r"/embed-v2/tasks/([^/]+)", path)
        if m and method == "GET":
            return 200, self._get_task(m.group(1)), {}
        if path == "/embed-v2" and method == "POST":
            return self._embed_sync(request)
        raise _HttpError(
            501,
            "not_implemented",
            f"The local stand-in does not implement {method} {path}; it answers only the "
            f"assets and embed-v2 calls the course makes. {_LIVE_HINT[0].upper()}{_LIVE_HINT[1:]}.",
            nested=path.startswith("/embed-v2"),
        )

    # -- assets

    @staticmethod
    def _asset_body(asset: _Asset, status: str) -> dict:
        return {
            "_id": asset.id,
            "method": "direct",
            "status": status,
            "filename": asset.filename,
            "file_type": asset.file_type,
            "created_at": CREATED_AT,
        }

    @staticmethod
    def _get_asset(asset_id: str) -> _Asset:
        with _LOCK:
            asset = _ASSETS.get(asset_id)
        if asset is None:
            raise _HttpError(
                404,
                "not_found",
                f"No asset {asset_id!r} in this session. The local stand-in keeps uploads only for "
                "the life of the Python process: upload the file again (the same file gets the same id).",
                nested=False,
            )
        return asset

    def _create_asset(self, request: httpx.Request) -> tuple[int, Any, dict]:
        content_type = request.headers.get("content-type", "")
        if not content_type.lower().startswith("multipart/form-data"):
            raise _bad("POST /assets takes multipart/form-data (method=direct and a file).", nested=False)
        parts = _parse_multipart(request.content, content_type)
        fields = {p.name: p.data.decode("utf-8", errors="replace") for p in parts if p.filename is None}
        files = [p for p in parts if p.name == "file"]
        method = fields.get("method")
        if method == "url" or (fields.get("url") and method != "direct"):
            raise _bad(
                "The local stand-in cannot fetch URLs (it never touches the network). Download the "
                "file and upload it with method='direct' and file=open(path, 'rb').",
                nested=False,
                field="url",
                value=fields.get("url"),
            )
        if method != "direct":
            raise _bad(f"method must be 'direct' or 'url' (got {method!r}).", nested=False, field="method", value=method)
        if not files or not files[0].data:
            raise _bad(
                "The upload carries no file content. Pass file=open(path, 'rb'). (If you turned on "
                "the SDK's retries: a retried upload is re-sent with an empty body.)",
                nested=False,
                field="file",
            )
        part = files[0]
        if len(part.data) > MAX_DIRECT_UPLOAD_BYTES:
            raise _bad(
                f"Direct uploads are limited to {MAX_DIRECT_UPLOAD_BYTES // 2**20} MB; this file has "
                f"{len(part.data) / 2**20:.0f} MB. Cut or re-encode it smaller.",
                nested=False,
                field="file",
            )
        filename = fields.get("filename") or part.filename or "upload"
        asset = _register(part.data, filename, part.content_type, nested=False)
        return 201, self._asset_body(asset, "processing"), {}

    # -- embed-v2

    def _create_task(self, request: httpx.Request) -> tuple[int, Any, dict]:
        body = _json_body(request)
        input_type = body.get("input_type")
        if input_type != "video":
            hint = (
                f"the local stand-in has no audio model; {_LIVE_HINT}"
                if input_type == "audio"
                else "the local stand-in embeds only video asynchronously"
            )
            raise _bad(f"input_type={input_type!r} is not supported here: {hint}.", field="input_type", value=input_type)
        _check_model_name(body)
        job = _parse_video_job(body, max_duration=MAX_DURATION_SEC)
        task_id = hashlib.sha256(
            json.dumps(_canonical(body), sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()[:_ID_HEX]
        with _LOCK:
            known = task_id in _TASKS
        if not known:
            answer: dict[str, Any] = {"_id": task_id, "status": "ready", "created_at": CREATED_AT,
                                      "updated_at": CREATED_AT}
            try:
                data, metadata = _embed_video(job)
                answer.update(data=data, metadata=metadata)
            except (VideoError, EmbeddingError) as exc:
                # The real API reports trouble found after acceptance as a failed task.
                log.warning("local stand-in: task %s failed: %s", task_id, exc)
                answer.update(status="failed", data=None, error={"message": str(exc)})
            with _LOCK:
                _TASKS[task_id] = answer
        location = f"{request.url.scheme}://{request.url.netloc.decode()}{request.url.path.rstrip('/')}/{task_id}"
        return 202, {"_id": task_id, "status": "processing", "data": None}, {"location": location}

    @staticmethod
    def _get_task(task_id: str) -> dict:
        with _LOCK:
            answer = _TASKS.get(task_id)
        if answer is None:
            raise _HttpError(
                404,
                "NOT_FOUND",
                f"No embedding task {task_id!r} in this session. The local stand-in keeps tasks only "
                "for the life of the Python process: create the task again (the same request gets "
                "the same id).",
                nested=True,
            )
        return answer

    def _embed_sync(self, request: httpx.Request) -> tuple[int, Any, dict]:
        body = _json_body(request)
        input_type = body.get("input_type")
        if input_type == "text":
            _check_model_name(body)
            text = body.get("text")
            value = text.get("input_text") if isinstance(text, dict) else None
            if not isinstance(value, str) or not value.strip():
                raise _bad("text.input_text must be a non-empty string.", field="text.input_text", value=value)
            vec = _model().embed_texts([value])[0]
            item = {"embedding": _vector(vec), "embedding_option": None, "embedding_scope": None,
                    "start_sec": None, "end_sec": None}
            return 200, {"data": [item]}, {}
        if input_type == "video":
            _check_model_name(body)
            job = _parse_video_job(body, max_duration=MAX_SYNC_DURATION_SEC)
            data, metadata = _embed_video(job)
            return 200, {"data": data, "metadata": metadata}, {}
        raise _bad(
            f"input_type={input_type!r} is not supported by the local stand-in, which embeds only "
            f"text and video; {_LIVE_HINT}.",
            field="input_type",
            value=input_type,
        )


__all__ = ["LocalTransport", "SOURCE", "SOURCE_HEADER", "CREATED_AT", "DIMENSION", "reset"]
