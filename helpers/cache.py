"""Embeddings kept on disk by content, so that asking again for the same thing costs nothing.

A key names everything the vectors depend on: what was embedded (the sha256 of the video's
bytes, or the text itself), how (model, clip length, options, scopes) and **where the vectors
came from** (the real API or the local stand-in: their vectors are not comparable, so one
source's entries are never served to the other). The video's id and title are not in the key:
they are labels, put on after the vectors come back, so a renamed file is still a hit.

An entry is a small JSON file, written to a temporary name and renamed into place (a reader
never sees half a file; ``coursekit.atomic``), carrying its own key and the sha256 of its
payload. On reading, an entry that does not parse, is cut short, names another key or fails its
checksum is logged and ignored -- never trusted -- and the caller embeds again and overwrites it.

The same folder holds a small journal of embedding tasks that were created but not yet
finished, so a run that was interrupted while polling resumes the same task instead of paying
for a new one.

Writing is best-effort: a full or read-only folder logs one warning and the work goes on (the
embeddings are still returned and stored; only the next run's saving is lost).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from coursekit.atomic import atomic_write_text

log = logging.getLogger(__name__)

FORMAT = 1
_CHUNK = 1 << 20

_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, remembered per (path, size, mtime) in this process: a
    notebook asks for the same videos several times, and a long video takes a while to hash."""
    path = Path(path).resolve()
    stat = path.stat()
    memo = (str(path), stat.st_size, stat.st_mtime_ns)
    with _HASH_LOCK:
        known = _HASHES.get(memo)
    if known:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    value = digest.hexdigest()
    with _HASH_LOCK:
        _HASHES[memo] = value
    return value


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def video_key(content_sha256: str, *, model: str, clip_length: float, options: Sequence[str],
              scopes: Sequence[str], source: str) -> tuple[str, dict]:
    """The key (and the fields it was made from) of a video's embeddings."""
    fields = {
        "kind": "video",
        "content_sha256": content_sha256,
        "model": model,
        # 6 and 6.0 ask for the same thing and must share an entry.
        "clip_length": float(clip_length),
        "options": list(options),
        "scopes": list(scopes),
        "source": source,
    }
    return _digest(fields), fields


def text_key(text: str, *, model: str, source: str) -> tuple[str, dict]:
    fields = {"kind": "text", "text": text, "model": model, "source": source}
    return _digest(fields), fields


def _valid_vector(vector: object) -> bool:
    return (isinstance(vector, list) and len(vector) > 0
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                    for x in vector))


def _valid_items(items: object) -> bool:
    if not isinstance(items, list) or not items:
        return False
    dims = set()
    for item in items:
        if not isinstance(item, dict) or not _valid_vector(item.get("vector")):
            return False
        if not all(isinstance(item.get(k), (int, float)) for k in ("start_sec", "end_sec")):
            return False
        if not all(isinstance(item.get(k), str) for k in ("scope", "option")):
            return False
        dims.add(len(item["vector"]))
    return len(dims) == 1


class EmbeddingCache:
    """A folder of embeddings by key. ``read=False`` keeps writing but never serves an entry
    (record mode: every request must reach the recorder)."""

    def __init__(self, directory: str | Path, *, read: bool = True, write: bool = True):
        self.directory = Path(directory)
        self.read = read
        self.write = write
        #: what happened in this process (tests and reports count them)
        self.hits = self.misses = self.rejected = self.failed_writes = 0

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.directory)!r}, read={self.read}, write={self.write})"

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def _task_path(self, key: str) -> Path:
        return self.directory / "tasks" / f"{key}.json"

    # -- entries

    def _load(self, key: str) -> dict | None:
        """The entry's payload if it is whole and checks out, else ``None`` (and a warning)."""
        if not self.read:
            return None
        path = self._path(key)
        try:
            raw = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):  # the latter: a file where a folder should be
            self.misses += 1
            return None
        except OSError as err:
            self._reject(path, f"cannot be read ({err})")
            return None
        try:
            entry = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self._reject(path, "is not valid JSON (cut short or damaged)")
            return None
        if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("key") != key:
            self._reject(path, "does not belong to this key or format")
            return None
        payload = entry.get("payload")
        if entry.get("sha256") != _digest(payload):
            self._reject(path, "fails its checksum")
            return None
        self.hits += 1
        return payload

    def _reject(self, path: Path, why: str) -> None:
        self.rejected += 1
        log.warning("Ignored cache entry %s: it %s; embedding again and replacing it", path.name, why)

    def _store(self, key: str, fields: dict, payload: object) -> None:
        if not self.write:
            return
        entry = {"format": FORMAT, "key": key, "fields": fields, "payload": payload,
                 "sha256": _digest(payload)}
        self._write(self._path(key), json.dumps(entry, separators=(",", ":")))

    def _write(self, path: Path, text: str) -> None:
        """Write, or log why not: a cache that cannot be written costs the next run, never this one."""
        try:
            atomic_write_text(path, text)
        except OSError as err:
            self.failed_writes += 1
            if self.failed_writes == 1:  # once: a batch of videos must not flood the log
                log.warning("The cache folder %s cannot be written (%s): going on without saving "
                            "there, so the next run asks the API again", self.directory, err)

    def get_video(self, key: str) -> list[dict] | None:
        """A video's segment items (``start_sec``, ``end_sec``, ``scope``, ``option``,
        ``vector``), or ``None`` if absent or not to be trusted."""
        payload = self._load(key)
        if payload is None:
            return None
        items = payload.get("items") if isinstance(payload, dict) else None
        if not _valid_items(items):
            self._reject(self._path(key), "holds no usable segments")
            self.hits -= 1
            return None
        return items

    def put_video(self, key: str, fields: dict, items: Iterable[dict]) -> None:
        self._store(key, fields, {"items": list(items)})

    def get_text(self, key: str) -> list[float] | None:
        payload = self._load(key)
        if payload is None:
            return None
        vector = payload.get("vector") if isinstance(payload, dict) else None
        if not _valid_vector(vector):
            self._reject(self._path(key), "holds no usable vector")
            self.hits -= 1
            return None
        return vector

    def put_text(self, key: str, fields: dict, vector: Sequence[float]) -> None:
        self._store(key, fields, {"vector": [float(x) for x in vector]})

    # -- the journal of unfinished tasks

    def pending_task(self, key: str) -> str | None:
        """The id of a task created for ``key`` by an earlier run that did not see it finish."""
        if not self.read:
            return None
        try:
            entry = json.loads(self._task_path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        task_id = entry.get("task_id") if isinstance(entry, dict) else None
        return task_id if isinstance(task_id, str) and task_id else None

    def remember_task(self, key: str, task_id: str) -> None:
        if self.write:
            self._write(self._task_path(key), json.dumps({"task_id": task_id}))

    def forget_task(self, key: str) -> None:
        try:
            self._task_path(key).unlink(missing_ok=True)
        except NotADirectoryError:  # no journal folder (a file in its place), so no entry
            pass
        except OSError as err:  # a stale entry only costs a 404 on the next run
            log.warning("Could not remove the finished task's journal entry (%s)", err)
