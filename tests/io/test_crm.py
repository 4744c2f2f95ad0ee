from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.io.crm import read_leads, read_touches
from nurture_lab.io.example import EXAMPLE_MAPPING, EXAMPLE_TOUCH_MAPPING, make_example_export

from ..conftest import ROOT

GOOD = """lead_id,arm,created_at,service_line,booked,booked_at,opted_out
a1,control,2026-01-05T09:00:00-05:00,orthopedics,yes,2026-01-08T10:00:00-05:00,no
a2,fast,2026-01-05T10:00:00-05:00,orthopedics,no,,N
a3,fast ,2026-01-05 11:00:00,orthopedics,Y,2026-01-20T11:00:00Z,0
a4,control,2026-01-06T09:00:00+00:00,orthopedics,false,,FALSE
"""


def write(tmp_path: Path, text: str | bytes, name: str = "leads.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_good_file_parses_with_counted_fixes(tmp_path: Path) -> None:
    r = read_leads(write(tmp_path, GOOD))
    L = r.leads
    assert list(L["arm"]) == ["control", "fast", "fast", "control"]
    assert any("spaces removed from 1 arm label" in f for f in r.fixes)
    assert any("1 created_at value(s) without a time zone taken as UTC" in f for f in r.fixes)
    assert str(L["created_at"].dt.tz) == "UTC"
    assert L["booked"].tolist() == [True, False, True, False]
    assert L["days_to_book"].iloc[0] == pytest.approx(3 + 1 / 24)
    assert L["booked_30d"].tolist() == [True, False, True, False]
    assert L["opted_out"].tolist() == [False, False, False, False]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            GOOD.replace("created_at", "created"),
            r"lacks required column\(s\) \['created_at'\]; its columns: lead_id, arm, created",
        ),
        (
            GOOD.replace("2026-01-05T10:00:00-05:00", "next tuesday"),
            r"line 3, column 'created_at': 'next tuesday' \(expected a date-time",
        ),
        (
            GOOD.replace(",no\na2", ",maybe\na2"),
            r"line 2, column 'opted_out': 'maybe' \(expected yes/no, y/n, true/false or 1/0\)",
        ),
        (
            GOOD.replace("a4,", "a1,"),
            r"line 2, column 'lead_id': 'a1' \(expected a unique lead id \(duplicated\)\)[\s\S]*line 5, column 'lead_id'",
        ),
        ("", r"is empty: expected a header row"),
        (GOOD.replace(",", ";"), None),
        (
            GOOD.replace("2026-01-08T10:00:00-05:00", "2025-12-01T10:00:00-05:00"),
            r"line 2, column 'booked_at'.*expected a time after created_at",
        ),
    ],
)
def test_malformed_exports_get_located_errors(tmp_path: Path, text: str, match: str | None) -> None:
    p = write(tmp_path, text)
    if match is None:  # a ';' delimiter is detected and counted
        r = read_leads(p)
        assert any("delimiter ';' detected" in f for f in r.fixes) and len(r.leads) == 4
        return
    with pytest.raises(nl.DataError, match=match):
        read_leads(p)


def test_all_problems_are_listed_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("2026-01-05T10:00:00-05:00", "bad-date").replace(",no\na2", ",maybe\na2")
    with pytest.raises(nl.DataError) as e:
        read_leads(write(tmp_path, text))
    msg = str(e.value)
    assert "2 row(s) cannot be used" in msg and "'bad-date'" in msg and "'maybe'" in msg


def test_drop_mode_counts_and_lists_rows(tmp_path: Path) -> None:
    r = read_leads(write(tmp_path, GOOD.replace("2026-01-05T10:00:00-05:00", "bad-date")), on_error="drop")
    assert len(r.leads) == 3
    assert r.dropped_rows["line"].tolist() == [3]


def test_non_utf8_bytes(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD.encode().replace(b"orthopedics,no", b"orthop\xe9dics,no", 1))
    with pytest.raises(nl.DataError, match=r"is not UTF-8: byte b'\\xe9' at line 3"):
        read_leads(p)


def test_missing_file_and_bad_mapping(tmp_path: Path) -> None:
    with pytest.raises(nl.DataError, match=r"Data file not found"):
        read_leads(tmp_path / "nope.csv")
    with pytest.raises(nl.DataError, match=r"Mapped column\(s\) \['Lead Id'\] not found"):
        read_leads(write(tmp_path, GOOD), mapping={"lead_id": "Lead Id"})


def test_identifiers_are_dropped(tmp_path: Path) -> None:
    text = (
        "lead_id,Full Name,E-mail,contact,Street Address,notes,arm,created_at,booked\n"
        "1,Ann Lee,ann@x.org,555-123-4567 ,1 Main St,called,a,2026-01-05T09:00:00Z,yes\n"
        "2,Bo Li,bo@x.org,555-987-6543,2 Elm St,,b,2026-01-05T09:00:00Z,no\n"
    )
    r = read_leads(write(tmp_path, text))
    assert set(r.dropped_identifiers) == {"Full Name", "E-mail", "contact", "Street Address", "notes"}
    assert list(r.leads.columns[:3]) == ["lead_id", "arm", "created_at"]


def test_example_export_round_trip_and_touches(tmp_path: Path) -> None:
    export = make_example_export(tmp_path / "export.csv", n_leads=2000, seed=4, touches=tmp_path / "touches.csv")
    r = read_leads(export, mapping=EXAMPLE_MAPPING)
    assert len(r.leads) == 2000 and {"Full Name", "Email", "Mobile Phone", "Notes"} <= set(r.dropped_identifiers)
    sim = nl.simulate(
        nl.load_scenario(ROOT / "simulations/speed_to_lead.toml"),
        seed=4,
        n_leads=2000,
        truth=False,
    ).leads
    assert r.leads["booked"].sum() == sim["booked"].sum()
    assert r.leads["booked_30d"].sum() == sim["booked_30d"].sum()
    res = nl.analyze(r.leads, arm="arm", control="next_business_day", metrics=["booked_30d"])
    ref = nl.analyze(sim, arm="arm", control="next_business_day", metrics=["booked_30d"])
    pd.testing.assert_series_equal(res.results["diff"], ref.results["diff"])
    t = read_touches(tmp_path / "touches.csv", mapping=EXAMPLE_TOUCH_MAPPING, leads=r.leads)
    with pytest.raises(AttributeError, match=r"this is an import of touches: use \.touches"):
        _ = t.leads
    assert len(t.touches) > 2000 and set(t.touches["channel"].cat.categories) <= {
        "email",
        "sms",
        "call",
        "chat",
        "retargeting",
    }
