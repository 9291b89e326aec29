"""Errors the course raises on bad input: each says what went wrong and what to do about it."""


class CourseError(Exception):
    """Base for every error this course raises on purpose. The message is written for a learner:
    the first sentence says what happened, the rest says what to do next."""


class ConfigError(CourseError):
    """The environment asks for something that cannot work (a mode without a key, say)."""


class RecordingNotFound(CourseError):
    """Replay mode met a request that was never recorded (or a recording it cannot use)."""


class VideoError(CourseError):
    """A video file is missing, is not a video, or is outside the API's limits."""


class StoreError(CourseError):
    """Milvus cannot be reached, or a collection does not fit what we want to store."""


class EmbeddingError(CourseError):
    """The Embed API (or the local stand-in) could not produce embeddings."""


class Cancelled(CourseError):
    """The run was interrupted (Ctrl-C): waits stop and nothing new is sent."""
