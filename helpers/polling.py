"""The poll loop chapter 01 writes and 05 reuses: ask until an item is ready, standalone (it reads
no course settings), so a learner can copy it into a program of their own.

``helpers.retry.poll`` is the course's own loop, with the retries, progress bar and Ctrl-C a
batch needs."""

from __future__ import annotations

import time


def wait_until_ready(fetch, *, every=5.0, timeout=900.0):
    """Call ``fetch()`` until what it returns is ``ready``, and return that. ``failed`` raises
    with the API's reason; any other status (``processing``, ``queued``, ...) is asked again
    every ``every`` seconds until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        current = fetch()
        if current.status == "ready":
            return current
        if current.status == "failed":
            reason = getattr(getattr(current, "error", None), "message", None) or "no reason given"
            raise RuntimeError(f"{getattr(current, 'id', 'the item')} failed: {reason}")
        if time.monotonic() + every > deadline:
            raise TimeoutError(f"still {current.status!r} after {timeout:.0f} s: ask again later")
        time.sleep(every)
