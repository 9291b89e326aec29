"""The course's own machinery: what lets every chapter run without a key, offline, in CI.

Chapters never import this package; ``helpers.client`` is the only door into it. It holds the
httpx transports behind ``TL_MODE`` (``transports.replay``, ``transports.record``) and the
offline stand-in for the Embed API (``transports.local`` over the ConSE model in ``standin``).
A learner can ignore all of it: the SDK calls in the chapters are the same in every mode.
"""
