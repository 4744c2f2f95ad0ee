"""Project error classes and the one validation helper.

Every message says what was given, what was expected, and where: for an argument, the function
and the parameter (scikit-learn's template)::

    The 'n_leads' parameter of simulate must be an int in the range [1, inf). Got 0 instead.

for a scenario field, the key (the loader adds the file and the table). Both come from one
helper, :func:`check_value`, so a rule is written once and reads the same everywhere.

The command line maps every :class:`NurtureLabError` to exit 2 with its message; any other
exception is a bug and is shown as one.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "DataError",
    "FieldError",
    "FieldTypeError",
    "NoVarianceError",
    "NurtureLabError",
    "ParameterError",
    "ParameterTypeError",
    "ScenarioError",
    "check_param",
    "check_value",
    "require",
]


class NurtureLabError(Exception):
    """Base class of the errors raised for bad arguments, bad files and bad data."""


class ScenarioError(NurtureLabError, ValueError):
    """A scenario file that cannot be loaded: missing, invalid TOML, or an invalid value."""


class DataError(NurtureLabError, ValueError):
    """A data table (CSV/Parquet, or a DataFrame) that cannot be analysed as given."""


class NoVarianceError(DataError):
    """A metric with the same value for every unit of two arms: there is nothing to test.

    Carries the facts (``metric``, ``arms``, ``value``) so a caller can say it in its own words.
    """

    def __init__(self, metric: str, arms: tuple[str, str], value: float) -> None:
        self.metric, self.arms, self.value = metric, arms, value
        super().__init__(
            f"Metric '{metric}' has no variance in arms {arms[0]!r} and {arms[1]!r} (every value is {value:g}); "
            "there is nothing to test."
        )


class ParameterError(NurtureLabError, ValueError):
    """A bad argument to a public function or a command-line option."""


class ParameterTypeError(ParameterError, TypeError):
    """A :class:`ParameterError` for an argument of the wrong type (also a ``TypeError``)."""


class FieldError(ValueError):
    """A value that does not fit its scenario field; the loader adds the file and table."""

    def __init__(self, key: str, expected: str, got: Any) -> None:
        self.key, self.expected, self.got = key, expected, got
        super().__init__(f"'{key}' must be {expected}. Got {got!r} instead.")

    @property
    def wrong_type(self) -> bool:
        return isinstance(self, TypeError)


class FieldTypeError(FieldError, TypeError):
    """A :class:`FieldError` for a value of the wrong type."""


# --------------------------------------------------------------------------------------
# The one helper


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else str(x)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool, field: bool) -> str:
    if low is None and high is None:
        return ""
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or (high is None and not field) else "]"
    return f" in the range {left}{'-inf' if low is None else _fmt(low)}, {'inf' if high is None else _fmt(high)}{right}"


def check_value(
    value: Any,
    *,
    kind: str = "number",
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    choices: Iterable[Any] | None = None,
    types: type | tuple[type, ...] = object,
    expected: str | None = None,
    field: bool = False,
) -> tuple[str, bool] | None:
    """Check one value; ``None`` when it is fine, else ``(what was expected, wrong type?)``.

    Args:
        kind: ``"int"``, ``"number"`` (int or float, finite), ``"str"``, ``"bool"``, or
            ``"choice"`` (one of ``choices``), ``"instance"`` (an instance of ``types``).
        low, high, low_open, high_open: the allowed range for numbers (closed unless open).
        choices: allowed values for ``"str"`` and ``"choice"``.
        expected: the text that replaces the generated description.
        field: word it for a scenario field ("a number in the range [0, inf]") rather than for
            an argument ("a float in the range [0, inf)", scikit-learn's wording).
    """
    allowed = None if choices is None else list(choices)
    if kind in ("int", "number"):
        noun = "an int" if kind == "int" else ("a number" if field else "a float")
        text = expected or noun + _range_text(low, high, low_open, high_open, field)
        if not (_is_int(value) if kind == "int" else _is_number(value)):
            return text, True
        v = float(value)
        if not math.isfinite(v):
            return text, False
        if low is not None and (v < low or (low_open and v == low)):
            return text, False
        if high is not None and (v > high or (high_open and v == high)):
            return text, False
        return None
    if kind == "bool":
        return None if isinstance(value, bool) else (expected or "true or false", True)
    if kind in ("str", "choice"):
        text = expected or ("one of: " + ", ".join(map(str, allowed)) if allowed is not None else "a string")
        if kind == "str" and not isinstance(value, str):
            return (expected or "a string"), True
        if allowed is not None and value not in allowed:
            return text, False
        return None
    if kind == "instance":
        names = types if isinstance(types, tuple) else (types,)
        text = expected or "a " + " or a ".join(t.__name__ for t in names)
        return None if isinstance(value, types) else (text, True)
    raise ValueError(f"unknown kind {kind!r}")  # a bug in the caller, not bad input


def require(func: str, name: str, value: Any, expected: str, ok: bool, *, wrong_type: bool = False) -> None:
    """Raise the one message when ``ok`` is false (for rules :func:`check_value` does not know)."""
    if not ok:
        msg = f"The '{name}' parameter of {func} must be {expected}. Got {value!r} instead."
        raise ParameterTypeError(msg) if wrong_type else ParameterError(msg)


def check_param(func: str, name: str, value: Any, **spec: Any) -> Any:
    """Check an argument of the public function ``func``; return it (ints as ``int``, numbers as ``float``).

    Raises:
        ParameterTypeError: the wrong type (``The 'n_leads' parameter of simulate must be an int in the
            range [1, inf). Got '5' instead.``).
        ParameterError: a value out of range or not among the choices.

    Example:
        >>> check_param("simulate", "n_leads", 0, kind="int", low=1)
        Traceback (most recent call last):
        ...
        nurture_lab.errors.ParameterError: The 'n_leads' parameter of simulate must be an int in the range [1, inf). Got 0 instead.
    """
    bad = check_value(value, **spec)
    if bad is not None:
        shown = type(value).__name__ if spec.get("kind") == "instance" else value
        require(func, name, shown, bad[0], False, wrong_type=bad[1])
    kind = spec.get("kind", "number")
    if kind == "int":
        return int(value)
    if kind == "number":
        return float(value) if not _is_int(value) else value
    return value


def check_field(key: str, value: Any, **spec: Any) -> Any:
    """Check a scenario field (same rules as :func:`check_param`); raise :class:`FieldError` with its key."""
    bad = check_value(value, field=True, **spec)
    if bad is not None:
        raise field_error(key, bad[0], value, bad[1])
    return value


def field_error(key: str, expected: str, got: Any, wrong_type: bool = False) -> FieldError:
    """The error for a scenario field (a ``TypeError`` too when the type is wrong)."""
    return FieldTypeError(key, expected, got) if wrong_type else FieldError(key, expected, got)


# --------------------------------------------------------------------------------------
# Scenario-field shorthands (all through check_field)


def check_number(
    key: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
    low_open: bool = False,
) -> float:
    """Return ``value`` as given after checking its type and range (a scenario field)."""
    check_field(key, value, kind="int" if integer else "number", low=low, high=high, low_open=low_open)
    return value  # type: ignore[no-any-return]


def check_prob(key: str, value: Any) -> float:
    """A probability in [0, 1]."""
    return float(check_number(key, value, low=0.0, high=1.0))


def check_bool(key: str, value: Any) -> bool:
    return bool(check_field(key, value, kind="bool"))


def check_str(key: str, value: Any, choices: Iterable[str] | None = None) -> str:
    return str(check_field(key, value, kind="str", choices=choices))


def check_str_tuple(key: str, value: Any, choices: Iterable[str] | None = None) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise field_error(key, "a list of strings", value, True)
    return tuple(check_str(key, v, choices) for v in value)


def check_mix(key: str, value: Any, choices: Iterable[str] | None = None) -> dict[str, float]:
    """A mapping of category -> share, every share in [0, 1] and the shares summing to 1."""
    if not isinstance(value, Mapping) or not value:
        raise field_error(key, "a non-empty table of name = share", value, True)
    out: dict[str, float] = {}
    allowed = None if choices is None else list(choices)
    for name, share in value.items():
        if allowed is not None and name not in allowed:
            raise field_error(key, "a table with keys among: " + ", ".join(allowed), name)
        out[str(name)] = check_prob(f"{key}.{name}", share)
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise field_error(key, "shares that sum to 1", f"{dict(out)} (sum {total:.6g})")
    return out
