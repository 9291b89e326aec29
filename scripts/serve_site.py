#!/usr/bin/env python
"""Serve the built website (`make site`) on this machine, answering Range requests.

    python scripts/serve_site.py                 # http://127.0.0.1:8000/
    python scripts/serve_site.py --port 8080 --directory site/_build/html

A browser fetches a video in byte ranges and can only seek in one when the server answers them
(206 Partial Content); Python's own `python -m http.server` always sends the whole file, so the
site's players would open at 0 s instead of at the hit's second. This is that server plus ranges.
Standard library only: it needs nothing installed.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE_HTML = ROOT / "site" / "_build" / "html"
# One range, `bytes=first-last`, `bytes=first-` or `bytes=-suffix`: what browsers send for media.
# Anything else (several ranges, other units) gets the whole file, which HTTP allows.
ONE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
CHUNK = 64 * 1024


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """http.server's static files, plus 206 answers to a single byte range."""

    _remaining: int | None = None

    def end_headers(self):
        self.send_header("Accept-Ranges", "bytes")
        super().end_headers()

    def send_head(self):
        self._remaining = None
        match = ONE_RANGE.fullmatch(self.headers.get("Range", "").strip())
        path = self.translate_path(self.path)
        if not match or not os.path.isfile(path) or match.groups() == ("", ""):
            return super().send_head()
        size = os.path.getsize(path)
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        else:  # the last N bytes
            start, end = max(size - int(last), 0), size - 1
        if start >= size or start > end:
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        file = open(path, "rb")
        file.seek(start)
        self._remaining = end - start + 1
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(self._remaining))
        self.send_header("Last-Modified", self.date_time_string(int(os.path.getmtime(path))))
        self.end_headers()
        return file

    def copyfile(self, source, outputfile):
        if self._remaining is None:
            return super().copyfile(source, outputfile)
        while self._remaining > 0 and (chunk := source.read(min(CHUNK, self._remaining))):
            outputfile.write(chunk)
            self._remaining -= len(chunk)


class QuietRangeRequestHandler(RangeRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 (http.server's own signature)
        pass


def make_server(directory: Path, port: int = 8000, bind: str = "127.0.0.1", *,
                quiet: bool = False) -> ThreadingHTTPServer:
    """A server for ``directory`` (not yet serving: call ``serve_forever``); port 0 picks a free one.
    ``quiet`` logs no request (tests)."""
    handler = functools.partial(QuietRangeRequestHandler if quiet else RangeRequestHandler,
                                directory=str(directory))
    return ThreadingHTTPServer((bind, port), handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (0.0.0.0: the whole network)")
    parser.add_argument("--directory", type=Path, default=SITE_HTML, help="the built site (default: %(default)s)")
    args = parser.parse_args(argv)
    if not (args.directory / "index.html").is_file():
        print(f"No site in {args.directory}: build it first with `make site`.", file=sys.stderr)
        return 2
    try:
        server = make_server(args.directory, args.port, args.bind)
    except OSError as err:
        print(f"Cannot listen on {args.bind}:{args.port} ({err.strerror}): pick another with --port.",
              file=sys.stderr)
        return 2
    host, port = server.server_address[:2]
    print(f"Serving {args.directory} at http://{host}:{port}/ (Range requests answered, so the players "
          "can seek). Ctrl-C stops it.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
