"""What a search does about failed trials: retry them (per failure kind), and give up when too
many fail.

A failed trial is a result like any other: journalled with its ``failure`` kind and ``error``,
shown by ``report``. ``RetryPolicy`` says how many times a trial that failed in each way is
evaluated again (as a new trial, ``retry_of`` the failed one); ``FailureRateLimit`` stops a
search whose evaluations mostly fail, as Ax's ``tolerated_trial_failure_rate`` does.

Example:
    >>> policy = RetryPolicy.parse("worker_lost=2,timeout=1")
    >>> policy.allows("worker_lost", attempts=2), policy.allows("worker_lost", attempts=3), policy.allows("error", 1)
    (True, False, False)
    >>> FailureRateLimit().exceeded(failed=5, finished=8)
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infonas.exceptions import InvalidArgumentError, StudyError
from infonas.trials import FAILURE_KINDS

__all__ = ["FailureRateExceededError", "FailureRateLimit", "RetryPolicy"]


class FailureRateExceededError(StudyError):
    """A search stopped because more of its trials failed than its ``FailureRateLimit`` tolerates."""


def _default_retries() -> dict[str, int]:
    # A lost worker says nothing about the architecture (a node went away): evaluate it again.
    # An exception, a NaN or a time-out is most often the architecture's own, so by default it stands.
    return {"error": 0, "nan": 0, "timeout": 0, "worker_lost": 2}


@dataclass(frozen=True)
class RetryPolicy:
    """``retries[kind]``: how many more evaluations a trial that failed with ``kind`` gets."""

    retries: dict[str, int] = field(default_factory=_default_retries)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.retries) - set(FAILURE_KINDS))
        bad = {k: v for k, v in self.retries.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0}
        if unknown or bad:
            raise InvalidArgumentError(f"retries map failure kinds {list(FAILURE_KINDS)} to counts >= 0; got "
                                       f"{dict(self.retries)} (unknown kinds {unknown}, bad counts {bad})")
        object.__setattr__(self, "retries", {**_default_retries(), **self.retries})

    @classmethod
    def parse(cls, text: str) -> RetryPolicy:
        """``"worker_lost=2,timeout=1"``; kinds not named keep their default."""
        retries: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            kind, _, count = part.partition("=")
            try:
                retries[kind.strip()] = int(count)
            except ValueError:
                raise InvalidArgumentError(f"retries are KIND=COUNT comma-separated (kinds {list(FAILURE_KINDS)}), "
                                           f"got {part!r} in {text!r}") from None
        return cls(retries)

    def allows(self, kind: str | None, attempts: int) -> bool:
        """Whether a trial that has been evaluated ``attempts`` times, the last failing with
        ``kind``, is evaluated once more."""
        return kind is not None and attempts <= self.retries.get(kind, 0)


@dataclass(frozen=True)
class FailureRateLimit:
    """Stop when at least ``min_failed`` trials failed and they are more than ``max_rate`` of
    the finished ones (Ax's defaults: 0.5 and 5)."""

    max_rate: float = 0.5
    min_failed: int = 5

    def __post_init__(self) -> None:
        if not 0 <= self.max_rate <= 1 or self.min_failed < 1:
            raise InvalidArgumentError(f"a failure-rate limit needs 0 <= max_rate <= 1 and min_failed >= 1, got "
                                       f"max_rate={self.max_rate}, min_failed={self.min_failed}")

    def exceeded(self, failed: int, finished: int) -> bool:
        return failed >= self.min_failed and finished > 0 and failed / finished > self.max_rate
