from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.io.crm import read_leads, read_touches
from nurture_lab.io.example import EXAMPLE_MAPPING, EXAMPLE_TOUCH_MAPPING, make_example_export

from ..conftest import ROOT, run_cli

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
    r = read_leads(write(tmp_path, GOOD), timezone="America/New_York")
    L = r.leads
    assert list(L["arm"]) == ["control", "fast", "fast", "control"]
    assert any("spaces removed from 1 arm label" in f for f in r.fixes)
    assert any("1 time(s) without a UTC offset (created_at 1) read in America/New_York" in n for n in r.notes)
    assert not any("created_at" in f and "UTC offset" in f for f in r.fixes)  # said once, in the zone rule
    assert L["created_at"].iloc[2] == pd.Timestamp("2026-01-05T16:00:00Z")  # 11:00 in New York
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
        r = read_leads(p, timezone="America/New_York")
        assert any("delimiter ';' detected" in f for f in r.fixes) and len(r.leads) == 4
        return
    with pytest.raises(nl.DataError, match=match):
        read_leads(p, timezone="America/New_York")


def test_all_problems_are_listed_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("2026-01-05T10:00:00-05:00", "bad-date").replace(",no\na2", ",maybe\na2")
    with pytest.raises(nl.DataError) as e:
        read_leads(write(tmp_path, text), timezone="America/New_York")
    msg = str(e.value)
    assert "2 of 4 row(s) cannot be used" in msg and "'bad-date'" in msg and "'maybe'" in msg


def test_drop_mode_counts_and_lists_rows(tmp_path: Path) -> None:
    r = read_leads(
        write(tmp_path, GOOD.replace("2026-01-05T10:00:00-05:00", "bad-date")), on_error="drop", timezone="UTC"
    )
    assert len(r.leads) == 3
    assert r.dropped_rows["line"].tolist() == [3]


def test_non_utf8_bytes(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD.encode().replace(b"orthopedics,no", b"orthop\xe9dics,no", 1))
    with pytest.raises(nl.DataError, match=r"is not UTF-8: byte b'\\xe9' at line 3"):
        read_leads(p)


def test_missing_file_and_bad_mapping(tmp_path: Path) -> None:
    with pytest.raises(nl.DataError, match=r"Data file not found"):
        read_leads(tmp_path / "nope.csv")
    with pytest.raises(nl.DataError, match=r"'lead_id' in \[columns\] of the mapping maps to column 'Lead Id', which"):
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


def test_local_times_without_a_zone_are_never_guessed(tmp_path: Path) -> None:
    with pytest.raises(
        nl.DataError,
        match=r"1 created_at value\(s\) have no UTC offset and no zone .* line 4: '2026-01-05 11:00:00'.*--timezone",
    ):
        read_leads(write(tmp_path, GOOD))


def test_each_leads_zone_is_inferred_from_its_state(tmp_path: Path) -> None:
    """A CRM export with local times and no zone: checked against zoneinfo, DST included."""
    from zoneinfo import ZoneInfo

    text = (
        "lead_id,arm,created_at,state,booked\n"
        "1,a,2026-03-07 09:00:00,CA,no\n"  # before the US change to daylight time (Mar 8)
        "2,b,2026-03-09 09:00:00,CA,no\n"  # after it
        "3,a,2026-03-09 09:00:00,TX,yes\n"
        "4,b,2026-07-01 20:30:00,FL,no\n"
    )
    r = read_leads(write(tmp_path, text))
    zones = {"CA": "America/Los_Angeles", "TX": "America/Chicago", "FL": "America/New_York"}
    for (_, row), local, st in zip(
        r.leads.iterrows(),
        ["2026-03-07 09:00", "2026-03-09 09:00", "2026-03-09 09:00", "2026-07-01 20:30"],
        ["CA", "CA", "TX", "FL"],
    ):
        want = pd.Timestamp(local).tz_localize(ZoneInfo(zones[st])).tz_convert("UTC")
        assert row["created_at"] == want
    assert r.leads["created_at"].iloc[0].hour == 17 and r.leads["created_at"].iloc[1].hour == 16  # PST, then PDT
    assert any("read in each lead's zone, inferred from its state" in n for n in r.notes)


def test_every_bad_row_is_counted_and_the_cli_can_drop_them(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},a,not-a-date,yes" for i in range(2000))
    p = write(tmp_path, "lead_id,arm,created_at,booked\n" + rows + "\n")
    with pytest.raises(
        nl.DataError,
        match=r"2,000 of 2,000 row\(s\) cannot be used \(problems by column — created_at: 2,000\)[\s\S]*--on-error drop",
    ):
        read_leads(p, timezone="UTC")
    good = "\n".join(f"g{i},{'a' if i % 2 else 'b'},2026-01-05T09:00:00Z,{'yes' if i % 3 else 'no'}" for i in range(60))
    mixed = write(tmp_path, "lead_id,arm,created_at,booked\n" + good + "\nx1,a,never,yes\n", "mixed.csv")
    res = run_cli(
        "analyze",
        str(mixed),
        "--arm",
        "arm",
        "--control",
        "b",
        "--metric",
        "booked",
        "--mapping",
        str(write(tmp_path, "[columns]\n", "m.toml")),
        "--on-error",
        "drop",
    )
    assert res.returncode == 0, res.stderr
    assert "1 unusable row(s) dropped" in res.stderr


def test_decimal_commas_in_a_semicolon_export(tmp_path: Path) -> None:
    text = "lead_id;arm;created_at;booked;staff_minutes\n1;a;2026-01-05T09:00:00Z;yes;12,5\n2;b;2026-01-05T09:00:00Z;no;3\n"
    r = read_leads(write(tmp_path, text))
    assert r.leads["staff_minutes"].tolist() == [12.5, 3.0]
    assert any("decimal commas" in f for f in r.fixes)


def test_booking_time_visit_and_follow_up(tmp_path: Path) -> None:
    text = (
        "lead_id,arm,created_at,booked_at,appointment_at\n"
        "1,a,2026-01-05T09:00:00Z,2026-01-06T09:00:00Z,2026-01-20T09:00:00Z\n"
        "2,b,2026-01-10T09:00:00Z,,\n"
        "3,b,2026-01-10T09:00:00Z,2026-01-12T09:00:00Z,2026-01-11T09:00:00Z\n"
    )
    with pytest.raises(nl.DataError, match=r"line 4, column 'appointment_at'.*a visit after its booking"):
        read_leads(write(tmp_path, text))
    ok = text.replace("2026-01-11T09:00:00Z", "2026-01-30T09:00:00Z")
    r = read_leads(write(tmp_path, ok))
    assert r.leads["days_to_book"].iloc[0] == pytest.approx(1.0)  # from the booking, not the visit
    # the export's latest creation or booking, stated: a visit still to come is not when it was taken
    assert r.as_of == pd.Timestamp("2026-01-12T09:00:00Z")
    assert any("as_of 2026-01-12T09:00:00+00:00: the export's latest created_at or booked_at" in n for n in r.notes)
    assert r.leads["followup_days"].tolist() == pytest.approx([7.0, 2.0, 2.0])
    r2 = read_leads(write(tmp_path, ok), as_of="2026-02-01T00:00:00Z")
    assert r2.leads["followup_days"].iloc[0] == pytest.approx(26.625)  # to midnight UTC on Feb 1


def test_example_mapping_separates_booking_and_visit() -> None:
    import tomllib

    cols = tomllib.loads((ROOT / "nurture_lab/data/example_mapping.toml").read_text())["columns"]
    assert cols["booked_at"] == "Booked Date" and cols["appointment_at"] == "Appointment Date"
    assert cols == EXAMPLE_MAPPING


def test_example_export_without_offsets_reads_back_the_same_times(tmp_path: Path) -> None:
    with_off = read_leads(make_example_export(tmp_path / "a.csv", n_leads=800, seed=2), mapping=EXAMPLE_MAPPING)
    naive = read_leads(
        make_example_export(tmp_path / "b.csv", n_leads=800, seed=2, offsets=False), mapping=EXAMPLE_MAPPING
    )
    pd.testing.assert_series_equal(with_off.leads["created_at"], naive.leads["created_at"])
    pd.testing.assert_series_equal(with_off.leads["days_to_book"], naive.leads["days_to_book"])


def test_touches_report_every_problem_at_once(tmp_path: Path) -> None:
    text = "lead_id,channel,sent_at,engaged\n1,sms,2026-01-05T09:00:00Z,yes\n2,sms,soon,yes\n3,call,2026-01-05T09:00:00Z,perhaps\n"
    with pytest.raises(
        nl.DataError,
        match=r"2 of 3 touch row\(s\)[\s\S]*line 3, column 'sent_at': 'soon'[\s\S]*line 4, column 'engaged': 'perhaps'",
    ):
        read_touches(write(tmp_path, text, "t.csv"))
    t = read_touches(write(tmp_path, text, "t.csv"), on_error="drop")
    assert len(t.touches) == 1 and t.dropped_rows["line"].tolist() == [3, 4]


def test_an_identifier_in_a_wrong_column_is_described_never_shown(tmp_path: Path) -> None:
    """Messages and dropped_rows list bad cells, but an e-mail, phone, name or street address that
    landed in the wrong column is described, not repeated; rows are listed in the file's order."""
    p = tmp_path / "x.csv"
    p.write_text(
        "lead_id,arm,created_at,booked,booked_at\n"
        "a1,control,2026-01-05T09:00:00Z,no,\n"
        "a2,fast,2026-01-05T09:00:00Z,Jane Doe,\n"  # line 3: a name in a yes/no column
        "a3,,2026-01-05T09:00:00Z,yes,\n"  # line 4: an empty arm
        "a4,fast,jane.doe@example.com,yes,\n"  # line 5
        "a5,fast,(555) 010-1000,no,\n"  # line 6
        "a6,fast,12 Main Street,no,\n"  # line 7
        "a7,fast,2026-13-45,no,\n"  # line 8: a bad date is shown as written
    )
    with pytest.raises(nl.DataError) as e:
        read_leads(p)
    msg = str(e.value)
    for secret in ("Jane Doe", "jane.doe", "555", "Main Street"):
        assert secret not in msg, secret
    lines = [int(x) for x in re.findall(r"line (\d+), column", msg)]
    assert lines == sorted(lines) == [3, 4, 5, 6, 7, 8]
    assert "'booked': <a name, not shown>" in msg and "'arm': <an empty cell>" in msg
    assert "<an e-mail address, not shown>" in msg and "<a phone number, not shown>" in msg
    assert "<a street address, not shown>" in msg and "'2026-13-45'" in msg
    dropped = read_leads(p, on_error="drop").dropped_rows
    assert not dropped["value"].str.contains("Jane|jane|555|Main", regex=True).any()


def test_the_minutes_to_the_first_call_may_be_mapped(tmp_path: Path) -> None:
    """The report's speed-to-lead section reads first_call_minutes: an export may bring its own."""
    p = tmp_path / "x.csv"
    p.write_text(
        "Lead,Variant,Created,Booked,Minutes To First Call\n"
        "a1,control,2026-01-05T09:00:00Z,no,4.5\n"
        "a2,fast,2026-01-05T09:00:00Z,yes,61\n"
        "a3,fast,2026-01-05T09:00:00Z,no,\n"
    )
    mapping = {
        "lead_id": "Lead",
        "arm": "Variant",
        "created_at": "Created",
        "booked": "Booked",
        "first_call_minutes": "Minutes To First Call",
    }
    leads = read_leads(p, mapping=mapping).leads
    assert leads["first_call_minutes"].tolist()[:2] == [4.5, 61.0] and pd.isna(leads["first_call_minutes"].iloc[2])


def test_a_bad_cell_of_a_mapped_column_names_the_exports_own_column(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("Lead,Variant,Created,Booked\na1,control,2026-01-05T09:00:00Z,no\na2,fast,soon,maybe\n")
    mapping = {"lead_id": "Lead", "arm": "Variant", "created_at": "Created", "booked": "Booked"}
    with pytest.raises(nl.DataError) as e:
        read_leads(p, mapping=mapping)
    assert "line 3, column 'created_at' (the export's 'Created'): 'soon'" in str(e.value)
    assert "line 3, column 'booked' (the export's 'Booked'): 'maybe'" in str(e.value)


def test_a_gzip_compressed_export_reads_as_the_plain_one(tmp_path: Path) -> None:
    import gzip

    text = "lead_id,arm,created_at,booked\na1,control,2026-01-05T09:00:00Z,no\na2,fast,2026-01-06T09:00:00Z,yes\n"
    (tmp_path / "x.csv").write_text(text)
    (tmp_path / "x.csv.gz").write_bytes(gzip.compress(text.encode()))
    plain, packed = read_leads(tmp_path / "x.csv"), read_leads(tmp_path / "x.csv.gz")
    pd.testing.assert_frame_equal(plain.leads, packed.leads)
    assert "gzip-compressed CSV decompressed" in packed.fixes
    (tmp_path / "bad.csv.gz").write_bytes(gzip.compress(text.encode())[:-12])
    with pytest.raises(nl.DataError, match="looks gzip-compressed but cannot be decompressed"):
        read_leads(tmp_path / "bad.csv.gz")
