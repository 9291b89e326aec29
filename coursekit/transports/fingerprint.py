"""A stable name for a request, so a recorded answer can be found again.

Two requests get the same fingerprint when they ask the same thing: same method, same path and
query, same body. Bodies are canonicalised first: JSON keys sorted, and in a multipart upload
each file replaced by the sha256 of its bytes (the boundary is random, the file name is
incidental, the content is what matters).
"""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import parse_qsl

import httpx

from . import multipart

API_PREFIX = "/v1.3"


def api_path(url: httpx.URL) -> str:
    """The path below the API's version prefix, the part that names the endpoint."""
    path = url.path
    return path[len(API_PREFIX):] if path.startswith(API_PREFIX + "/") else path


def _multipart_fields(content_type: str, body: bytes) -> dict:
    fields: dict[str, object] = {}
    for part in multipart.parse(body, content_type):
        if part.filename is not None:
            fields[part.name] = {"sha256": hashlib.sha256(part.data).hexdigest(), "bytes": len(part.data)}
        else:
            fields[part.name] = part.data.decode("utf-8", errors="replace")
    return fields


def canonical_body(request: httpx.Request) -> object:
    """The request body as a JSON-able value, independent of formatting and boundaries."""
    body = request.read()
    if not body:
        return None
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return {"multipart": _multipart_fields(content_type, body)}
    if "json" in content_type:
        return json.loads(body)
    if content_type.startswith("application/x-www-form-urlencoded"):
        return {"form": sorted(parse_qsl(body.decode()))}
    return {"sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}


def describe(request: httpx.Request) -> dict:
    """What identifies a request: method, endpoint path, sorted query, canonical body."""
    return {
        "method": request.method,
        "path": api_path(request.url),
        "query": sorted(parse_qsl(request.url.query.decode())),
        "body": canonical_body(request),
    }


def fingerprint(request: httpx.Request) -> str:
    """A file-name-safe key: the endpoint in words, then a short hash of the whole description."""
    description = describe(request)
    digest = hashlib.sha256(
        json.dumps(description, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()[:20]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", description["path"]).strip("-")[:60]
    return f"{request.method}-{slug}-{digest}"
