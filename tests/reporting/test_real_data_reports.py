"""Reports from real exports that lack optional columns, and runs where a line fails (issue 22)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from nurture_lab.reporting import render

from ..conftest import run_cli


def _bare_export(path: Path, outcome: str, n: int = 1600, seed: int = 11) -> Path:
    """An export written by hand: the required columns, one outcome, two service lines, nothing else."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "fast"], n)
    created = pd.Timestamp("2026-03-02T14:00:00Z") + pd.to_timedelta(rng.uniform(0, 50, n), unit="D")
    booked = rng.random(n) < np.where(arm == "fast", 0.32, 0.22)
    cols: dict[str, object] = {
        "lead_id": [f"R{i:05d}" for i in range(n)],
        "arm": arm,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "service_line": rng.choice(["cardiology", "pediatrics"], n),
    }
    if outcome == "booked":
        cols["booked"] = np.where(booked, "yes", "no")
    else:
        at = created + pd.to_timedelta(rng.uniform(0.05, 25, n), unit="D")
        cols["booked_at"] = np.where(booked, at.strftime("%Y-%m-%dT%H:%M:%SZ"), "")
    pd.DataFrame(cols).to_csv(path, index=False)
    return path


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.read_text())))


@pytest.mark.parametrize("outcome", ["booked", "booked_at"])
def test_a_report_from_only_the_required_columns_renders_every_page(tmp_path: Path, outcome: str) -> None:
    export = _bare_export(tmp_path / "export.csv", outcome)
    run = render.render_reports(
        data=export, out=tmp_path / "r", parameters={"control": "control"}, jobs=1, progress=False
    )
    assert not run.failed and sorted(run.reports) == ["cardiology", "pediatrics"]
    for line in ("cardiology", "pediatrics"):
        page = _text(Path(run.reports[line]))
        for part in (
            "Verdict",
            "Key numbers",
            "In business terms",
            "Funnel by arm",
            "Guardrails",
            "Segments",
            "Methods",
        ):
            assert part in page, (line, part)
        # the parts that need a missing column say so, each naming the column
        assert "Left out: the comparison by lead source needs the column source" in page
        assert "Left out: the comparison by audience needs the column audience" in page
        if outcome == "booked":
            assert "Left out: the time-to-book curve needs booking times" in page
            assert "primary metric: booked" in page  # no booked_30d without booking times: said, not failed
        else:
            assert "Left out: the time-to-book curve" not in page
        nb = nbformat.read(Path(run.reports[line]).with_suffix(".ipynb"), as_version=4)
        assert '"output_type": "error"' not in json.dumps([c.get("outputs", []) for c in nb.cells])
    index = _text(Path(run.index))
    assert "report failed" not in index and "All service lines together" in index


def test_an_export_with_no_service_line_and_local_times_gets_one_report_and_an_index(tmp_path: Path) -> None:
    """A CRM export as a team has it: no service line, no audience, local times with no zone, the
    lead's e-mail and phone beside the outcome. The CLI renders one page for all leads and the index,
    and no identifier reaches any file it writes."""
    rng = np.random.default_rng(5)
    n = 900
    arm = rng.choice(["Control", "Fast Call"], n)
    created = pd.Timestamp("2026-03-02 08:00") + pd.to_timedelta(rng.uniform(0, 20, n), unit="D")  # over DST
    booked = rng.random(n) < np.where(arm == "Fast Call", 0.30, 0.22)
    at = created + pd.to_timedelta(rng.uniform(0.1, 20, n), unit="D")
    emails = [f"person{i}@example.org" for i in range(n)]
    phones = [f"(555) 01{i % 10}-{1000 + i}" for i in range(n)]
    pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "arm": arm,
            "created_at": created.strftime("%Y-%m-%d %H:%M"),
            "booked_at": np.where(booked, at.strftime("%Y-%m-%d %H:%M"), ""),
            "email": emails,
            "phone": phones,
        }
    ).to_csv(tmp_path / "export.csv", index=False)
    out = tmp_path / "r"
    r = run_cli(
        "report", "--data", str(tmp_path / "export.csv"), "--timezone", "America/Chicago",
        "--control", "Control", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert (out / "index.html").exists() and (out / "all.html").exists()
    index = _text(out / "index.html")
    assert "report failed" not in index and "Fast Call" in index
    written = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file() and p.suffix != ".png")
    assert not any(e in written for e in emails[:50]) and not any(p in written for p in phones[:50])


def test_a_failed_line_blocks_the_recommendation_and_keeps_its_notebook(tmp_path: Path) -> None:
    export = _bare_export(tmp_path / "export.csv", "booked_at")
    tpl = nbformat.read(render.default_template(), as_version=4)
    at = next(i for i, c in enumerate(tpl.cells) if c.source.startswith("## Segments"))
    tpl.cells.insert(
        at + 1, nbformat.v4.new_code_cell('if service_line == "cardiology":\n    rd.leads["intent"].nunique()')
    )
    bad = tmp_path / "tpl.ipynb"
    nbformat.write(tpl, bad)
    out = tmp_path / "r"
    with pytest.raises(
        render.ReportError, match=r"cardiology: in the section .Segments.: the data have no column 'intent'"
    ):
        render.render_reports(
            data=export, out=out, parameters={"control": "control"}, template=bad, jobs=1, progress=False
        )
    index_html = (out / "index.html").read_text()
    index = _text(out / "index.html")
    # which line failed and why, in words (not a cell number), and no recommendation over it
    assert "report failed in the section “Segments”: the data have no column 'intent'" in index
    assert not re.search(r"\bcell \d", index)
    overall = index[index.index("All service lines together") : index.index("By service line")]
    assert "No recommendation" in overall and "recommend" not in overall.replace("No recommendation", "")
    row = next(r for r in index_html.split("<tr>") if 'href="pediatrics.html"' in r)
    assert "report failed" not in row and "fast" in row  # the line that ran keeps its own verdict
    assert 'href="pediatrics.html"' in index_html and (out / "pediatrics.html").is_file()
    assert not (out / "cardiology.html").exists()
    # the failed line's executed notebook is kept beside its error, with the error in it
    kept = out / "cardiology.failed.ipynb"
    assert 'href="cardiology.failed.ipynb"' in index_html
    nb = nbformat.read(kept, as_version=4)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert len(errors) == 1 and errors[0]["ename"] == "KeyError"
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))  # ran until then


def test_import_notes_reach_the_terminal_the_index_and_every_page(tmp_path: Path) -> None:
    export = _bare_export(tmp_path / "export.csv", "booked_at", n=1200)
    raw = pd.read_csv(export, dtype=str, keep_default_na=False)
    raw.loc[:3, "booked_at"] = "2026-01-01T00:00:00Z"  # booked before created: 4 unusable rows
    raw.loc[4:9, "created_at"] = raw.loc[4:9, "created_at"].str.replace("Z", "").str.replace("T", " ")  # local times
    raw.to_csv(export, index=False)
    out = tmp_path / "r"
    res = run_cli(
        "report", "--data", str(export), "--control", "control", "--out", str(out), "--jobs", "1",
        "--on-error", "drop", "--timezone", "America/Chicago",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    wanted = [
        "1,200 rows read, 1,196 used, 4 dropped (booked_at not a time after created_at",
        "zone rule: 6 time(s) without a UTC offset (created_at 6) read in America/Chicago (timezone=)",
        "created_at dates read year-month-day (ISO)",
        "as_of 2026-",
        "follow-up (created_at to as_of):",
        "leads were followed less than the 30 days of booked_30d",
    ]
    for text in wanted:
        assert any(ln.startswith("import: ") and text in ln for ln in res.stderr.splitlines()), text
    index = _text(out / "index.html")
    assert "What the import did" in index
    for line in ("cardiology", "pediatrics"):
        page = _text(out / f"{line}.html")
        methods = page[page.index("Methods") :]
        for text in wanted:
            assert text in index and text in methods, (line, text)


def test_a_line_failing_on_its_own_data_leaves_no_page_with_a_decision_the_index_withholds(tmp_path: Path) -> None:
    """Real bad data, no mock: the control cadence never ran for cardiology (every cardiology lead is on
    'fast'), so that line's report fails while the run's decision can still be made over all leads. The
    index withholds it; the page already rendered for pediatrics must then withhold it too, in the same
    words, and so must every notebook written (the failed one kept for debugging included)."""
    from bs4 import BeautifulSoup

    from nurture_lab.io.crm import read_leads
    from nurture_lab.reporting.decision import decide

    export = _bare_export(tmp_path / "export.csv", "booked_at")
    raw = pd.read_csv(export, dtype=str, keep_default_na=False)
    raw.loc[raw["service_line"] == "cardiology", "arm"] = "fast"
    raw.to_csv(export, index=False)
    # the decision over all leads exists: without the fix the pediatrics page states it
    withheld = decide(read_leads(export).leads, control="control")
    out = tmp_path / "r"
    with pytest.raises(render.ReportError, match=r"1 of 2 report\(s\) failed \(cardiology: .*'control' is not a value"):
        render.render_reports(data=export, out=out, parameters={"control": "control"}, jobs=1, progress=False)

    def plain(node) -> str:  # type: ignore[no-untyped-def]
        return re.sub(r"\s+", " ", node.get_text(" ", strip=True)).replace(" :", ":").strip()

    index = BeautifulSoup((out / "index.html").read_text(), "html.parser")
    headline = plain(index.select_one("blockquote.decision"))
    assert headline.startswith("No recommendation: the decision could not be made (the report of 1 of 2 service")
    assert "cardiology" in headline and index.select_one("p.lines") is None and index.select_one("ul.worth") is None
    row = next(tr for tr in index.select("table.index tbody tr") if tr.select_one('a[href="pediatrics.html"]'))
    assert plain(row.select_one("td.line-verdict")) == "No verdict: the run has none (above)."
    # only the pages published after the decision was final: no leftover from the first rendering
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "cardiology.failed.ipynb",
        "index.html",
        "pediatrics.html",
        "pediatrics.ipynb",
    ]
    page = BeautifulSoup((out / "pediatrics.html").read_text(), "html.parser")
    verdict = next(h for h in page.find_all("h2") if h.get_text(strip=True).startswith("Verdict"))
    assert [plain(p) for p in verdict.find_next("blockquote").find_all("p")] == [headline]
    tables = [[plain(th) for th in t.select("thead th")] for t in page.find_all("table")]
    assert tables and not any("Verdict" in heads for heads in tables)  # no status column without a decision
    assert "No row has a verdict: the run has no decision" in plain(page) and "Verdict column" not in plain(page)
    alts = [" ".join(img["alt"].split()) for img in page.select("picture img")]
    assert any("no decision: see the verdict" in a for a in alts) and not any("decision's interval" in a for a in alts)
    # the decision the index withholds is stated nowhere: no page, no notebook
    stated = _plain_md(withheld.run_sentence())
    for f in (out / "pediatrics.html", out / "pediatrics.ipynb", out / "cardiology.failed.ipynb"):
        text = plain(BeautifulSoup(html.unescape(f.read_text()), "html.parser"))
        assert stated[:60] not in text, f.name
    for name in ("pediatrics.ipynb", "cardiology.failed.ipynb"):
        nb = nbformat.read(out / name, as_version=4)
        verdicts = [
            str(o["data"]["text/markdown"])
            for c in nb.cells
            for o in c.get("outputs", [])
            if str(o.get("data", {}).get("text/markdown", "")).startswith("## Verdict")
        ]
        assert verdicts and all("**No recommendation**" in v for v in verdicts), name
    assert "This report failed" in nbformat.read(out / "cardiology.failed.ipynb", as_version=4).cells[0].source


def _plain_md(markdown: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", markdown.replace("**", "")))).strip()


def test_a_refused_export_leaves_no_folder_and_keeps_an_existing_one(tmp_path: Path) -> None:
    """render_reports makes the output folder before any work (an unwritable one fails at once); an
    export refused afterwards (a control arm that is not in it) removes the folders it made, and
    leaves one that was there."""
    from nurture_lab.errors import NurtureLabError

    export = _bare_export(tmp_path / "export.csv", "booked", n=200)
    through = tmp_path / "gone" / ".." / "mine"  # through a new folder and back to one that was there
    for out, kept in (
        (tmp_path / "new" / "r", None),
        (tmp_path / "mine" / "r", tmp_path / "mine"),
        (through, tmp_path / "mine"),
    ):
        if kept is not None:
            kept.mkdir(exist_ok=True)
        with pytest.raises(NurtureLabError, match="Control"):
            render.render_reports(data=export, out=out, parameters={"control": "Control"}, jobs=1, progress=False)
        assert not (tmp_path / "new").exists() and not (tmp_path / "gone").exists()
        assert kept.is_dir() if kept is not None else not out.exists()
