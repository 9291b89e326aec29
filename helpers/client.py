"""The one Twelve Labs seam: builds the official SDK client for the current mode.

Every mode uses the same SDK calls; only the httpx transport underneath changes: the network
(live), the network plus a recorder (record), the recordings (replay), or the offline stand-in
(local). Notebooks never know which one they got.
"""

from __future__ import annotations

import logging

import httpx
from twelvelabs import TwelveLabs

from .settings import Settings, load_settings, resolve_api_key
from .transports.record import RecordingTransport
from .transports.replay import ReplayTransport

log = logging.getLogger(__name__)

# Replay and the stand-in need no key, but the SDK refuses to build without one; this
# placeholder is obviously not a secret and is never sent anywhere real.
NO_KEY = "no-key-needed-offline"
# Uploads of a few MB on workshop Wi-Fi need a generous write timeout; connecting should not.
TIMEOUT = httpx.Timeout(120.0, connect=10.0)


def _local_transport() -> httpx.BaseTransport:
    try:
        from .transports.local import LocalTransport
    except ImportError as err:  # torch and friends are an optional extra
        from .errors import ConfigError

        raise ConfigError(
            "TL_MODE=local needs the offline stand-in's packages, which are not installed "
            f"({err}). Install them with `make install-local` (or `pip install -e .[local]`, "
            "after `pip install torch==2.13.0`), or unset TL_MODE to use replay."
        ) from err
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


def make_client(settings: Settings | None = None) -> TwelveLabs:
    """The SDK client for the mode in ``settings`` (read from the environment by default)."""
    settings = settings or load_settings()
    api_key = resolve_api_key(settings) if settings.needs_api_key else None
    transport = make_transport(settings, api_key)
    log.info("Twelve Labs client in %s mode (%s)", settings.mode, settings.reason)
    # The SDK's own retries stay off (its default): when on, they resend a multipart upload
    # with an empty body.
    return TwelveLabs(
        api_key=api_key or NO_KEY,
        httpx_client=httpx.Client(transport=transport, timeout=TIMEOUT),
    )
