"""Milvus Lite's process lifecycle, behind ``helpers.store.connect``/``close``: one process per
store folder, a store deleted under a running kernel noticed (it would answer from memory and
lose every write), and pymilvus' traceback-logging quietened while ``helpers.store`` turns
failures into one ``StoreError``. A learner never needs to read this to use Milvus."""

from __future__ import annotations

import logging
import shutil
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pymilvus import MilvusClient
from pymilvus.exceptions import MilvusException

from helpers.errors import StoreError

logger = logging.getLogger("helpers.store")

#: Lite client -> (store folder, its inode when opened): how a deleted store is noticed.
_OPEN: weakref.WeakKeyDictionary[MilvusClient, tuple[Path, int]] = weakref.WeakKeyDictionary()
#: They log tracebacks for calls we turn into one StoreError (or that work despite the log line).
NOISY_LOGGERS = ("pymilvus.decorators", "pymilvus.client.grpc_handler", "grpc._server",
                 "pymilvus.client.iterator.query_iterator", "milvus_lite.server_manager")


@contextmanager
def quiet() -> Iterator[list[logging.LogRecord]]:
    """Send the noisy loggers' records to our debug log while a call runs; keep them to inspect."""
    records: list[logging.LogRecord] = []

    def hold(record: logging.LogRecord) -> bool:
        records.append(record)
        return logger.debug("[%s] %s", record.name, record.getMessage()) or False
    for name in NOISY_LOGGERS:
        logging.getLogger(name).addFilter(hold)
    try:
        yield records
    finally:
        for name in NOISY_LOGGERS:
            logging.getLogger(name).removeFilter(hold)


WRITABLE = ("Set COURSE_STORES_DIR (in .env or the environment) to a folder you can write, or "
            "MILVUS_URI to a Milvus server.")


def _inode(path: Path) -> int:
    return path.stat().st_ino if path.exists() else -1


def _release(path: Path) -> None:
    from milvus_lite.server_manager import server_manager_instance
    server_manager_instance.release_server(str(path))


def open_store(path: Path, reason, typed: str | None = None) -> MilvusClient:
    """A client on the Lite store folder ``path`` (``typed``: as the user wrote it, for a message);
    ``reason(exc)`` words a failure."""
    if path.suffix != ".db":
        raise StoreError(f"{typed or str(path)!r} is neither a server (http://host:port) nor a Lite store (ends in '.db').")
    if path.is_file():
        raise StoreError(f"{path} is a file: a Milvus Lite 2.x store, which Lite 3 (folders) cannot open. Delete it.")
    opened = [inode for p, inode in _OPEN.values() if p == path]
    if opened and _inode(path) not in opened:  # deleted under us: stop serving it from memory
        existed = path.exists()
        _release(path)
        if not existed and path.exists():
            shutil.rmtree(path)  # what the ghost wrote while closing is not the store you asked for
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot make the folder for the Milvus Lite store {path} ({exc.strerror or exc}). "
                         f"{WRITABLE}") from exc
    with quiet() as captured:
        try:
            client = MilvusClient(uri=str(path))
        except OSError as exc:
            raise StoreError(f"Milvus Lite could not open {path} ({exc.strerror or exc}). {WRITABLE}") from exc
        except MilvusException as exc:
            cause = next((r.exc_info[1] for r in captured if r.exc_info), None) or exc
            if type(cause).__name__ == "DataDirLockedError":
                raise StoreError(
                    f"The Milvus Lite store {path} is open in another process, and Lite allows one "
                    "process per store. Shut down the other notebook's kernel (or call store.close() "
                    f"there), use another path, or serve it: `milvus-lite server --data-dir {path} "
                    "--port 19530` and set MILVUS_URI=http://127.0.0.1:19530.") from cause
            raise StoreError(f"Milvus Lite could not open {path}: {reason(cause)}. Check that the "
                             f"folder is writable, or delete it to start an empty store. {WRITABLE}") from cause
    _OPEN[client] = (path, _inode(path))
    return client


def forget(client: MilvusClient) -> None:
    """After ``client.close()``: stop this process's Lite server once no client uses its store."""
    path = _OPEN.pop(client, (None, 0))[0]
    if path is not None and all(p != path for p, _ in _OPEN.values()):
        _release(path)


def check_present(client: MilvusClient) -> None:
    """Refuse a client whose Lite store folder was deleted (or replaced) since it was opened."""
    path, inode = _OPEN.get(client, (None, 0))
    if path is not None and _inode(path) != inode:
        raise StoreError(
            f"The Milvus Lite store {path} was deleted while this kernel had it open (by `make "
            "clean-stores`, say). This client only answers from memory and nothing written to it "
            "would be saved. Re-run the cell that connects (store.connect(...)) and the cells after it.")
