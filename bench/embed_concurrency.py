"""Concurrent embedding: N videos through the local stand-in with a simulated API delay, one
after the other and N at once (threads), against one video measured in the same run.

    .venv/bin/python bench/embed_concurrency.py                 # N=4, 0.5 s per request
    .venv/bin/python bench/embed_concurrency.py --videos 8 --delay 1.0

The real Embed API spends most of a video's time on its side (upload, queue, the model) while
the caller waits; the stand-in computes on this machine in a few hundred milliseconds. To see
what concurrency buys against the real API, every request to the stand-in is delayed by
``--delay`` seconds (a video takes four requests: upload, upload status, create task, task
status), so the waiting dominates as it does live.

Videos are synthetic (distinct colour fields, 4.5 s, 360x360) because the stand-in answers a
video it has seen before from memory, which would make repeats free.

Baseline: one video, alone. ``x one`` = wall seconds / one video's seconds: N in sequence costs
about N; N at once costs about one while the API's waiting dominates.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import numpy as np

import common  # noqa: E402

import httpx  # noqa: E402
from twelvelabs import TwelveLabs  # noqa: E402

from helpers.client import NO_KEY  # noqa: E402
from helpers.embed import embed_text, embed_video  # noqa: E402


class DelayedTransport(httpx.BaseTransport):
    """Waits ``delay`` seconds before each request: a network and an API that take their time."""

    def __init__(self, inner: httpx.BaseTransport, delay: float) -> None:
        self.inner, self.delay = inner, delay

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        time.sleep(self.delay)
        return self.inner.handle_request(request)


def make_video(path: Path, seed: int, seconds: float = 4.5, side: int = 360, fps: int = 8) -> Path:
    import av

    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        base = rng.integers(0, 256, size=3)
        for i in range(int(seconds * fps)):
            frame = np.empty((side, side, 3), dtype=np.uint8)
            frame[:] = (base + 8 * i) % 256
            frame[: side // 2, : side // 2] = rng.integers(0, 256, size=3)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def client_with_delay(delay: float) -> TwelveLabs:
    from coursekit.transports.local import LocalTransport

    transport = DelayedTransport(LocalTransport(), delay)
    return TwelveLabs(api_key=NO_KEY, httpx_client=httpx.Client(transport=transport, timeout=120))


def main(argv=None) -> int:
    p = common.parser(__doc__)
    p.add_argument("--videos", type=int, help="N (default 4; 2 with --quick, 8 with --full)")
    p.add_argument("--delay", type=float, default=0.5, help="seconds added to every API request")
    args = p.parse_args(argv)
    n = args.videos or {"quick": 2, "default": 4, "full": 8}[common.size(args)]
    delay = 0.05 if args.quick and args.delay == 0.5 else args.delay
    tmp = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    try:
        videos = [make_video(tmp / f"synthetic{i}.mp4", seed=i) for i in range(2 * n + 2)]
        client = client_with_delay(delay)
        embed_text(client, "warm up the model")  # load the stand-in once, outside every timing
        fast = client_with_delay(0.0)

        def one(path: Path, c=client) -> int:
            return len(embed_video(c, path, video_id=path.stem))

        compute = common.timed(lambda: one(videos[-1], fast))
        single = common.timed(lambda: one(videos[0]))
        sequential = common.timed(lambda: [one(v) for v in videos[1 : n + 1]])
        with ThreadPoolExecutor(max_workers=n) as pool:
            concurrent = common.timed(lambda: list(pool.map(one, videos[n + 1 : 2 * n + 1])))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        {"run": "one video (baseline)", "videos": 1, "seconds": single},
        {"run": f"{n} videos, one after the other", "videos": n, "seconds": sequential},
        {"run": f"{n} videos at once ({n} threads)", "videos": n, "seconds": concurrent},
        {"run": "one video, no simulated delay (compute only)", "videos": 1, "seconds": compute},
    ]
    for r in rows:
        r["vs_one"] = r["seconds"] / single
        r["videos_per_sec"] = r["videos"] / r["seconds"]
    common.print_table(f"Embedding through the stand-in with {delay:g} s per request: x one = seconds / one video's",
                       rows, ["run", "videos", "seconds", "vs_one", "videos_per_sec"])
    result = {"benchmark": "embed_concurrency", "size": common.size(args), "machine": common.machine(),
              "videos": n, "delay_per_request_sec": delay, "requests_per_video": 4,
              "speedup_concurrent_over_sequential": sequential / concurrent, "rows": rows}
    common.write(args.out, "embed_concurrency", result)
    if not args.no_plot:
        plt = common.figure()
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.barh([r["run"] for r in rows], [r["seconds"] for r in rows], color=["black", "tab:grey", "tab:blue", "tab:green"])
        ax.invert_yaxis()
        ax.set_xlabel("wall seconds")
        ax.set_title(f"{n} videos through the stand-in, {delay:g} s added per API request")
        common.save_plot(fig, args.out, "embed_concurrency")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
