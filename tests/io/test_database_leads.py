"""read_leads and reports from a database table (issue 22): the same rows give the same import as a CSV export."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.reporting import render

from ..conftest import run_cli
from .test_warehouse import _duckdb_file, _postgres_table, postgres  # noqa: F401  (the server fixture)

duckdb = pytest.importorskip("duckdb")

MAPPING = {
    "lead_id": "Lead ID",
    "arm": "Group",
    "created_at": "Created",
    "booked_at": "Booked At",
    "service_line": "Line",
    "staff_minutes": "Minutes",
}


def _export(n: int = 900, seed: int = 3, bad: bool = False) -> pd.DataFrame:
    """An export with the CRM's names, an identifier column, and (``bad``) rows the import must drop."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "fast"], n)
    created = pd.Timestamp("2026-03-02T14:00:00Z") + pd.to_timedelta(rng.uniform(0, 50, n), unit="D")
    at = created + pd.to_timedelta(rng.uniform(0.05, 25, n), unit="D")
    booked = rng.random(n) < np.where(arm == "fast", 0.32, 0.22)
    df = pd.DataFrame(
        {
            "Lead ID": [f"R{i:05d}" for i in range(n)],
            "Group": arm,
            "Created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Booked At": pd.Series(at.strftime("%Y-%m-%dT%H:%M:%SZ")).where(booked, None),
            "Line": rng.choice(["cardiology", "pediatrics"], n),
            "Minutes": rng.gamma(2.0, 3.0, n).round(2),
            "email": [f"patient{i}@example.com" for i in range(n)],
        }
    )
    if bad:
        df.loc[[5, 17], "Group"] = None  # missing required values
        df.loc[40, "Created"] = "2027-01-01T00:00:00Z"  # after as_of
        df.loc[41, "Booked At"] = "2020-01-01T00:00:00Z"  # before its creation
    return df


@pytest.fixture(params=["duckdb", "postgres"])
def load(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., str]:
    """Writes a frame into a real engine as table ``name``; returns the database URL."""
    if request.param == "duckdb":
        return lambda df, name="leads": _duckdb_file(tmp_path / f"{name}.db", df, name)
    url = request.getfixturevalue("postgres")
    # text columns with their missing values as NULL (COPY would write a float NaN as the text 'nan')
    nulls = lambda df: df.apply(lambda c: c if c.dtype.kind in "bif" else c.astype(object).where(c.notna(), None))  # noqa: E731
    return lambda df, name="leads": _postgres_table(url, nulls(df), name)


@pytest.mark.parametrize("bad", [False, True])
def test_a_table_imports_as_the_same_rows_exported_to_csv(tmp_path: Path, load: Callable[..., str], bad: bool) -> None:
    df = _export(bad=bad)
    df.to_csv(tmp_path / "export.csv", index=False)
    url = load(df)
    kw = {"as_of": "2026-05-10T00:00:00Z", "on_error": "drop" if bad else "raise"}
    from_csv = nl.read_leads(tmp_path / "export.csv", mapping=MAPPING, **kw)
    from_db = nl.read_leads(url, mapping=MAPPING, table="leads", **kw)
    pd.testing.assert_frame_equal(from_db.leads, from_csv.leads)
    assert from_db.notes == from_csv.notes
    assert from_db.dropped_identifiers == from_csv.dropped_identifiers == ["email"]
    cols = ["column", "value", "reason"]
    pd.testing.assert_frame_equal(from_db.dropped_rows[cols], from_csv.dropped_rows[cols])
    # a table's rows are numbered from 1 in lead_id order (no header line); the export here is in that order
    assert (from_db.dropped_rows["line"] == from_csv.dropped_rows["line"] - 1).all()
    if bad:  # the notes count the dropped rows by reason, as for the file
        assert "900 rows read, 896 used, 4 dropped" in from_db.notes[0]


def test_typed_columns_import_as_their_text(tmp_path: Path) -> None:
    """Timestamps with a zone, booleans and numbers in typed columns give the same import as their text."""
    df = _export()
    df.to_csv(tmp_path / "export.csv", index=False)
    typed = df.assign(
        Created=pd.to_datetime(df["Created"], utc=True), **{"Booked At": pd.to_datetime(df["Booked At"], utc=True)}
    )
    url = _duckdb_file(tmp_path / "typed.db", typed)
    con = duckdb.connect(str(tmp_path / "typed.db"), read_only=True)
    kinds = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns").fetchall())
    con.close()
    assert kinds["Created"].startswith("TIMESTAMP") and kinds["Minutes"] == "DOUBLE"
    want = nl.read_leads(tmp_path / "export.csv", mapping=MAPPING, as_of="2026-05-10T00:00:00Z")
    got = nl.read_leads(url, mapping=MAPPING, table="leads", as_of="2026-05-10T00:00:00Z")
    pd.testing.assert_frame_equal(got.leads, want.leads)
    # an Ibis table works as well as a URL
    same = nl.read_leads(nl.connect(url).table("leads"), mapping=MAPPING, as_of="2026-05-10T00:00:00Z")
    pd.testing.assert_frame_equal(same.leads, want.leads)


def test_identifier_columns_are_never_selected(tmp_path: Path) -> None:
    """A view whose identifier column raises when read still imports: the column never leaves the database."""
    url = _duckdb_file(tmp_path / "w.db", _export())
    con = duckdb.connect(str(tmp_path / "w.db"))
    con.execute(
        "CREATE VIEW guarded AS SELECT * EXCLUDE (email), "
        "error('identifier read: ' || email)::VARCHAR AS email FROM leads"
    )
    con.close()
    with pytest.raises(Exception, match="identifier read"):  # reading it would fail
        nl.connect(url).table("guarded").select("email").to_pandas()
    imp = nl.read_leads(url, mapping=MAPPING, table="guarded", as_of="2026-05-10T00:00:00Z")
    assert len(imp.leads) == 900 and imp.dropped_identifiers == ["email"]
    assert not any("example.com" in str(v) for v in imp.leads.astype(str).to_numpy().ravel())


def test_missing_required_values_are_counted_in_the_database(tmp_path: Path) -> None:
    url = _duckdb_file(tmp_path / "w.db", _export(bad=True))
    with pytest.raises(nl.DataError) as e:
        nl.read_leads(url, mapping=MAPPING, table="leads")
    msg = str(e.value)
    assert "table 'leads' of duckdb:///" in msg and "arm: 2" in msg and "of 900 rows" in msg
    assert "on_error='drop'" in msg


def test_a_missing_table_or_column_is_one_clear_error(tmp_path: Path) -> None:
    url = _duckdb_file(tmp_path / "w.db", _export())
    with pytest.raises(nl.DataError, match=r"Table 'lead' not found in duckdb:///.*; its tables: leads\."):
        nl.read_leads(url, mapping=MAPPING, table="lead")
    with pytest.raises(nl.DataError) as e:
        nl.read_leads(url, mapping={**MAPPING, "arm": "Arm group"}, table="leads")
    msg = str(e.value)
    assert "maps to column 'Arm group', which table 'leads' of duckdb:///" in msg
    assert "its columns: Lead ID, Group, Created, Booked At, Line, Minutes, email." in msg
    with pytest.raises(nl.DataError, match=r"Name the table of duckdb:///.*; it has: leads"):
        nl.read_leads(url, mapping=MAPPING)
    with pytest.raises(nl.ParameterError, match="'table' parameter of read_leads"):
        nl.read_leads(tmp_path / "x.csv", mapping=MAPPING, table="leads")


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.read_text())))


def test_a_report_renders_from_a_duckdb_table(tmp_path: Path) -> None:
    df = _export()
    df = df[df["Line"] == "cardiology"]
    url = _duckdb_file(tmp_path / "w.db", df)
    mapping = tmp_path / "map.toml"
    mapping.write_text("[columns]\n" + "".join(f'{k} = "{v}"\n' for k, v in MAPPING.items()))
    out = tmp_path / "r"
    res = run_cli(
        "report", "--data", url, "--table", "leads", "--mapping", str(mapping), "--control", "control",
        "--out", str(out), "--jobs", "1",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.glob("*.html")) == ["cardiology.html", "index.html"]
    index = _text(out / "index.html")
    n = len(df)
    assert f"{n:,} rows read, {n:,} used, 0 dropped" in index
    assert "table 'leads' of duckdb:///" in index
    assert "example.com" not in index and "example.com" not in (out / "cardiology.html").read_text()
    # a URL without --table is refused with one message
    res = run_cli("report", "--data", url, "--mapping", str(mapping), "--control", "control", "--out", str(out))
    assert res.returncode == 2 and "name its leads table with --table NAME" in res.stderr
    assert res.stderr.count("\n") == 1


def test_render_reports_takes_the_table_in_read_options(tmp_path: Path) -> None:
    """The Python API: data=URL, read_options={'table': ...}; canonical names need no mapping; the
    manifest names the table, not a file."""
    url = _duckdb_file(tmp_path / "w.db", _export())
    con = duckdb.connect(str(tmp_path / "w.db"))
    con.execute("CREATE TABLE canon AS SELECT \"Lead ID\" AS lead_id, \"Group\" AS arm, \"Created\" AS created_at, "
                "\"Booked At\" AS booked_at, \"Line\" AS service_line, email FROM leads")  # fmt: skip
    con.close()
    leads, truth, man = render.prepare_data(
        tmp_path / "c", scenario=None, data=url, seed=0, n_leads=0,
        read_options={"table": "canon", "as_of": "2026-05-10T00:00:00Z"},
    )  # fmt: skip
    assert truth is None and man["data_file"] == f"table 'canon' of {url}" and man["n_leads"] == 900
    assert man["dropped_columns"] == ["email"] and pd.read_parquet(leads).shape[0] == 900


def test_problems_name_the_row_and_urls_hide_the_password(tmp_path: Path) -> None:
    from nurture_lab.io.warehouse import safe_url

    df = _export(n=50)
    df.loc[3, "Created"] = "2026-03-05 10:00"  # a local time with no zone to read it in
    url = _duckdb_file(tmp_path / "w.db", df)
    with pytest.raises(nl.DataError, match=r"table 'leads' of duckdb:///.*first at row 4: '2026-03-05 10:00'"):
        nl.read_leads(url, mapping=MAPPING, table="leads")
    assert safe_url("postgres://ana:s3cret@db.local:5432/crm") == "postgres://ana:***@db.local:5432/crm"
    assert safe_url("postgres://ana@db.local/crm") == "postgres://ana@db.local/crm"
