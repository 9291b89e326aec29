"""The one ``multipart/form-data`` parser (RFC 7578), for the stand-in's uploads and for the
fingerprints that name recordings.

Written by hand rather than with the ``email`` package: an upload can be 200 MB and this slices
the bytes once, where the email parser copies and re-decodes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))')


def header_params(value: str) -> dict[str, str]:
    """The ``key=value`` parameters after a header's first ``;`` (boundary, name, filename)."""
    params = {}
    rest = value.split(";", 1)[1] if ";" in value else ""
    for key, quoted, bare in _PARAM.findall(";" + rest):
        raw = quoted if quoted or not bare else bare
        # httpx percent-escapes quotes and line breaks inside quoted parameters.
        raw = raw.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n").replace('\\"', '"')
        params[key.lower()] = raw
    return params


def parse(body: bytes, content_type: str) -> list[Part]:
    """The named parts of a multipart body; ``ValueError`` says what is malformed."""
    boundary = header_params(content_type).get("boundary")
    if not boundary:
        raise ValueError("The upload is not multipart/form-data with a boundary.")
    chunks = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, sep, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("The multipart upload is malformed (a part has no header end).")
        headers = {}
        for line in head.decode("utf-8", errors="replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        params = header_params(headers.get("content-disposition", ""))
        if "name" in params:
            parts.append(Part(params["name"], params.get("filename"), headers.get("content-type"), data))
    return parts
