"""Project error classes and the shared parameter-validation helpers.

Every message says what was given, what was expected, and where (file, table, key,
row, column) — one message, never a traceback from deep inside pandas.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["DataError", "NurtureLabError", "ScenarioError", "check_param"]


class NurtureLabError(Exception):
    """Base class of the errors raised for bad files and bad data."""


class ScenarioError(NurtureLabError, ValueError):
    """A scenario file that cannot be loaded: missing, invalid TOML, or an invalid value."""


class DataError(NurtureLabError, ValueError):
    """A data table (CSV/Parquet, or a DataFrame) that cannot be analysed as given."""


class FieldError(ValueError):
    """A value that does not fit its field; the loader adds the file and table."""

    def __init__(self, key: str, expected: str, got: Any, *, wrong_type: bool = False) -> None:
        self.key, self.expected, self.got, self.wrong_type = key, expected, got, wrong_type
        super().__init__(f"'{key}' must be {expected}. Got {got!r} instead.")


class FieldTypeError(FieldError, TypeError):
    """A `FieldError` for a value of the wrong type."""


def _bad(key: str, expected: str, got: Any, wrong_type: bool) -> FieldError:
    return FieldTypeError(key, expected, got) if wrong_type else FieldError(key, expected, got)


def check_number(
    key: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
    low_open: bool = False,
) -> float:
    """Return ``value`` as a number after checking its type and range."""
    kind = "an int" if integer else "a number"
    rng = ""
    if low is not None or high is not None:
        left = "(" if low_open else "["
        rng = f" in the range {left}{'-inf' if low is None else _fmt(low)}, {'inf' if high is None else _fmt(high)}]"
    expected = kind + rng
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise _bad(key, expected, value, True)
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(key, expected, value, False)
    if low is not None and (value < low or (low_open and value == low)):
        raise _bad(key, expected, value, False)
    if high is not None and value > high:
        raise _bad(key, expected, value, False)
    return value


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def check_prob(key: str, value: Any) -> float:
    """A probability in [0, 1]."""
    return float(check_number(key, value, low=0.0, high=1.0))


def check_bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(key, "true or false", value, True)
    return value


def check_str(key: str, value: Any, choices: Iterable[str] | None = None) -> str:
    if not isinstance(value, str):
        raise _bad(key, "a string", value, True)
    if choices is not None:
        choices = list(choices)
        if value not in choices:
            raise _bad(key, "one of: " + ", ".join(choices), value, False)
    return value


def check_str_tuple(key: str, value: Any, choices: Iterable[str] | None = None) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise _bad(key, "a list of strings", value, True)
    return tuple(check_str(key, v, choices) for v in value)


def check_mix(key: str, value: Any, choices: Iterable[str] | None = None) -> dict[str, float]:
    """A mapping of category -> share, every share in [0, 1] and the shares summing to 1."""
    if not isinstance(value, Mapping) or not value:
        raise _bad(key, "a non-empty table of name = share", value, True)
    out: dict[str, float] = {}
    allowed = None if choices is None else list(choices)
    for name, share in value.items():
        if allowed is not None and name not in allowed:
            raise _bad(key, "a table with keys among: " + ", ".join(allowed), name, False)
        out[str(name)] = check_prob(f"{key}.{name}", share)
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise _bad(key, "shares that sum to 1", f"{dict(out)} (sum {total:.6g})", False)
    return out


def check_param(func: str, name: str, value: Any, expected: str, ok: bool, *, wrong_type: bool = False) -> None:
    """scikit-learn style argument check for Python entry points.

    Raises:
        TypeError | ValueError: ``The 'n_leads' parameter of simulate must be an int in the range
        [1, inf). Got 0 instead.``
    """
    if not ok:
        msg = f"The '{name}' parameter of {func} must be {expected}. Got {value!r} instead."
        raise TypeError(msg) if wrong_type else ValueError(msg)


def check_int_param(func: str, name: str, value: Any, low: int = 1) -> int:
    is_int = isinstance(value, (int,)) and not isinstance(value, bool)
    try:
        import numpy as np

        is_int = is_int or isinstance(value, np.integer)
    except ImportError:  # pragma: no cover
        pass
    check_param(func, name, value, f"an int in the range [{low}, inf)", is_int, wrong_type=True)
    check_param(func, name, value, f"an int in the range [{low}, inf)", int(value) >= low)
    return int(value)
