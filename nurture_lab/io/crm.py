"""Bring your own data: read a CRM export of leads (and touches) into the analysis schema.

The leads table has one row per lead; the touches table one row per attempt. Column names are
mapped from the export's own names (``mapping``: a dict or a TOML file with a ``[columns]`` table,
canonical name = export name). Types are parsed and checked; every problem is reported with file,
line, column and value — all at once, not only the first. Fixes that are safe are made and counted
(trailing spaces in labels, local times read in the given zone or each lead's state's zone, a ``;``
or tab delimiter, dates in the one order of their column); what the import did is in ``.notes``. Direct
identifiers (names, e-mails, phones, street addresses, free-text notes) are dropped at import and
listed, so nothing identifying reaches an analysis or a report.

Leads schema (canonical names):

=================== ========== ==========================================================
column              required   meaning
=================== ========== ==========================================================
lead_id             yes        unique per row
arm                 yes        the randomized arm's label
created_at          yes        inquiry time (with its offset, or read in a zone; ISO or one date order)
service_line        no         segment columns: service_line, audience, source, intent,
                               coverage, state, channel — kept as given
booked              no*        booked (yes/no, y/n, true/false, 1/0)
booked_at           no*        booking time; derives booked, days_to_book, booked_7d/_30d
attended, opted_out no         booleans
contacted, qualified no        booleans
staff_minutes       no         number
=================== ========== ==========================================================

(*) at least one outcome column is required. Touches: ``lead_id, channel, sent_at`` required;
``content, status, engaged`` optional.
"""

from __future__ import annotations

import io
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._results import ResultMixin
from ..errors import DataError, check_param, require

__all__ = ["ImportResult", "identifier_columns", "read_leads", "read_touches"]

LEAD_REQUIRED = ("lead_id", "arm", "created_at")
BOOL_COLUMNS = ("booked", "attended", "opted_out", "contacted", "qualified", "lost", "booked_7d", "booked_30d")
TIME_COLUMNS = ("created_at", "booked_at", "appointment_at")
NUMBER_COLUMNS = ("staff_minutes", "n_touches", "first_call_minutes", "first_response_minutes", "spend")
SEGMENT_COLUMNS = ("service_line", "audience", "source", "intent", "coverage", "state", "channel", "age_group")
TOUCH_REQUIRED = ("lead_id", "channel", "sent_at")
TOUCH_OPTIONAL = ("content", "status", "engaged")
#: Every canonical column a mapping may name (the ``[columns]`` keys), for leads and for touches.
LEAD_COLUMNS = (*LEAD_REQUIRED, *SEGMENT_COLUMNS, *TIME_COLUMNS[1:], *BOOL_COLUMNS, *NUMBER_COLUMNS)
TOUCH_COLUMNS = (*TOUCH_REQUIRED, *TOUCH_OPTIONAL)
#: The keys a mapping file may have besides ``[columns]``.
MAPPING_OPTIONS = ("date_order", "timezone")
#: The orders of a date written with numbers only (``03/02/2026``), in words.
DATE_ORDERS = {"dmy": "day/month/year", "mdy": "month/day/year", "ymd": "year/month/day"}
#: A date written with numbers: three fields, then the rest (time, offset).
NUMERIC_DATE = r"^(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})(.*)$"
#: Outcome windows: a lead followed less than its window has not had the whole window to book.
WINDOWS = {"booked_7d": 7.0, "booked_30d": 30.0}
TRUE = {"1", "y", "yes", "true", "t", "1.0"}
FALSE = {"0", "n", "no", "false", "f", "0.0"}
MAX_LISTED = 25

#: Column names that are direct identifiers (matched on the lower-cased name, spaces -> _).
IDENTIFIER_PATTERNS = re.compile(
    r"(^|_)(name|first_?name|last_?name|full_?name|surname|e_?mail|email_address|phone|mobile|cell|telephone|"
    r"tel|address|street|addr|zip|zip_?code|postal|postcode|dob|birth|date_of_birth|ssn|mrn|notes?|comments?|"
    r"free_?text|message|ip|ip_address)($|_)"
)
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.I)
PHONE_RE = re.compile(r"^\+?[\d\s().-]{10,}$")


#: A person's name as a cell holds one: two to four capitalised words ("Jane Doe", "Mary Ann O'Neil").
NAME_RE = re.compile(r"^[A-Z][A-Za-z'’.-]+(?: [A-Z][A-Za-z'’.-]*){1,3}$")
#: A street address: a house number, then words ("12 Main St", "4001 W. Oak Avenue, Apt 2").
ADDRESS_RE = re.compile(
    r"^\d+[A-Za-z]? +[A-Za-z].*\b(st|street|ave|avenue|rd|road|blvd|boulevard|dr|drive|ln|lane|way|ct|court|"
    r"pl|place|ter|terrace|pkwy|parkway|hwy|highway|cir|circle)\b",
    re.I,
)


def shown_value(value: object) -> tuple[str, bool]:
    """A bad cell's value as a message or ``dropped_rows`` may show it, and whether it is the value
    itself (a message quotes it) rather than a description: an e-mail address, phone number, name or
    street address that landed in the wrong column is described, never repeated (messages and logs
    show no direct identifier), and so is an empty cell."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or str(value) == "":
        return "<an empty cell>", False
    text = str(value)
    if re.match(NUMERIC_DATE, text.strip()):  # a date written with numbers is shown, even if phone-shaped
        return text, True
    for pattern, what in (
        (EMAIL_RE, "an e-mail address"),
        (PHONE_RE, "a phone number"),
        (NAME_RE, "a name"),
        (ADDRESS_RE, "a street address"),
    ):
        if pattern.search(text.strip()):
            return f"<{what}, not shown>", False
    return text, True


@dataclass(repr=False)
class ImportResult(ResultMixin):
    """A checked import: the table (``.leads`` or ``.touches``; ``.to_pandas()``), and what was done to it."""

    data: pd.DataFrame
    source: str
    dropped_identifiers: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)
    dropped_rows: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["line", "reason"]))
    horizon_days: float | None = None
    kind: str = "leads"
    #: when the export was taken (each lead's follow-up runs to it)
    as_of: Any = None
    #: what the import did, in sentences: rows read, used and dropped (by reason), the zone rule,
    #: the order of each date column, as_of and the follow-up (``notes`` adds the fixes)
    summary: list[str] = field(default_factory=list)

    _json_extras = ("settings",)
    _repr_rows = 5

    @property
    def leads(self) -> pd.DataFrame:
        """The imported leads (an import of leads only)."""
        if self.kind != "leads":
            raise AttributeError(f"this is an import of {self.kind}: use .{self.kind}")
        return self.data

    @property
    def touches(self) -> pd.DataFrame:
        """The imported touches (an import of touches only)."""
        if self.kind != "touches":
            raise AttributeError(f"this is an import of {self.kind}: use .{self.kind}")
        return self.data

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "dropped_identifiers": list(self.dropped_identifiers),
            "fixes": list(self.fixes),
            "dropped_rows": self.dropped_rows.to_dict(orient="records"),
            "horizon_days": self.horizon_days,
            "as_of": None if self.as_of is None else str(self.as_of),
            "notes": self.notes,
        }

    @property
    def notes(self) -> list[str]:
        """Everything a reader of the analysis must know about the import: :attr:`summary`, then the fixes."""
        return [*self.summary, *(f for f in self.fixes if f not in self.summary)]

    def _table(self) -> pd.DataFrame:
        return self.data

    def _head(self) -> str:
        return (
            f"ImportResult({len(self.data):,} {self.kind} from {self.source}; dropped identifier columns "
            f"{self.dropped_identifiers}; fixes {self.fixes}; {len(self.dropped_rows)} row(s) dropped)"
        )


def identifier_columns(df: pd.DataFrame) -> list[str]:
    """Columns that are, or look like, direct identifiers (by name, or by e-mail/phone-shaped values)."""
    out = []
    for c in df.columns:
        key = re.sub(r"[^a-z0-9]+", "_", str(c).lower()).strip("_")
        if IDENTIFIER_PATTERNS.search(key):
            out.append(c)
            continue
        col = df[c]
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            sample = col.dropna().astype(str).head(200)
            if len(sample) and (sample.str.contains(EMAIL_RE).mean() > 0.5 or sample.str.match(PHONE_RE).mean() > 0.5):
                out.append(c)
    return out


def _did_you_mean(word: str, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` (difflib), or nothing."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    if not close:  # a name that differs only in case, spaces or underscores
        key = re.sub(r"[^a-z0-9]", "", str(word).lower())
        close = [c for c in map(str, choices) if re.sub(r"[^a-z0-9]", "", c.lower()) == key][:1]
    return f" (did you mean '{close[0]}'?)" if close else ""


def _load_mapping(
    mapping: str | Path | Mapping[str, Any] | None, allowed: tuple[str, ...]
) -> tuple[dict[str, str], dict[str, Any], str]:
    """A mapping, checked like a scenario file: ``(columns, options, where)``.

    ``columns`` maps canonical names (keys of ``[columns]``, each one of ``allowed``) to the export's
    column names; ``options`` holds the other keys (:data:`MAPPING_OPTIONS`); ``where`` names the
    mapping in messages. Unknown keys are refused with the file, the key and the closest allowed key.
    """
    if mapping is None:
        return {}, {}, "the mapping"
    if isinstance(mapping, Mapping):
        data: Mapping[str, Any] = {"columns": mapping}
        where = "the mapping"
    else:
        p = Path(mapping)
        where = str(p)
        if not p.is_file():
            raise DataError(f"Mapping file not found: {p} (expected a TOML file with a [columns] table).")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise DataError(f"{p} is not valid TOML: {e}.") from None
        for key in data:
            if key != "columns" and key not in MAPPING_OPTIONS:
                raise DataError(
                    f"Unknown key '{key}' at the top level of {p}{_did_you_mean(key, ['columns', *MAPPING_OPTIONS])}; "
                    f"expected one of: columns, {', '.join(MAPPING_OPTIONS)}."
                )
    cols = data.get("columns")
    if not isinstance(cols, Mapping):
        raise DataError(f'{where} needs a [columns] table: canonical_name = "Export column name".')
    for key, value in cols.items():
        if key not in allowed:
            raise DataError(
                f"Unknown key '{key}' in [columns] of {where}{_did_you_mean(key, allowed)}; expected one of: "
                f"{', '.join(allowed)}."
            )
        if not isinstance(value, str) or not value:
            raise DataError(
                f"'{key}' in [columns] of {where} must be the export's column name (a string). Got {value!r} instead."
            )
    options = {k: data[k] for k in MAPPING_OPTIONS if k in data}
    if "date_order" in options and options["date_order"] not in DATE_ORDERS:
        raise DataError(
            f"'date_order' in {where} must be one of {', '.join(DATE_ORDERS)}. Got {options['date_order']!r} instead."
        )
    if "timezone" in options:
        _check_zone("read_leads", str(options["timezone"]))
    return {str(k): str(v) for k, v in cols.items()}, options, where


def _apply_mapping(raw: pd.DataFrame, cmap: Mapping[str, str], where: str, p: Path | str) -> pd.DataFrame:
    """Rename the export's columns to the canonical names; a mapped column the export lacks is refused
    naming the mapping key, the closest real column and every real column."""
    for key, col in cmap.items():
        if col not in raw.columns:
            raise DataError(
                f"'{key}' in [columns] of {where} maps to column '{col}', which {p} does not have"
                f"{_did_you_mean(col, raw.columns)}; its columns: {', '.join(map(str, raw.columns))}."
            )
    return raw.rename(columns={v: k for k, v in cmap.items()})


def _read_raw(path: Path, fixes: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"Data file not found: {path} (expected a CSV or Parquet export).")
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except Exception as e:
            raise DataError(f"{path} is not a readable Parquet file: {e}") from None
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # a gzip-compressed CSV (export.csv.gz), read as analyze reads it
        import gzip

        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"{path} looks gzip-compressed but cannot be decompressed: {e}") from None
        fixes.append("gzip-compressed CSV decompressed")
    if not raw.strip():
        raise DataError(f"{path} is empty: expected a header row and one row per lead.")
    try:
        text_head = raw[:65536].decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < 65530:
            line = raw[: e.start].count(b"\n") + 1
            raise DataError(
                f"{path} is not UTF-8: byte {raw[e.start : e.start + 1]!r} at line {line}; re-export as UTF-8."
            ) from None
        text_head = raw[:65530].decode("utf-8", errors="ignore")
    first = text_head.splitlines()[0] if text_head else ""
    delim = ","
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    if counts[","] == 0 and max(counts.values()) > 0:
        delim = max(counts, key=lambda d: counts[d])
        fixes.append(f"delimiter {delim!r} detected instead of ','")
    try:
        df = pd.read_csv(io.BytesIO(raw), sep=delim, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
        df.attrs["delimiter"] = delim
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path} is not UTF-8: byte {raw[e.start : e.start + 1]!r} at line {line}; re-export as UTF-8."
        ) from None
    except pd.errors.ParserError as e:
        raise DataError(f"{path} could not be parsed as CSV: {e}") from None
    if len(df.columns) == 1 and len(df):
        raise DataError(f"{path} has a single column {df.columns[0]!r}; expected comma-separated columns.")
    return df


class _Problems:
    """Every unusable value of an import: each check's rows counted per column, the first listed."""

    def __init__(self, source: pd.DataFrame, names: Mapping[str, str] | None = None) -> None:
        self.source = source
        #: canonical column -> the export's own name, where a mapping renamed it (messages say both)
        self.names = {k: v for k, v in (names or {}).items() if k != v}
        #: a file's line (the header is line 1), or a table's row (rows ordered by lead_id)
        self.unit = "row" if source.attrs.get("database") else "line"
        first = 1 if self.unit == "row" else 2
        self.line = pd.Series(np.arange(len(source)) + first, index=source.index, name=self.unit)
        self.unusable = pd.Series(False, index=source.index)
        #: (line, column, the value as shown, expected, whether it is the value itself)
        self.listed: list[tuple[int, str, str, str, bool]] = []
        self.counts: dict[str, int] = {}
        #: rows per reason ("column: expected ..."), for the import notes
        self.reasons: dict[str, int] = {}

    def note(self, bad: pd.Series, column: str, expected: str) -> None:
        """Mark the rows where ``bad`` holds as unusable because ``column`` is not ``expected``."""
        bad = bad.fillna(False).astype(bool)
        self.unusable |= bad
        self.counts[column] = self.counts.get(column, 0) + int(bad.sum())
        if bad.any():
            reason = f"{column} not {expected}"
            self.reasons[reason] = self.reasons.get(reason, 0) + int(bad.sum())
        values = self.source[column] if column in self.source else pd.Series("", index=self.source.index)
        for i in np.flatnonzero(bad.to_numpy())[:MAX_LISTED]:
            text, itself = shown_value(values.iloc[i])
            self.listed.append((int(self.line.iloc[i]), column, text, expected, itself))

    def _theirs(self, column: str) -> str:
        return f" (the export's '{self.names[column]}')" if column in self.names else ""

    def settle(self, p: Path | str, what: str, on_error: str, fixes: list[str], hint: str = "") -> pd.DataFrame:
        """Raise with every problem (``on_error="raise"``), or say what is dropped; returns the listing."""
        n_bad = int(self.unusable.sum())
        self.listed.sort(key=lambda r: r[0])  # in the file's order, whatever column found them
        if n_bad and on_error == "raise":
            shown = "\n".join(
                f"  {self.unit} {ln}, column '{c}'{self._theirs(c)}: {repr(v) if itself else v} (expected {e})"
                for ln, c, v, e, itself in self.listed[:MAX_LISTED]
            )
            per_column = ", ".join(f"{c}: {n:,}" for c, n in self.counts.items() if n)
            raise DataError(
                f"{p}: {n_bad:,} of {len(self.source):,} {what}row(s) cannot be used (problems by column — "
                f"{per_column}):\n{shown}{'' if len(self.listed) <= MAX_LISTED else chr(10) + '  ...'}\n"
                f"Fix the export, or drop and list these rows: on_error='drop'{hint}."
            )
        if n_bad:
            fixes.append(
                f"{n_bad:,} unusable {what}row(s) dropped (on_error='drop'); the first are listed in dropped_rows"
            )
        return pd.DataFrame(
            [{"line": ln, "column": c, "value": v, "reason": f"expected {e}"} for ln, c, v, e, _ in self.listed],
            columns=["line", "column", "value", "reason"],
        )


def _bool(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    s = col.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=col.index, dtype="boolean")
    out[s.isin(TRUE)] = True
    out[s.isin(FALSE)] = False
    bad = s.notna() & out.isna()
    return out, bad


def _date_fields(col: pd.Series) -> pd.DataFrame:
    """The three number fields of dates written with numbers only (``03/02/2026 10:00``), and the rest."""
    return col.astype("string").str.strip().str.extract(NUMERIC_DATE)


def _detect_order(col: pd.Series, line: pd.Series) -> tuple[str | None, str]:
    """The order of a column's number-only dates, from its values: ``(order, why)``.

    ISO-like dates (a 4-digit year first) need no order. Otherwise a first field above 12 is a day
    (``dmy``), a second field above 12 a day (``mdy``); ``(None, "ambiguous")`` when no value decides
    and ``(None, "mixed")`` when values decide both ways (the why then shows one of each).
    """
    f = _date_fields(col)
    short = f[0].notna() & (f[0].str.len() <= 2)
    if not short.any():
        return "ymd" if f[0].notna().any() else None, "iso"
    first, second = pd.to_numeric(f[0], errors="coerce"), pd.to_numeric(f[1], errors="coerce")
    day_first, day_second = short & (first > 12), short & (second > 12)

    def example(mask: pd.Series) -> str:
        i = int(np.flatnonzero(mask.to_numpy())[0])
        return f"{line.name or 'line'} {int(line.iloc[i])}: {str(col.iloc[i]).strip()!r}"

    if day_first.any() and day_second.any():
        return None, f"mixed ({example(day_first)} has a day first, {example(day_second)} a month first)"
    if day_first.any():
        return "dmy", f"detected: a day above 12 in the first field ({example(day_first)})"
    if day_second.any():
        return "mdy", f"detected: a day above 12 in the second field ({example(day_second)})"
    return None, f"ambiguous (every value, e.g. {example(short)}, reads either way)"


def _to_iso_dates(col: pd.Series, order: str | None) -> pd.Series:
    """Number-only dates rewritten year-month-day in ``order`` (a 4-digit first field is always a year)."""
    s = col.astype("string").str.strip()
    f = _date_fields(s)
    long_first = f[0].str.len() == 4
    if order == "dmy":
        day, month, year = f[0], f[1], f[2]
    elif order == "mdy":
        month, day, year = f[0], f[1], f[2]
    else:
        year, month, day = f[0], f[1], f[2]
    year, month, day = year.where(~long_first, f[0]), month.where(~long_first, f[1]), day.where(~long_first, f[2])
    year = year.where(year.str.len() != 2, "20" + year)
    iso = year + "-" + month.str.zfill(2) + "-" + day.str.zfill(2) + f[3].fillna("")
    use = f[0].notna() & (long_first | (order is not None))
    return s.where(~use, iso)


def _date_orders(
    p: Path | str,
    df: pd.DataFrame,
    date_order: str | None,
    line: pd.Series,
    given_by: str,
    time_columns: tuple[str, ...] = TIME_COLUMNS,
) -> tuple[dict[str, str | None], list[str]]:
    """One order per date column: given (``date_order``), else detected from its values; a column no
    value decides takes the order the export's other date columns agree on, else is refused."""
    columns = [c for c in time_columns if c in df.columns]
    found = {c: _detect_order(df[c], line) for c in columns}
    orders: dict[str, str | None] = {}
    notes = []
    for c, (order, why) in found.items():
        if why == "iso":
            orders[c] = None
            if order:
                notes.append(f"{c} dates read year-month-day (ISO)")
            continue
        if date_order is not None:
            orders[c] = date_order
            notes.append(f"{c} dates read {DATE_ORDERS[date_order]} ({date_order}, given by {given_by})")
            continue
        if why.startswith("mixed"):
            raise DataError(
                f"{p}: column '{c}' mixes day-first and month-first dates: {why[7:-1]}. One column has one order: "
                "fix the export, or say its order with date_order='dmy' or 'mdy' (CLI --date-order, mapping key "
                "date_order) and the values that do not fit it are listed."
            )
        others = {o for k, (o, w) in found.items() if k != c and o is not None and w != "iso"}
        if order is None and len(others) == 1:
            order = others.pop()
            why = "as the export's other date columns (no value of this one decides)"
        if order is None:
            raise DataError(
                f"{p}: the dates of column '{c}' are {why}: day/month or month/day cannot be told from the values. "
                "Say the order with date_order='dmy', 'mdy' or 'ymd' (CLI --date-order, mapping key date_order)."
            )
        orders[c] = order
        notes.append(f"{c} dates read {DATE_ORDERS[order]} ({order}, {why})")
    return orders, notes


def _time(col: pd.Series, tz: str | pd.Series | None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse date-times; those without an offset are read in ``tz`` (one zone, or a zone per row).

    Returns (UTC times, unparseable mask, naive mask). Naive values with no zone stay NaT and are
    listed by the caller: a local time without its zone is not guessed.
    """
    s = col.astype("string").str.strip()
    has_offset = s.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True, na=False)
    parsed = pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns, UTC]")
    if has_offset.any():
        parsed[has_offset] = pd.to_datetime(s[has_offset], utc=True, errors="coerce", format="ISO8601")
    naive = s.notna() & ~has_offset
    bad = s.notna() & has_offset & parsed.isna()
    if naive.any():
        t = pd.to_datetime(s[naive], errors="coerce", format="mixed")
        bad |= naive & pd.Series(t.isna(), index=s.index).reindex(s.index, fill_value=False)
        zones = tz if isinstance(tz, pd.Series) else pd.Series(tz, index=col.index, dtype="object")
        for zone in pd.unique(zones[naive].dropna()):
            sel = naive & (zones == zone)
            parsed[sel] = (
                t[sel[naive].to_numpy()]
                .dt.tz_localize(str(zone), ambiguous="NaT", nonexistent="shift_forward")
                .dt.tz_convert("UTC")
            )
    return parsed, bad, naive & ~bad


def read_leads(
    path: str | Path | Any,
    mapping: str | Path | Mapping[str, str] | None = None,
    *,
    table: str | None = None,
    timezone: str | None = None,
    horizon_days: float = 60.0,
    as_of: Any = None,
    on_error: str = "raise",
    date_order: str | None = None,
    fold_case: bool = False,
) -> ImportResult:
    """Read a leads export (CSV or Parquet) into the analysis schema.

    Args:
        path: the export; or a database table — an Ibis table, or a ``duckdb:///file.db`` /
            ``postgres://…`` URL with ``table=``. From a table only the mapped (canonical) columns
            are selected — identifier columns never leave the database — and missing required
            values are counted in SQL first; the rows then go through the same checks as a file.
        table: the table of a database URL (refused without it).
        mapping: canonical name -> export column name (dict, or a TOML file with a ``[columns]``
            table and optionally ``date_order`` and ``timezone``); unknown keys, and mapped columns
            the export lacks, are refused.
        timezone: IANA zone of the times written without an offset. Without it, when the leads
            carry a ``state``, each lead's zone is inferred from its state (and the import says
            so); otherwise such times are refused — a local time is never silently taken as UTC.
        horizon_days: outcomes are followed this long; bookings after it do not count.
        as_of: when the export was taken, with its UTC offset (or read in ``timezone``); default:
            the export's latest creation or booking time (visits to come do not count), stated.
            Gives each lead's ``followup_days``; leads created after it are unusable rows, and
            bookings made after it do not count.
        on_error: ``"raise"`` (default): any unusable row fails the import with every problem listed;
            ``"drop"``: such rows are removed, counted and listed in ``dropped_rows``.
        date_order: the order of dates written with numbers only (``03/02/2026``): ``"dmy"``,
            ``"mdy"`` or ``"ymd"``. Default: detected per column from its values (a day above 12
            decides), refused when no value decides. ISO dates (year first) always work.
        fold_case: merge arm labels that differ only in case into the most common spelling
            (default: refused, naming the labels).

    ``booked_at`` is when the booking was made; ``appointment_at`` (optional) is the visit itself.
    What the import did (rows read, used and dropped by reason, the zone rule, the date orders,
    as_of and the follow-up) is in ``.notes``.

    Raises:
        DataError: a missing file or column, an unknown mapping key, an empty file, non-UTF-8 bytes,
            local times without a zone, dates of no clear order, arm labels that differ only in
            case, or (with ``on_error="raise"``) bad values: file, line, column and value of each.
    """
    check_param("read_leads", "on_error", on_error, kind="choice", choices=("raise", "drop"))
    check_param("read_leads", "fold_case", fold_case, kind="bool")
    if date_order is not None:
        check_param("read_leads", "date_order", date_order, kind="choice", choices=tuple(DATE_ORDERS))
    if timezone is not None:
        _check_zone("read_leads", timezone)
    check_param("read_leads", "horizon_days", horizon_days, low=0, low_open=True)
    fixes: list[str] = []
    cmap, options, where = _load_mapping(mapping, LEAD_COLUMNS)
    given_by = "date_order=" if date_order is not None else f"date_order in {where}"
    date_order = date_order or options.get("date_order")
    timezone = timezone or options.get("timezone")
    p: Path | str
    if _is_database(path):
        p, raw, ids = _read_table(path, table, cmap, where, on_error)
    else:
        require("read_leads", "table", table, "None for a file (table= names a table of a database URL)", table is None)
        p = Path(path)
        raw = _read_raw(p, fixes)
        raw = _apply_mapping(raw, cmap, where, p)
        raw.columns = [str(c).strip() for c in raw.columns]
        ids = [c for c in identifier_columns(raw) if c not in LEAD_REQUIRED]
    df = raw.drop(columns=[c for c in ids if c in raw.columns])
    missing = [c for c in LEAD_REQUIRED if c not in df.columns]
    if missing:
        raise DataError(
            f"{p} lacks required column(s) {missing}; its columns: {', '.join(map(str, raw.columns))}. "
            "Map the export's names in a mapping file's [columns] table (lead_id = \"Lead ID\", ...; CLI --mapping "
            "FILE, Python mapping=)."
        )
    outcomes = [c for c in (*BOOL_COLUMNS, "booked_at") if c in df.columns]
    if not outcomes:
        raise DataError(
            f"{p} has no outcome column; expected at least one of: booked, booked_at, {', '.join(BOOL_COLUMNS[1:])}."
        )
    problems = _Problems(raw, cmap)
    note, line = problems.note, problems.line

    out = pd.DataFrame(index=df.index)
    lid = df["lead_id"].astype("string").str.strip()
    note(lid.isna(), "lead_id", "a lead id")
    dup = lid.duplicated(keep=False) & lid.notna()
    if dup.any():
        note(dup, "lead_id", "a unique lead id (duplicated)")
    out["lead_id"] = lid
    out["arm"] = _arm_labels(p, df["arm"], note, fixes, fold_case)
    for c in SEGMENT_COLUMNS:
        if c in df.columns:
            out[c] = df[c].astype("string").str.strip().astype("category")
    zones = _zones(df, timezone)
    orders, order_notes = _date_orders(p, df, date_order, line, given_by)
    times: dict[str, pd.Series] = {}
    n_naive: dict[str, int] = {}
    for c in TIME_COLUMNS:
        if c not in df.columns:
            continue
        t, bad, naive = _time(_to_iso_dates(df[c], orders[c]), zones)
        note(bad | (df[c].isna() if c == "created_at" else False), c, "a date-time like 2026-01-05T09:30:00-05:00")
        _naive_times(p, c, df[c], naive & t.isna(), line)
        if (naive & t.notna()).any():
            n_naive[c] = int((naive & t.notna()).sum())
        times[c] = t
        out[c] = t
    created = times["created_at"]
    for c in BOOL_COLUMNS:
        if c in df.columns:
            v, bad = _bool(df[c])
            note(bad, c, "yes/no, y/n, true/false or 1/0")
            out[c] = v
    decimal_comma = df.attrs.get("delimiter") == ";"
    for c in NUMBER_COLUMNS:
        if c in df.columns:
            text = df[c].astype("string").str.strip()
            if decimal_comma:
                text = text.str.replace(",", ".", regex=False)
            v = pd.to_numeric(text, errors="coerce")
            note(df[c].notna() & v.isna(), c, "a number")
            out[c] = v
    if decimal_comma and any(c in df.columns for c in NUMBER_COLUMNS):
        fixes.append("decimal commas read as decimal points (the export is ';'-delimited)")
    end, end_note = _as_of(as_of, times, timezone)
    note(created > end, "created_at", f"a time on or before as_of ({end.isoformat()})")
    out["followup_days"] = ((end - created).dt.total_seconds() / 86400).clip(lower=0)
    if "booked_at" in times:
        bt = times["booked_at"]
        days = (bt - created).dt.total_seconds() / 86400
        note(days < 0, "booked_at", "a time after created_at (booked_at is when the booking was made)")
        later = bt.notna() & (bt > end) & (days >= 0) & (created <= end)  # made after the export was taken
        if later.any():
            fixes.append(f"{int(later.sum()):,} booking(s) made after as_of not counted (not yet seen at as_of)")
        within = bt.notna() & (days >= 0) & (days <= horizon_days) & ~later
        if "booked" in out.columns:
            conflict = out["booked"].fillna(False).astype(bool) != within
            n_conf = int((conflict & out["booked"].notna()).sum())
            if n_conf:
                fixes.append(
                    f"{n_conf} row(s) where 'booked' disagreed with booked_at within {horizon_days:g} days: "
                    "booked_at used"
                )
        out["booked"] = within
        out["days_to_book"] = days.where(within)
        out["booked_7d"] = within & (days <= 7)
        out["booked_30d"] = within & (days <= 30)
        fixes.append("booked, days_to_book, booked_7d and booked_30d derived from created_at and booked_at")
    if "appointment_at" in times and "booked_at" in times:
        note(times["appointment_at"] < times["booked_at"], "appointment_at", "a visit after its booking (booked_at)")
    dropped = problems.settle(p, "", on_error, fixes, hint=" (CLI --on-error drop)")
    out = out[~problems.unusable].reset_index(drop=True)
    for c in BOOL_COLUMNS:
        if c in out.columns:
            if out[c].isna().any():
                out[c] = out[c].astype("boolean")
            else:
                out[c] = out[c].astype(bool)
    out["arm"] = out["arm"].astype(str)
    out["lead_id"] = out["lead_id"].astype(str)
    summary = [
        _rows_note(len(raw), len(out), problems),
        _zone_note(timezone, zones, n_naive),
        *order_notes,
        end_note,
        *_followup_notes(out, horizon_days),
    ]
    return ImportResult(out, str(p), ids, fixes, dropped, horizon_days, as_of=end, summary=summary)


def _read_table(
    source: Any, table: str | None, cmap: Mapping[str, str], where: str, on_error: str
) -> tuple[str, pd.DataFrame, list[str]]:
    """``(label, rows as text with canonical names, identifier columns not read)`` of a leads table:
    mapped columns checked, missing required values counted in SQL, only canonical columns selected."""
    from .database import fetch_text, missing_required, open_table

    t, label = open_table(source, table)
    columns = [str(c) for c in t.columns]
    for key, col in cmap.items():
        if col not in columns:
            raise DataError(
                f"'{key}' in [columns] of {where} maps to column '{col}', which {label} does not have"
                f"{_did_you_mean(col, columns)}; its columns: {', '.join(columns)}."
            )
    named = {**{c: c for c in LEAD_COLUMNS if c in columns and c not in cmap.values()}, **dict(cmap)}
    ids = [c for c in identifier_columns(pd.DataFrame(columns=columns)) if c not in named.values()]
    missing = [c for c in LEAD_REQUIRED if c not in named]
    if missing:
        raise DataError(
            f"{label} lacks required column(s) {missing}; its columns: {', '.join(columns)}. "
            "Map the table's names in a mapping file's [columns] table (lead_id = \"Lead ID\", ...; CLI --mapping "
            "FILE, Python mapping=)."
        )
    if on_error == "raise":
        missing_required(t, named, LEAD_REQUIRED, label)
    raw = fetch_text(t, named, "lead_id")
    return label, raw, ids + [c for c in identifier_columns(raw) if c not in LEAD_REQUIRED]


def _is_database(source: Any) -> bool:
    """Whether ``source`` is an Ibis table or a database URL (``scheme://...``) rather than a file."""
    return "://" in str(source) if isinstance(source, str | Path) else hasattr(source, "schema")


def _arm_labels(p: Path | str, arm: pd.Series, note: Any, fixes: list[str], fold_case: bool) -> pd.Series:
    """Arm labels trimmed; labels that differ only in case refused (with the likely intended one), or
    merged into the most common spelling with ``fold_case``. Only labels present are arms."""
    text = arm.astype("string")
    stripped = text.str.strip()
    n_space = int((stripped != text).fillna(False).sum())
    if n_space:
        fixes.append(f"trailing/leading spaces removed from {n_space} arm label(s)")
    note(stripped.isna() | (stripped == ""), "arm", "an arm label")
    counts = stripped[stripped.notna() & (stripped != "")].value_counts()
    key = pd.Series(counts.index.str.casefold(), index=counts.index)
    clashes = [list(g.index) for _, g in key.groupby(key.to_numpy(), sort=True) if len(g) > 1]
    if not clashes:
        return stripped
    if not fold_case:
        shown = "; ".join(
            " and ".join(f"'{lb}' ({counts[lb]:,} rows)" for lb in group)
            + f": did you mean '{max(group, key=lambda lb: counts[lb])}'?"
            for group in clashes
        )
        raise DataError(
            f"{p}: arm labels differ only in case — {shown} Fix the labels in the export, or merge each group into "
            "its most common spelling with fold_case=True (CLI --fold-case)."
        )
    merge = {lb: max(group, key=lambda x: counts[x]) for group in clashes for lb in group}
    merge = {k: v for k, v in merge.items() if k != v}
    fixes.append(
        "arm labels that differ only in case merged (fold_case): "
        + ", ".join(f"'{k}' ({counts[k]:,} rows) into '{v}'" for k, v in merge.items())
    )
    return stripped.replace(merge)


def _rows_note(n_read: int, n_used: int, problems: _Problems) -> str:
    """Rows read, used and dropped, by reason."""
    text = f"{n_read:,} rows read, {n_used:,} used, {n_read - n_used:,} dropped"
    if n_read > n_used:
        text += " (" + "; ".join(f"{r}: {n:,}" for r, n in problems.reasons.items()) + ")"
    return text


def _zone_note(timezone: str | None, zones: Any, n_naive: dict[str, int]) -> str:
    """How times without a UTC offset were read (the one note on it: total and count per column)."""
    if not n_naive:
        return "zone rule: every time carries its UTC offset (none was read in a zone)"
    total = sum(n_naive.values())
    cols = "; ".join(f"{c} {n:,}" for c, n in n_naive.items())
    where = f"in {timezone} (timezone=)" if timezone else "in each lead's zone, inferred from its state"
    return f"zone rule: {total:,} time(s) without a UTC offset ({cols}) read {where}"


def _followup_notes(out: pd.DataFrame, horizon_days: float) -> list[str]:
    """The follow-up of the leads used, and how many were not followed for each outcome window."""
    f = out["followup_days"]
    if f.empty or f.isna().all():
        return []
    notes = [
        f"follow-up (created_at to as_of): {f.min():.1f} to {f.max():.1f} days, median {f.median():.1f}; "
        f"bookings count within {horizon_days:g} days"
    ]
    windows = {**WINDOWS, "booked": horizon_days}
    for col, days in windows.items():
        if col in out.columns:
            short = int((f < days).sum())
            if short:
                notes.append(
                    f"{short:,} of {len(out):,} leads were followed less than the {days:g} days of {col}: "
                    "it counts only the bookings they made by as_of"
                )
    return notes


def _check_zone(func: str, timezone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        require(func, "timezone", timezone, "an IANA time zone such as 'America/Chicago'", False)


def _zones(df: pd.DataFrame, timezone: str | None) -> Any:
    """One zone for every naive time, or each lead's zone from its state, or None."""
    if timezone is not None:
        return timezone
    if "state" in df.columns:
        from ..scenario.model import STATE_TIMEZONES

        return df["state"].astype("string").str.strip().str.upper().map(STATE_TIMEZONES).astype("object")
    return None


def _naive_times(p: Path | str, column: str, values: pd.Series, unresolved: pd.Series, line: pd.Series) -> None:
    """Refuse local times that have no zone (no timezone= and no known state), with one message."""
    if not unresolved.any():
        return
    i = int(np.flatnonzero(unresolved.to_numpy())[0])
    raise DataError(
        f"{p}: {int(unresolved.sum()):,} {column} value(s) have no UTC offset and no zone to read them in "
        f"(first at {line.name or 'line'} {int(line.iloc[i])}: {values.iloc[i]!r}). Local times are not guessed: pass "
        "timezone='America/Chicago' (CLI --timezone), or include each lead's state so its zone is inferred."
    )


def _as_of(as_of: Any, times: dict[str, pd.Series], timezone: str | None) -> tuple[pd.Timestamp, str]:
    """When the export was taken, and the note that says so: given (with its UTC offset, or read in
    ``timezone``), or the export's latest creation or booking time — a visit still to come is not
    a time the export was taken at."""
    if as_of is None:
        valid = [times[c].max() for c in ("created_at", "booked_at") if c in times and times[c].notna().any()]
        if not valid:
            return pd.NaT, "as_of: none (the export has no usable time)"
        latest = max(valid)
        return (
            latest,
            f"as_of {latest.isoformat()}: the export's latest created_at or booked_at (pass as_of= to set it)",
        )
    try:
        end = pd.Timestamp(as_of)
    except (ValueError, TypeError):
        end = pd.NaT
    if end is pd.NaT:
        require("read_leads", "as_of", as_of, "a date or timestamp, e.g. '2026-11-30T23:59:59-06:00'", False)
    if end.tzinfo is None:
        if timezone is None:
            require(
                "read_leads",
                "as_of",
                as_of,
                "a time with its UTC offset, e.g. '2026-11-30T23:59:59-06:00' (or pass timezone= to read it in)",
                False,
            )
        end = end.tz_localize(timezone)
        return end.tz_convert("UTC"), f"as_of {end.tz_convert('UTC').isoformat()}: given ({as_of}, read in {timezone})"
    return end.tz_convert("UTC"), f"as_of {end.tz_convert('UTC').isoformat()}: given"


def read_touches(
    path: str | Path,
    mapping: str | Path | Mapping[str, str] | None = None,
    *,
    timezone: str | None = None,
    leads: pd.DataFrame | None = None,
    on_error: str = "raise",
    date_order: str | None = None,
) -> ImportResult:
    """Read a touches export: one row per attempt (``lead_id, channel, sent_at`` [, content, status, engaged]).

    Every problem is reported at once with line, column and value; ``on_error="drop"`` drops and
    lists such rows instead. With ``leads``, touches of unknown leads are counted and dropped, and
    times without an offset are read in each lead's zone when the leads carry a state. Dates written
    with numbers only are read in one order, as by :func:`read_leads` (``date_order``, or detected).
    The result holds the table in ``.touches``.
    """
    check_param("read_touches", "on_error", on_error, kind="choice", choices=("raise", "drop"))
    if date_order is not None:
        check_param("read_touches", "date_order", date_order, kind="choice", choices=tuple(DATE_ORDERS))
    if timezone is not None:
        _check_zone("read_touches", timezone)
    p = Path(path)
    fixes: list[str] = []
    cmap, options, where = _load_mapping(mapping, TOUCH_COLUMNS)
    given_by = "date_order=" if date_order is not None else f"date_order in {where}"
    date_order = date_order or options.get("date_order")
    timezone = timezone or options.get("timezone")
    raw = _read_raw(p, fixes)
    raw = _apply_mapping(raw, cmap, where, p)
    ids = [c for c in identifier_columns(raw) if c not in TOUCH_REQUIRED]
    df = raw.drop(columns=[c for c in ids if c in raw.columns])
    missing = [c for c in TOUCH_REQUIRED if c not in df.columns]
    if missing:
        raise DataError(f"{p} lacks required column(s) {missing}; its columns: {', '.join(map(str, raw.columns))}.")
    problems = _Problems(raw, cmap)
    note, line = problems.note, problems.line

    out = pd.DataFrame(
        {
            "lead_id": df["lead_id"].astype("string").str.strip().astype(str),
            "channel": df["channel"].astype("string").str.strip().str.lower().astype("category"),
        }
    )
    note(df["lead_id"].isna(), "lead_id", "a lead id")
    zones: Any = timezone
    if zones is None and leads is not None and "state" in leads.columns:
        from ..scenario.model import STATE_TIMEZONES

        by_lead = leads.set_index(leads["lead_id"].astype(str))["state"].astype(str).map(STATE_TIMEZONES)
        zones = out["lead_id"].map(by_lead).astype("object")
    orders, order_notes = _date_orders(p, df, date_order, line, given_by, ("sent_at",))
    fixes.extend(order_notes)
    t, bad, naive = _time(_to_iso_dates(df["sent_at"], orders["sent_at"]), zones)
    note(bad | df["sent_at"].isna(), "sent_at", "a date-time like 2026-01-05T09:30:00-05:00")
    _naive_times(p, "sent_at", df["sent_at"], naive & t.isna() & ~bad, line)
    if (naive & t.notna()).any():
        how = f"in {timezone}" if timezone else "in each lead's zone, inferred from its state"
        fixes.append(f"{int((naive & t.notna()).sum())} sent_at value(s) without a UTC offset read {how}")
    out["sent_at"] = t
    for c in ("content", "status"):
        if c in df.columns:
            out[c] = df[c].astype("string").str.strip().astype("category")
    if "engaged" in df.columns:
        v, bad = _bool(df["engaged"])
        note(bad, "engaged", "yes/no, y/n, true/false or 1/0")
        out["engaged"] = v
    if leads is not None:
        note(~out["lead_id"].isin(set(leads["lead_id"].astype(str))), "lead_id", "a lead of the leads export")
    dropped = problems.settle(p, "touch ", on_error, fixes)
    out = out[~problems.unusable].reset_index(drop=True)
    return ImportResult(out, str(p), ids, fixes, dropped, kind="touches")
