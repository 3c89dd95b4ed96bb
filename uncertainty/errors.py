"""Named errors and warnings of the uncertainty package.

Every error a caller can cause is a subclass of ``UncertaintyError`` (itself a ``ValueError``) so the
HTTP layer can map the whole family to a 4xx answer in one place.
"""

from __future__ import annotations

import logging
import warnings

__all__ = [
    "UncertaintyError",
    "UnknownStrategyError",
    "InvalidLimitError",
    "InvalidProbabilitiesError",
    "InvalidTagsError",
    "InvalidParameterError",
    "NonFiniteWarning",
    "warn_non_finite",
]

_LOG = logging.getLogger("uncertainty")


class UncertaintyError(ValueError):
    """Base class: the caller passed something the uncertainty maths cannot use."""


class UnknownStrategyError(UncertaintyError):
    """A strategy name that is not in the registry; the message lists the valid names."""

    def __init__(self, name: str, valid: list[str]) -> None:
        self.name = name
        self.valid = list(valid)
        super().__init__(f"unknown strategy {name!r}; valid strategies: {', '.join(self.valid)}")


class InvalidLimitError(UncertaintyError):
    """``limit`` must be a positive integer: asking for zero tasks is a caller bug, not an empty answer."""


class InvalidProbabilitiesError(UncertaintyError):
    """A probability array has the wrong shape, or its width disagrees with the tag list."""


class InvalidTagsError(UncertaintyError):
    """The tag list cannot describe a BIO scheme (for example a tag name appears twice)."""


class InvalidParameterError(UncertaintyError):
    """A tuning parameter (reduction, top_k, boundary weight, limit prefilter, candidates, shapes) is out of range."""


class NonFiniteWarning(RuntimeWarning):
    """NaN or infinite numbers reached the uncertainty maths and were replaced (see the message)."""


def warn_non_finite(what: str, count: int, replacement: str) -> None:
    """Log and warn once per call, so a broken model output is visible in server logs and in tests."""
    message = f"{count} non-finite {what} replaced by {replacement}"
    _LOG.warning(message)
    warnings.warn(message, NonFiniteWarning, stacklevel=3)
