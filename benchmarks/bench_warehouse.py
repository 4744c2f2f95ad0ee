"""Warehouse benchmark: ``nl.analyze`` on a DuckDB table (2 metrics and a ratio), in the database.

Beside it, in the same run: a hand-written ``GROUP BY`` of the same statistics (count, sums,
VAR_SAMP, COVAR_SAMP) on the same file (the fastest form: in double precision), and the pandas path on the same rows. Each case runs in a
fresh process, so its peak memory is its own; the database cases are timed at two sizes to show
that their memory does not grow with the rows. Target: analyze <= 2x the hand-written query.
Run: ``.venv/bin/python benchmarks/bench_warehouse.py [ROWS]`` (default 10,000,000).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from _measure import in_subprocess, run_case

METRICS = ["booked", "spend"]
QUERY = """
SELECT arm, COUNT(*) AS n,
       SUM(CAST(booked AS DOUBLE)) AS s_b, VAR_SAMP(CAST(booked AS DOUBLE)) AS v_b,
       SUM(spend) AS s_s, VAR_SAMP(spend) AS v_s,
       SUM(CAST(visits AS DOUBLE)) AS s_v, VAR_SAMP(CAST(visits AS DOUBLE)) AS v_v,
       SUM(CAST(n_touches AS DOUBLE)) AS s_t, VAR_SAMP(CAST(n_touches AS DOUBLE)) AS v_t,
       COVAR_SAMP(CAST(visits AS DOUBLE), CAST(n_touches AS DOUBLE)) AS c_vt
FROM leads GROUP BY 1
"""


def make(path: Path, rows: int) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    con.execute(
        f"""CREATE TABLE leads AS SELECT
              CASE WHEN random() < 0.5 THEN 'control' ELSE 'treat' END AS arm,
              random() < 0.2 AS booked, 50 + 20 * random() AS spend,
              CAST(floor(random() * 5) AS BIGINT) AS visits, CAST(1 + floor(random() * 6) AS BIGINT) AS n_touches
            FROM range({rows})"""
    )
    con.close()


def case(kind: str, path: str) -> dict[str, float]:
    import nurture_lab as nl

    if kind == "analyze":
        table = nl.connect(f"duckdb:///{path}").table("leads")
        metrics = [*METRICS, nl.Ratio("visits", "n_touches")]
        return run_case(lambda: nl.analyze(table, arm="arm", control="control", metrics=metrics) and None, repeat=3)
    if kind == "group_by":
        import duckdb

        con = duckdb.connect(path, read_only=True)
        return run_case(lambda: con.execute(QUERY).fetchall() and None, repeat=3)
    import duckdb

    df = duckdb.connect(path, read_only=True).execute("SELECT * FROM leads").df()
    metrics = [*METRICS, nl.Ratio("visits", "n_touches")]
    return run_case(lambda: nl.analyze(df, arm="arm", control="control", metrics=metrics) and None, repeat=3)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    with tempfile.TemporaryDirectory() as tmp:
        for n in (rows // 10, rows):
            path = Path(tmp) / f"w{n}.db"
            make(path, n)
            res = {k: in_subprocess(__file__, k, str(path)) for k in ("group_by", "analyze", "pandas")}
            g, a, p = res["group_by"], res["analyze"], res["pandas"]
            print(
                f"{n:>11,} rows: GROUP BY {g['seconds']:.3f} s | analyze (DuckDB) {a['seconds']:.3f} s "
                f"= {a['seconds'] / g['seconds']:.2f}x, peak {a['peak_rss_mb'] - a['baseline_rss_mb']:.0f} MB over "
                f"its baseline | pandas path {p['seconds']:.3f} s, peak {p['peak_rss_mb']:.0f} MB"
            )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--case":
        print(json.dumps(case(sys.argv[2], sys.argv[3])))
    else:
        main()
