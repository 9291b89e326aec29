"""The one Twelve Labs seam: the official SDK client for the current mode. Every mode makes the
same SDK calls; only the httpx transport underneath changes: the network (live), the network plus
a recorder (record), the recordings (replay), or the offline stand-in (local).

The client is a ``TwelveLabs`` with one more attribute, ``course`` (read by ``helpers.embed``):
where its vectors come from (the cache never mixes the API's with the stand-in's), its cache,
retries, polling, and an event that cancels its waits (Ctrl-C during ``ingest``)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from twelvelabs import TwelveLabs

from . import logs
from .cache import EmbeddingCache
from .retry import DEFAULT_POLICY, RetryPolicy
from .settings import Settings, load_settings, resolve_api_key
from coursekit.labels import STANDIN_SOURCE, is_standin
from coursekit.transports.record import LIVE_SOURCE, RecordingTransport
from coursekit.transports.replay import ReplayTransport, recorded_sources

log = logging.getLogger(__name__)

# Replay and the stand-in need no key, but the SDK refuses to build without one; this
# placeholder is obviously not a secret and is never sent anywhere real.
NO_KEY = "no-key-needed-offline"
# Uploads of a few MB on workshop Wi-Fi need a generous write timeout; connecting should not.
TIMEOUT = httpx.Timeout(120.0, connect=10.0)
# Seconds between polls of the real API; replay and the stand-in answer at once, so 0 there.
LIVE_POLL_SECONDS = 5.0


@dataclass
class Course:
    """What the course adds to an SDK client."""

    mode: str
    #: where the vectors come from; part of every cache key
    source: str
    #: ``None`` when nothing is cached
    cache: EmbeddingCache | None = None
    policy: RetryPolicy = DEFAULT_POLICY
    #: seconds between two polls of a task or an upload
    poll_every: float = LIVE_POLL_SECONDS
    #: set to stop this client's waits at once (``ingest`` sets it on Ctrl-C)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    #: in replay, the recordings answered from: their ``source`` fields say who computed the vectors
    recordings: Path | None = None


class CourseClient(TwelveLabs):
    """The official SDK client, carrying the course's settings as ``client.course``."""

    def __init__(self, *, course: Course, **sdk_options):
        super().__init__(**sdk_options)
        self.course = course


def course_of(client: TwelveLabs) -> Course:
    """The client's ``Course``. A plain ``TwelveLabs`` client is taken for the real API: no
    cache, the default retries, polls every 5 s."""
    return getattr(client, "course", None) or Course(mode="live", source=LIVE_SOURCE)


def _local_transport() -> httpx.BaseTransport:
    # Imported here, yet it needs only the base install: the stand-in's model loads on the first
    # request that needs it, and that is where a missing [local] extra is reported (ConfigError).
    from coursekit.transports.local import LocalTransport

    return LocalTransport()


def make_transport(settings: Settings, api_key: str | None = None) -> httpx.BaseTransport:
    if settings.mode == "replay":
        return ReplayTransport(settings.recordings_dir)
    if settings.mode == "local":
        return _local_transport()
    if settings.mode == "live":
        return httpx.HTTPTransport()
    inner = httpx.HTTPTransport() if settings.record_from == "live" else _local_transport()
    return RecordingTransport(inner, settings.recordings_dir, secrets=(api_key or "",))


def vector_source(settings: Settings, base_url: str = "") -> str:
    """Where this mode's vectors come from, in words (and in every cache key)."""
    if settings.mode == "replay":
        return f"replay of {settings.recordings_dir.name}"
    upstream = settings.record_from if settings.mode == "record" else settings.mode
    if upstream == "local":
        return STANDIN_SOURCE
    return f"{LIVE_SOURCE} at {base_url}" if base_url else LIVE_SOURCE


def _cache_for(settings: Settings, cache: bool | str | Path) -> EmbeddingCache | None:
    if cache is False or (cache is True and settings.mode == "replay"):
        # By default replay caches nothing: the recordings are free and offline already, and a
        # cache could only make a notebook's output depend on what ran before. A folder given
        # explicitly is honoured (chapter 01 shows a second run served from it).
        return None
    directory = settings.cache_dir / "embeddings" if cache is True else Path(cache)
    # Record mode must see every request (that is what it records), so it never reads.
    return EmbeddingCache(directory, read=settings.mode != "record")


def make_client(settings: Settings | None = None, *, transport: httpx.BaseTransport | None = None,
                policy: RetryPolicy | None = None, cache: bool | str | Path = True,
                source: str | None = None) -> CourseClient:
    """The SDK client for the mode in ``settings`` (read from the environment by default).
    ``transport`` replaces the mode's (a fake, or a fault-injecting wrapper); ``policy`` sets the
    retries; ``cache`` turns the embedding cache off (``False``) or moves it (a folder); ``source``
    relabels where the vectors come from (only for a transport that is not the mode's own)."""
    settings = settings or load_settings()
    api_key = resolve_api_key(settings) if settings.needs_api_key else None
    logs.add_secret(api_key)  # before anything can log: a key typed at the prompt included
    logs.ensure_logging(settings.logs_dir)
    # The SDK's own retries stay off (its default): when on, they resend a multipart upload
    # with an empty body. helpers.retry retries around each call instead.
    client = CourseClient(
        course=Course(mode=settings.mode, source="", cache=_cache_for(settings, cache),
                      policy=policy or DEFAULT_POLICY,
                      poll_every=LIVE_POLL_SECONDS if settings.waits_for_server else 0.0),
        api_key=api_key or NO_KEY,
        httpx_client=httpx.Client(transport=transport or make_transport(settings, api_key), timeout=TIMEOUT),
    )
    course = client.course
    course.source = source or vector_source(settings, client._client_wrapper.get_base_url())
    if settings.mode == "replay" and transport is None:
        course.recordings = settings.recordings_dir
    log.info("Twelve Labs client in %s mode (%s); vectors from %s; cache %s", settings.mode,
             settings.reason, course.source, course.cache.directory if course.cache else "off")
    return client


# What each kind of vector means for reading a chapter's results. Printed by every chapter's
# first cells (``vectors_note``), so no sentence of prose has to assume whose answers are below.
_STANDIN_MEANS = ("The stand-in is a small offline model, far weaker than Marengo. It judges single "
                  "frames: it sees objects, scenes, people and faces, but not motion, sound, speech, "
                  "text or hands. Read its scores for their order, not their level.")
_LIVE_MEANS = ("The outputs saved under each cell came from the course's recordings; yours are "
               "Marengo's, so numbers, rankings and winners may differ. The lines that give a "
               "verdict are computed from your answers: read those.")
_OTHER_MEANS = ("These vectors come from a model the course does not know. Read the lines that give "
                "a verdict: they are computed from these answers.")


def vectors_note(client: TwelveLabs, *, standin: str = "") -> str:
    """Where this client's vectors come from and what that means for reading results, in words.
    ``standin`` adds what the stand-in's blind spots mean for this chapter in particular."""
    course = course_of(client)
    # Read only here, when asked: every chapter asks once, and nothing else needs it.
    found = recorded_sources(course.recordings) if course.recordings else [course.source]
    # The stand-in labels its image answers more precisely; here they are all one origin.
    origins = tuple(dict.fromkeys(STANDIN_SOURCE if is_standin(o) else o for o in found))
    where = {"replay": "replayed from recordings made by", "local": "computed on this machine by",
             "record": "recorded as they arrive, from"}.get(course.mode, "computed by")
    lines = [f"Vectors: {where} {' + '.join(origins)}."]
    if all(is_standin(origin) for origin in origins):
        lines += [_STANDIN_MEANS] + ([standin] if standin else [])
    elif all(origin.startswith(LIVE_SOURCE) for origin in origins):
        lines.append("These are Twelve Labs' Marengo answers. " + (_LIVE_MEANS if course.mode != "replay" else ""))
    else:
        lines.append(_OTHER_MEANS)
    return "\n".join(line.strip() for line in lines)
