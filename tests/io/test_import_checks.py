"""Import checks of issue 22: date orders, mapping files, arm labels and honest follow-up."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.io.crm import read_leads, read_touches

from ..conftest import run_cli


def write(tmp_path: Path, text: str, name: str = "leads.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _export(dates: list[str], booked: list[str] | None = None) -> str:
    rows = [f"L{i},{'a' if i % 2 else 'b'},{d},{booked[i] if booked else ''}" for i, d in enumerate(dates)]
    return "lead_id,arm,created_at,booked_at\n" + "\n".join(rows) + "\n"


# ---- 3. dates: one order per column, detected or refused; ISO always works


def test_day_first_dates_are_detected_from_a_day_above_12(tmp_path: Path) -> None:
    dates = ["03/02/2026 09:00", "23/03/2026 10:30", "05/04/2026 08:00", "11/01/2026 17:45"]
    booked = ["04/02/2026 10:00", "", "06/04/2026 09:00", ""]
    r = read_leads(write(tmp_path, _export(dates, booked)), timezone="UTC")
    assert list(r.leads["created_at"].dt.strftime("%Y-%m-%d")) == [
        "2026-02-03",
        "2026-03-23",
        "2026-04-05",
        "2026-01-11",
    ]
    # every booking one day after its inquiry: nothing "booked before created"
    assert r.leads["days_to_book"].dropna().tolist() == pytest.approx([1 + 1 / 24, 1 + 1 / 24])
    assert any(
        "created_at dates read day/month/year (dmy, detected: a day above 12 in the first field (line 3" in n
        for n in r.notes
    )
    # booked_at has no day above 12: it takes the order the other date column decided, and says so
    assert any("booked_at dates read day/month/year (dmy, as the export's other date columns" in n for n in r.notes)


def test_month_first_dates_with_am_pm(tmp_path: Path) -> None:
    dates = ["02/23/2026 1:05 PM", "03/02/2026 9:00 AM", "12/11/2025 11:59 PM"]
    r = read_leads(write(tmp_path, _export(dates)).with_name("leads.csv"), timezone="America/Chicago")
    got = r.leads["created_at"].dt.tz_convert("America/Chicago").dt.strftime("%Y-%m-%d %H:%M").tolist()
    assert got == ["2026-02-23 13:05", "2026-03-02 09:00", "2025-12-11 23:59"]
    assert any("created_at dates read month/day/year (mdy" in n for n in r.notes)


def test_ambiguous_dates_are_refused_unless_the_order_is_said(tmp_path: Path) -> None:
    p = write(tmp_path, _export(["03/02/2026 09:00", "04/05/2026 10:00", "12/11/2026 08:00"]))
    with pytest.raises(
        nl.DataError,
        match=r"column 'created_at' are ambiguous .*date_order='dmy', 'mdy' or 'ymd' \(CLI --date-order, mapping key date_order\)",
    ):
        read_leads(p, timezone="UTC")
    r = read_leads(p, timezone="UTC", date_order="mdy")
    assert r.leads["created_at"].iloc[0] == pd.Timestamp("2026-03-02T09:00Z")
    assert any("created_at dates read month/day/year (mdy, given by date_order=)" in n for n in r.notes)
    m = write(tmp_path, 'date_order = "dmy"\n[columns]\narm = "arm"\n', "map.toml")
    r = read_leads(p, mapping=m, timezone="UTC")
    assert r.leads["created_at"].iloc[0] == pd.Timestamp("2026-02-03T09:00Z")
    assert any(f"given by date_order in {m}" in n for n in r.notes)
    res = run_cli(
        "analyze", str(p), "--mapping", str(m), "--date-order", "mdy", "--timezone", "UTC",
        "--arm", "arm", "--control", "b", "--metric", "booked", "--format", "json",
    )  # fmt: skip
    assert "created_at dates read month/day/year (mdy, given by date_order=)" in res.stderr  # the option wins


def test_a_column_that_mixes_orders_is_refused_and_iso_always_works(tmp_path: Path) -> None:
    p = write(tmp_path, _export(["23/02/2026 09:00", "02/23/2026 09:00"]))
    with pytest.raises(
        nl.DataError,
        match=r"column 'created_at' mixes day-first and month-first dates: line 2: '23/02/2026 09:00' has a day first, line 3",
    ):
        read_leads(p, timezone="UTC")
    # with the order said, the values that do not fit it are listed as unusable rows
    with pytest.raises(nl.DataError, match=r"line 3, column 'created_at': '02/23/2026 09:00'"):
        read_leads(p, timezone="UTC", date_order="dmy")
    iso = read_leads(write(tmp_path, _export(["2026-02-03T09:00:00Z", "2026/03/04 10:00"])), timezone="UTC")
    assert iso.leads["created_at"].dt.strftime("%m-%d").tolist() == ["02-03", "03-04"]
    assert any("created_at dates read year-month-day (ISO)" in n for n in iso.notes)


# ---- 5. mapping files validated like scenario files


@pytest.mark.parametrize(
    ("toml", "match"),
    [
        ('[columns]\nlead_id = "id"\narm = "v"\ncreated_at = "c"\natended = "Showed"\n',
         r"Unknown key 'atended' in \[columns\] of .*map.toml \(did you mean 'attended'\?\); expected one of: lead_id"),
        ('[columns]\nleadid = "id"\n', r"Unknown key 'leadid' in \[columns\] of .*map.toml \(did you mean 'lead_id'\?\)"),
        ('[columns]\nbooked_date = "Booked"\n', r"Unknown key 'booked_date' in \[columns\] .*\(did you mean 'booked_at'\?\)"),
        ('date_ordr = "dmy"\n[columns]\n', r"Unknown key 'date_ordr' at the top level of .*map.toml \(did you mean 'date_order'\?\)"),
        ('date_order = "dd/mm"\n[columns]\n', r"'date_order' in .*map.toml must be one of dmy, mdy, ymd. Got 'dd/mm' instead"),
    ],
)  # fmt: skip
def test_unknown_mapping_keys_are_refused_with_the_closest_key(tmp_path: Path, toml: str, match: str) -> None:
    p = write(tmp_path, "id,v,c,Booked,Showed\n1,a,2026-01-05T09:00:00Z,,yes\n")
    with pytest.raises(nl.DataError, match=match):
        read_leads(p, mapping=write(tmp_path, toml, "map.toml"))


def test_a_mapped_column_the_export_lacks_names_the_key_and_the_real_columns(tmp_path: Path) -> None:
    p = write(tmp_path, "Lead ID,Variant,Created Date,Booked Date\n1,a,2026-01-05T09:00:00Z,\n")
    m = write(
        tmp_path,
        '[columns]\nlead_id = "Lead ID"\narm = "Variant"\ncreated_at = "Created Date"\nbooked_at = "Booked Dat"\n',
        "m.toml",
    )
    with pytest.raises(
        nl.DataError,
        match=r"'booked_at' in \[columns\] of .*m.toml maps to column 'Booked Dat', which .*leads.csv does not have "
        r"\(did you mean 'Booked Date'\?\); its columns: Lead ID, Variant, Created Date, Booked Date\.",
    ):
        read_leads(p, mapping=m)
    touches = write(tmp_path, "id,ch,at\n1,sms,2026-01-05T09:00:00Z\n", "t.csv")
    with pytest.raises(
        nl.DataError, match=r"Unknown key 'sent' in \[columns\] of the mapping \(did you mean 'sent_at'\?\)"
    ):
        read_touches(touches, mapping={"lead_id": "id", "channel": "ch", "sent": "at"})


# ---- 6. arms: trimmed, case clashes refused or folded, unused categories are not arms


def test_arm_labels_that_differ_only_in_case_are_refused_or_folded(tmp_path: Path) -> None:
    labels = ["control"] * 6 + ["Control "] + ["fast"] * 5 + ["FAST"]
    text = "lead_id,arm,created_at,booked\n" + "\n".join(
        f"{i},{a},2026-01-05T09:00:00Z,{'yes' if i % 3 else 'no'}" for i, a in enumerate(labels)
    )
    p = write(tmp_path, text + "\n")
    with pytest.raises(
        nl.DataError,
        match=r"arm labels differ only in case — 'control' \(6 rows\) and 'Control' \(1 rows\): did you mean "
        r"'control'\?; 'fast' \(5 rows\) and 'FAST' \(1 rows\): did you mean 'fast'\?.*fold_case=True \(CLI --fold-case\)",
    ):
        read_leads(p)
    r = read_leads(p, fold_case=True)
    assert r.leads["arm"].value_counts().to_dict() == {"control": 7, "fast": 6}
    assert any("'Control' (1 rows) into 'control'" in f for f in r.fixes)
    assert any("spaces removed from 1 arm label" in f for f in r.fixes)


def test_unused_categories_of_an_arm_column_are_not_arms() -> None:
    hs = nl.datasets.hillstrom()
    two = hs[hs["segment"].isin(["No E-Mail", "Womens E-Mail"])].copy()
    two["segment"] = two["segment"].astype("category")
    assert len(two["segment"].cat.categories) == 3  # 'Mens E-Mail' is a category with no rows
    res = nl.analyze(two, arm="segment", control="No E-Mail", metrics=["visit"])
    assert res.results["arm"].tolist() == ["Womens E-Mail"]
    plain = nl.analyze(two.astype({"segment": str}), arm="segment", control="No E-Mail", metrics=["visit"])
    pd.testing.assert_frame_equal(res.results, plain.results)
    assert res.srm["counts"] == plain.srm["counts"]


# ---- 7. follow-up honest


def _followup_export(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    n = 200
    created = pd.Timestamp("2026-01-01T12:00Z") + pd.to_timedelta(np.arange(n) * 0.5, unit="D")  # 100 days
    booked_at = created + pd.to_timedelta(rng.uniform(0.5, 10, n), unit="D")
    booked = rng.random(n) < 0.4
    df = pd.DataFrame(
        {
            "lead_id": np.arange(n),
            "arm": np.where(np.arange(n) % 2, "a", "b"),
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "booked_at": np.where(booked, booked_at.strftime("%Y-%m-%dT%H:%M:%SZ"), ""),
        }
    )
    p = tmp_path / "leads.csv"
    df.to_csv(p, index=False)
    return p


def test_leads_after_as_of_are_refused_or_dropped_and_later_bookings_do_not_count(tmp_path: Path) -> None:
    p = _followup_export(tmp_path)
    as_of = "2026-02-20T12:00:00Z"  # day 50: leads 101..199 arrived after it
    with pytest.raises(
        nl.DataError, match=r"99 of 200 row\(s\) cannot be used[\s\S]*column 'created_at': .*a time on or before as_of"
    ):
        read_leads(p, as_of=as_of)
    r = read_leads(p, as_of=as_of, on_error="drop")
    L = r.leads
    assert len(L) == 101 and (L["followup_days"] >= 0).all()
    assert any("200 rows read, 101 used, 99 dropped (created_at not a time on or before as_of" in n for n in r.notes)
    # independent count: a booking counts only when made by as_of (and within the horizon)
    raw = pd.read_csv(p).iloc[:101]
    made = pd.to_datetime(raw["booked_at"], utc=True)
    expect = made.notna() & (made <= pd.Timestamp(as_of))
    assert L["booked"].tolist() == expect.tolist()
    n_later = int((made.notna() & (made > pd.Timestamp(as_of))).sum())
    assert n_later > 0 and any(f"{n_later} booking(s) made after as_of not counted" in f for f in r.fixes)
    # the window note: how many leads were followed less than 30 days (created within 30 days of as_of)
    short = int((pd.Timestamp(as_of) - pd.to_datetime(raw["created_at"], utc=True) < pd.Timedelta(days=30)).sum())
    assert any(f"{short} of 101 leads were followed less than the 30 days of booked_30d" in n for n in r.notes)


def test_a_naive_as_of_needs_a_zone(tmp_path: Path) -> None:
    p = _followup_export(tmp_path)
    with pytest.raises(nl.ParameterError, match=r"'as_of' parameter of read_leads must be a time with its UTC offset"):
        read_leads(p, as_of="2026-05-01")
    r = read_leads(p, as_of="2026-05-01", timezone="America/Chicago")
    assert r.as_of == pd.Timestamp("2026-05-01T05:00:00Z")
    assert any("as_of 2026-05-01T05:00:00+00:00: given (2026-05-01, read in America/Chicago)" in n for n in r.notes)


def test_touch_dates_are_read_in_one_order_too(tmp_path: Path) -> None:
    text = "lead_id,channel,sent_at\n1,sms,03/02/2026 09:00\n2,call,25/02/2026 10:00\n"
    t = read_touches(write(tmp_path, text, "touches.csv"), timezone="UTC")
    assert t.touches["sent_at"].dt.strftime("%Y-%m-%d").tolist() == ["2026-02-03", "2026-02-25"]
    assert any("sent_at dates read day/month/year (dmy, detected" in f for f in t.fixes)
    with pytest.raises(nl.DataError, match=r"the dates of column 'sent_at' are ambiguous"):
        read_touches(write(tmp_path, text.replace("25/02", "12/02"), "t2.csv"), timezone="UTC")
