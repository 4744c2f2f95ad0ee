"""Analysis where the data live (issue 22): an Ibis table on a real DuckDB file, reduced in the database."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import nurture_lab as nl

from ..conftest import run_cli

duckdb = pytest.importorskip("duckdb")


def _frame(n: int = 12_000, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "fast", "slow"], n, p=[0.4, 0.3, 0.3])
    df = pd.DataFrame(
        {
            "arm": arm,
            "source": rng.choice(["web", "phone", "referral"], n),
            "booked": rng.random(n) < np.where(arm == "fast", 0.24, 0.2),  # bool
            "attended": (rng.random(n) < 0.15).astype(np.int64),  # 0/1 integers
            "spend": rng.gamma(2.0, 50.0, n),
            "n_touches": rng.poisson(3, n) + 1,
            "visits": rng.poisson(2, n),
            "returning": rng.random(n) < 0.3,  # a boolean pre-treatment covariate
            "prior_spend": rng.gamma(2.0, 40.0, n),  # a numeric one
        }
    )
    # an outcome of the arm, not a pre-treatment value: the covariate checks refuse it unless forced
    df["staff_minutes"] = 5 + 2 * (arm == "fast") + rng.normal(0, 1, n)
    return df


def _duckdb_file(path: Path, df: pd.DataFrame, table: str = "leads") -> str:
    con = duckdb.connect(str(path))  # DuckDB's own client: Ibis' create_table is never needed
    con.register("frame", df)
    con.execute(f"CREATE TABLE {table} AS SELECT * FROM frame")
    con.close()
    return f"duckdb:///{path}"


def _pg_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (Debian keeps them off the PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(dirs[-1]).parent if dirs else None


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A real PostgreSQL server for this module (a fresh cluster in a temporary folder, on a free port).

    Skipped, saying why, where PostgreSQL or psycopg is not installed (``make test`` installs them
    when it can). The server runs as the ``postgres`` user when the tests run as root.
    """
    pytest.importorskip("psycopg", reason="psycopg is not installed (the dev extra installs it)")
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql when it can)")
    root = Path(tempfile.mkdtemp(prefix="nl-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(root, "postgres")
        os.chmod(root, 0o700)
        as_user = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = root / "data"
    run = lambda *cmd: subprocess.run([*as_user, *cmd], capture_output=True, text=True, check=True)  # noqa: E731
    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start")
    try:
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], check=False)
        shutil.rmtree(root, ignore_errors=True)


def _postgres_table(url: str, df: pd.DataFrame, table: str) -> str:
    """Load a frame into PostgreSQL with psycopg's COPY (typed columns; no Ibis create_table)."""
    import psycopg

    sql_types = {"bool": "boolean", "int64": "bigint", "float64": "double precision"}
    cols = ", ".join(f'"{c}" {sql_types.get(str(t), "text")}' for c, t in df.dtypes.items())
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as con:
        con.execute(f'DROP TABLE IF EXISTS "{table}"')
        con.execute(f'CREATE TABLE "{table}" ({cols})')
        with con.cursor().copy(f'COPY "{table}" FROM STDIN') as copy:
            for row in df.itertuples(index=False):
                copy.write_row([v.item() if hasattr(v, "item") else v for v in row])
    return url


CALLS = [
    {"metrics": ["booked", "attended", "spend", nl.Ratio("visits", "n_touches")]},
    {"metrics": ["booked", "spend"], "by": "source", "correction": "bh"},
    {"metrics": ["booked"], "ci_method": "newcombe", "correction": "none", "alpha": 0.1},
    {"metrics": ["booked", "spend"], "sequential": True, "allocation": {"control": 0.4, "fast": 0.3, "slow": 0.3}},
    {"metrics": {"attended": "numeric", "spend": "numeric"}},
    {"metrics": ["booked", "spend"], "covariates": ["visits", "n_touches"]},  # Lin + HC2 in two SQL passes
    {"metrics": ["attended", "spend"], "covariates": ["visits", "returning"], "by": "source", "correction": "bh"},
    {"metrics": ["booked", "spend"], "bayesian": True, "prior": (0.0, 0.3), "lower_is_better": ["spend"]},
    {"metrics": ["booked", "spend", "attended"], "by": "source", "bayesian": True},  # pooled + Bayesian per group
    {"metrics": ["spend"], "covariates": ["prior_spend", "staff_minutes"], "force": True},  # forced, recorded
    {"metrics": ["booked", "spend"], "sequential": True, "correction": "holm", "by": "source"},
    {"metrics": ["booked", "spend"], "covariates": ["source", "prior_spend"]},  # a text category: indicators in SQL
]


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    """Loads a frame into a real engine and returns its table: a DuckDB file, or the PostgreSQL server."""
    if request.param == "duckdb":
        return lambda df, name="leads": nl.connect(_duckdb_file(tmp_path / f"{name}.db", df, name)).table(name)
    url = request.getfixturevalue("postgres")
    return lambda df, name="leads": nl.connect(_postgres_table(url, df, name)).table(name)


@pytest.mark.parametrize("kwargs", CALLS, ids=range(len(CALLS)))
def test_a_database_table_gives_the_pandas_result(engine: object, kwargs: dict) -> None:
    df = _frame()
    table = engine(df)  # type: ignore[operator]
    got = nl.analyze(table, arm="arm", control="control", **kwargs)
    want = nl.analyze(df, arm="arm", control="control", **kwargs)
    num = want.results.select_dtypes("number").columns
    pd.testing.assert_frame_equal(got.results.drop(columns=num), want.results.drop(columns=num))
    np.testing.assert_allclose(
        got.results[num].to_numpy(float), want.results[num].to_numpy(float), rtol=1e-9, atol=1e-12
    )
    assert got.srm["counts"] == want.srm["counts"]
    assert got.srm["p_value"] == pytest.approx(want.srm["p_value"], rel=1e-12)
    assert got.settings["computed_in"].startswith("the database")
    _assert_close({k: v for k, v in got.settings.items() if k != "computed_in"}, want.settings)
    assert got.warnings == want.warnings
    if kwargs.get("correction", "holm") == "holm" and want.settings["adjusted_alpha"] < want.settings["alpha"]:
        # Holm's adjusted intervals are wider than the plain ones (alpha / (m - R)), on both paths alike
        assert (
            got.results["adj_ci_high"] - got.results["adj_ci_low"]
            > got.results["diff_ci_high"] - got.results["diff_ci_low"]
        ).all()


def _assert_close(got: object, want: object, where: str = "settings") -> None:
    """Equal structure and values; floats to rtol 1e-9 (the two paths round differently)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), where
        for k in want:
            _assert_close(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), where
        for i, (a, b) in enumerate(zip(got, want)):
            _assert_close(a, b, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12, nan_ok=True), where
    else:
        assert got == want, where


def test_the_covariate_checks_run_in_the_database(engine: object) -> None:
    """The checks of the pandas path, from per-arm SQL moments: the same records, the same refusals."""
    df = _frame()
    table = engine(df)  # type: ignore[operator]
    opts = {"arm": "arm", "control": "control", "metrics": ["spend", "booked"]}
    got = nl.analyze(table, covariates=["prior_spend", "returning"], **opts)
    recs = got.settings["covariate_checks"]
    assert [(r["metric"], r["covariate"]) for r in recs] == [
        ("spend", "prior_spend"),
        ("spend", "returning"),
        ("booked", "prior_spend"),
        ("booked", "returning"),
    ]
    # independent: scipy's Welch test of the covariate between the raw rows of each arm and the control
    x = df["prior_spend"]
    p = min(stats.ttest_ind(x[df.arm == a], x[df.arm == "control"], equal_var=False).pvalue for a in ("fast", "slow"))
    assert recs[0]["balance_p"] == pytest.approx(p, rel=1e-9) and recs[0]["balanced"]
    messages = []
    for data in (table, df):
        with pytest.raises(nl.DataError, match=r"Covariate 'staff_minutes' is not balanced across arms \(welch t") as e:
            nl.analyze(data, covariates=["prior_spend", "staff_minutes"], **opts)
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    # a text category changed by the arm: the chi-square test on its category-by-arm counts, in SQL
    sent = df.assign(channel=np.where((df["arm"] == "fast") | (np.arange(len(df)) % 2 == 0), "sms", "email"))
    messages = []
    for data in (engine(sent, "sent"), sent):  # type: ignore[operator]
        with pytest.raises(nl.DataError, match=r"Covariate 'channel' is not balanced across arms \(chi-square") as e:
            nl.analyze(data, covariates=["channel"], **opts)
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    for data in (table, df.assign(copy=df["spend"] * 2 + 1)):
        if data is table:
            data = engine(df.assign(copy=df["spend"] * 2 + 1), "copied")  # type: ignore[operator]
        with pytest.raises(nl.DataError, match=r"Covariate 'copy' is collinear with metric 'spend'"):
            nl.analyze(data, covariates=["copy"], **opts)


def test_a_large_mean_keeps_its_variance(engine: object) -> None:
    """1e9 + N(0, 1): the database's VAR_SAMP keeps the unit variance a raw sum of squares would lose."""
    rng = np.random.default_rng(2)
    n = 20_000
    df = pd.DataFrame({"arm": np.repeat(["control", "treat"], n // 2), "y": 1e9 + rng.normal(0, 1, n)})
    df.loc[df["arm"] == "treat", "y"] += 0.05
    table = engine(df, "big")  # type: ignore[operator]
    row = nl.analyze(table, arm="arm", control="control", metrics=["y"]).row("y", "treat")
    a, c = df.loc[df.arm == "treat", "y"].to_numpy(), df.loc[df.arm == "control", "y"].to_numpy()
    welch = stats.ttest_ind(a - 1e9, c - 1e9, equal_var=False)  # independent: scipy on centred values
    se = np.sqrt((a - 1e9).var(ddof=1) / a.size + (c - 1e9).var(ddof=1) / c.size)
    assert (row["diff_ci_high"] - row["diff_ci_low"]) / 2 == pytest.approx(stats.norm.ppf(0.975) * se, rel=1e-3)
    assert row["p_value"] == pytest.approx(welch.pvalue, abs=1e-4)
    naive = ((a * a).sum() - a.sum() ** 2 / a.size) / (a.size - 1)  # what raw sums of squares give
    assert abs(naive - 1) > 0.5  # it would have lost the variance


def test_database_checks_and_errors(tmp_path: Path) -> None:
    df = _frame(600)
    created = pd.Timestamp("2026-01-01") + pd.to_timedelta(np.arange(len(df)), "h")
    url = _duckdb_file(tmp_path / "w.db", df.assign(spend=df["spend"].where(df.index % 100 != 3), created=created))
    table = nl.connect(url).table("leads")
    with pytest.raises(nl.DataError, match=r"Column 'spend' has 6 missing value\(s\) in the table"):
        nl.analyze(table, arm="arm", control="control", metrics=["spend"])
    with pytest.raises(nl.DataError, match=r"Metric column 'spnd' not found in the table; available columns: arm"):
        nl.analyze(table, arm="arm", control="control", metrics=["spnd"])
    with pytest.raises(nl.DataError, match=r"Control label 'ctrl' is not a value of column 'arm'"):
        nl.analyze(table, arm="arm", control="ctrl", metrics=["booked"])
    with pytest.raises(nl.DataError, match=r"declared binary but has values other than 0/1 in the table"):
        nl.analyze(table, arm="arm", control="control", metrics={"n_touches": "binary"})
    with pytest.raises(nl.DataError, match=r"Covariate 'created' is .*covariates must be numbers, booleans or text"):
        nl.analyze(table, arm="arm", control="control", metrics=["booked"], covariates=["created"])
    with pytest.raises(nl.ParameterError, match=r"'covariates' parameter of analyze must be empty with ratio metrics"):
        nl.analyze(table, arm="arm", control="control", metrics=[nl.Ratio("visits", "n_touches")], covariates=["spend"])
    with pytest.raises(nl.DataError, match=r"DuckDB file not found: .*nope.db"):
        nl.connect(f"duckdb:///{tmp_path / 'nope.db'}")


def test_cli_analyze_reads_a_duckdb_table_as_it_reads_the_file(tmp_path: Path) -> None:
    df = _frame(3000)
    url = _duckdb_file(tmp_path / "w.db", df)
    csv = tmp_path / "w.csv"
    df.to_csv(csv, index=False)
    opts = [
        "--arm",
        "arm",
        "--control",
        "control",
        "--metric",
        "booked",
        "--ratio",
        "visits/n_touches",
        "--bayesian",
        "--format",
        "json",
    ]
    db = run_cli("analyze", url, "--table", "leads", *opts)
    assert db.returncode == 0, db.stderr
    fl = run_cli("analyze", str(csv), *opts)
    a, b = json.loads(db.stdout)["results"], json.loads(fl.stdout)["results"]
    assert [(r["metric"], r["arm"]) for r in a] == [(r["metric"], r["arm"]) for r in b]
    for ra, rb in zip(a, b):
        assert ra["p_value"] == pytest.approx(rb["p_value"], rel=1e-9) and ra["diff"] == pytest.approx(
            rb["diff"], rel=1e-9
        )
    assert a[0]["chance_to_win"] == pytest.approx(b[0]["chance_to_win"], rel=1e-9)  # --bayesian in the database
    bad = run_cli("analyze", url, "--table", "lead", *opts)
    assert (
        bad.returncode == 2
        and "Table 'lead' not found in duckdb:///" in bad.stderr
        and "its tables: leads" in bad.stderr
    )


@pytest.mark.parametrize(
    ("metric", "margin", "higher"),
    [("booked", 0.02, True), ("attended", 0.02, False), ("opted_out", 0.01, False), ("spend", 5.0, True)],
)
def test_non_inferiority_on_a_table_gives_the_frame_result(
    engine: object, metric: str, margin: float, higher: bool
) -> None:
    """Guardrails from SQL sufficient statistics: binary (bool and 0/1; none at all: Newcombe) and numeric."""
    df = _frame(4000).assign(opted_out=0)  # an opt-out guardrail with no opt-outs at all
    table = engine(df)  # type: ignore[operator]
    got = nl.non_inferiority(table, "arm", "control", metric, margin, higher_is_better=higher)
    want = nl.non_inferiority(df, "arm", "control", metric, margin, higher_is_better=higher)
    num = want.results.select_dtypes("number").columns
    pd.testing.assert_frame_equal(got.results.drop(columns=num), want.results.drop(columns=num))
    np.testing.assert_allclose(got.results[num].to_numpy(float), want.results[num].to_numpy(float), rtol=1e-9)
    assert got.settings == want.settings
    if metric == "opted_out":  # it exists at zero events, and no opt-outs in any arm pass the guardrail
        assert got.results["test"].str.contains("newcombe").all() and got.results["non_inferior"].all()


def test_a_duckdb_url_reads_as_the_readme_writes_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """duckdb:///w.db is w.db in the working folder (the README's commands); four slashes an absolute
    path; Ibis' own three-slash absolute path is taken when nothing of that name is in the folder."""
    _duckdb_file(tmp_path / "w.db", _frame(300))
    monkeypatch.chdir(tmp_path)
    for url in ("duckdb:///w.db", "duckdb://w.db", f"duckdb:///{tmp_path / 'w.db'}", f"duckdb://{tmp_path / 'w.db'}"):
        assert "leads" in nl.connect(url).list_tables(), url
    with pytest.raises(nl.DataError, match=r"DuckDB file not found: nope.db .*duckdb:///file.db \(a path from"):
        nl.connect("duckdb:///nope.db")
