"""Exceptions raised for user errors.

Every error the user can fix derives from :class:`CulturalKDError`, so the CLI can print it as
one line and exit non-zero, and library callers can catch the whole family at once.
"""


class CulturalKDError(Exception):
    """Base class of errors that a user can fix; the message says what was wrong and what to do."""


class ConfigError(CulturalKDError, ValueError):
    """An invalid configuration field, YAML file or override."""


class DatasetError(CulturalKDError, ValueError):
    """An invalid dataset file or record."""


class ModelLoadError(CulturalKDError):
    """A model or tokenizer that cannot be loaded, or a teacher and student that do not fit together."""


class InvalidActionError(CulturalKDError, ValueError):
    """An action that the environment cannot apply (bad token ids, bad block length)."""


class EpisodeStateError(CulturalKDError, RuntimeError):
    """A call made in the wrong episode state, such as `step` after the episode ended."""
