from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.io.example import make_example_export
from nurture_lab.reporting import content, render

from ..conftest import ROOT

#: The column mapping shipped with the package for the example export (equal to EXAMPLE_MAPPING; tested in io).
EXAMPLE_MAPPING_FILE = Path(nl.__file__).parent / "data" / "example_mapping.toml"

IDENTITY_RE = re.compile(r"@example\.org|\(\d{3}\) 555-\d{4}")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, render.ReportRun]:
    out = tmp_path_factory.mktemp("reports")
    summary = render.render_reports(
        service_lines=["orthopedics", "behavioral_health"], out=out, n_leads=6000, seed=3, jobs=2, progress=False
    )
    return out, summary


def test_reports_and_index_are_written(rendered: tuple[Path, dict]) -> None:
    out, summary = rendered
    assert not summary.failed
    for line in ("orthopedics", "behavioral_health"):
        assert (out / f"{line}.html").is_file() and (out / f"{line}.ipynb").is_file()
    index = (out / "index.html").read_text()
    assert 'href="orthopedics.html"' in index and 'href="behavioral_health.html"' in index
    assert not list(out.glob(".tmp-*"))


def test_report_content_agrees_with_analyze(rendered: tuple[Path, dict]) -> None:
    out, _ = rendered
    page = (out / "orthopedics.html").read_text()
    # no code, no prompts, no tracebacks, images embedded, nothing fetched from the internet
    assert "In&nbsp;[" not in page and "jp-InputArea" not in page and "Traceback" not in page
    assert "import nurture_lab" not in page
    assert page.count("data:image/png;base64,") >= 5
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", page)
    assert "<script" not in page
    assert not IDENTITY_RE.search(page)
    # the same numbers from nl.analyze on the same data
    res = nl.simulate(nl.load_scenario(ROOT / "simulations/speed_to_lead.toml"), seed=3, n_leads=6000)
    line = res.analysis_frame()
    line = line[line["service_line"] == "orthopedics"]
    a = nl.analyze(line, arm="arm", control="next_business_day", metrics=["booked_30d", "contacted", "attended"])
    for arm in ("within_5_min", "within_1_hour"):
        r = a.row("booked_30d", arm)
        assert f"{r['arm_value'] * 100:.1f}%" in page
        assert f"{r['diff'] * 100:+.1f} pts" in page
        assert f"{r['diff_ci_low'] * 100:+.1f} to {r['diff_ci_high'] * 100:+.1f}" in page
    rd = content.ReportData(
        "orthopedics",
        line.reset_index(drop=True),
        res.truth[res.truth.service_line == "orthopedics"],
        "next_business_day",
    )
    assert content.key_numbers(content.analyse_report(rd))["Difference"].iloc[0] in page
    assert "The estimate beside the true effect" in page
    assert "Methods" in page and "sha256" in page


def test_executed_notebook_has_no_errors_or_identities(rendered: tuple[Path, dict]) -> None:
    out, _ = rendered
    nb = nbformat.read(out / "orthopedics.ipynb", as_version=4)
    assert nb.metadata["papermill"]["parameters"]["service_line"] == "orthopedics"
    text = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    assert '"output_type": "error"' not in text
    assert not IDENTITY_RE.search(text)


def test_unknown_parameter_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError,
        match=r"Unknown report parameter\(s\) 'guardrail_margn'; the template .* takes: allocation, alpha, arm",
    ):
        render.render_reports(out=tmp_path, parameters={"guardrail_margn": 0.02}, progress=False)
    assert not any(tmp_path.iterdir())
    with pytest.raises(ValueError, match=r"Unknown service line\(s\) \['ortho'\]"):
        render.render_reports(out=tmp_path, service_lines=["ortho"], progress=False)


def test_a_failing_line_keeps_the_others_and_the_index(tmp_path: Path) -> None:
    tpl = nbformat.read(render.default_template(), as_version=4)
    tpl.cells.insert(
        2, nbformat.v4.new_code_cell('if service_line == "cardiology":\n    raise RuntimeError("boom in cardiology")')
    )
    bad = tmp_path / "tpl.ipynb"
    nbformat.write(tpl, bad)
    out = tmp_path / "out"
    out.mkdir()
    (out / "cardiology.html").write_text("previous good report")
    with pytest.raises(
        render.ReportError,
        match=r"1 of 2 report\(s\) failed \(cardiology: in the section .opening the data.: RuntimeError: boom in cardiology\)",
    ):
        render.render_reports(
            service_lines=["cardiology", "pediatrics"], out=out, n_leads=3000, template=bad, jobs=1, progress=False
        )
    assert (out / "cardiology.html").read_text() == "previous good report"  # never a half report
    assert (out / "pediatrics.html").is_file()
    index = (out / "index.html").read_text()
    assert "report failed" in index and "boom in cardiology" in index and 'href="pediatrics.html"' in index
    # every line failing for one reason: the reason said once, naming every line, and no "others"
    tpl.cells[2] = nbformat.v4.new_code_cell('raise RuntimeError("boom everywhere")')
    nbformat.write(tpl, bad)
    with pytest.raises(render.ReportError) as e:
        render.render_reports(
            service_lines=["cardiology", "pediatrics"], out=tmp_path / "o2", n_leads=3000, template=bad, jobs=1,
            progress=False,
        )  # fmt: skip
    msg = str(e.value)
    assert msg.count("boom everywhere") == 1 and "(cardiology, pediatrics: in the section" in msg
    assert "The index (saying so) was written" in msg and "others" not in msg


def _orthopedics_from_export(export: Path, out: Path) -> render.ReportRun:
    """The orthopedics report of a CRM export read through the shipped example mapping."""
    return render.render_reports(
        data=export,
        mapping=EXAMPLE_MAPPING_FILE,
        service_lines=["Orthopedics"],
        out=out,
        parameters={"control": "next_business_day"},
        jobs=1,
        progress=False,
    )


def test_report_from_a_real_export_has_no_identifiers_and_no_truth(tmp_path: Path) -> None:
    export = make_example_export(tmp_path / "export.csv", n_leads=3000, seed=5)
    raw = pd.read_csv(export)
    summary = _orthopedics_from_export(export, tmp_path / "r")
    page = Path(summary.reports["Orthopedics"]).read_text()
    for col in ("Full Name", "Email", "Mobile Phone"):
        for value in raw[col].head(200):
            assert value not in page
    assert "prefers mornings" not in page
    assert "true effect" not in page.lower()
    assert "real experiment" in page.lower() or "real data" in page.lower()


@pytest.mark.browser
def test_headless_chromium_renders_index_and_report(rendered: tuple[Path, dict], tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (make test installs it when it can)")
    out, _ = rendered
    for page in ("index.html", "orthopedics.html"):
        shot = tmp_path / f"{page}.png"
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=1000,1400",
                f"--screenshot={shot}",
                (out / page).as_uri(),
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert shot.is_file() and shot.stat().st_size > 20_000, page  # a rendered page, not a blank one


def test_values_from_the_data_are_escaped(tmp_path: Path) -> None:
    """An arm label '<script>alert(1)</script>' in a CRM export is text on every page, never code."""
    export = make_example_export(tmp_path / "export.csv", n_leads=3000, seed=5)
    raw = pd.read_csv(export, dtype=str, keep_default_na=False)
    raw["Variant"] = raw["Variant"].str.strip().replace({"within_5_min": "<script>alert(1)</script>"})
    raw.to_csv(export, index=False)
    run = _orthopedics_from_export(export, tmp_path / "r")
    for page in (Path(run.reports["Orthopedics"]), Path(run.index)):
        text = page.read_text()
        assert "<script>alert(1)" not in text and "<script" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in Path(run.reports["Orthopedics"]).read_text()


def test_zero_opt_outs_is_a_result_not_a_failure(tmp_path: Path) -> None:
    export = make_example_export(tmp_path / "export.csv", n_leads=3000, seed=6)
    raw = pd.read_csv(export, dtype=str, keep_default_na=False)
    raw["Unsubscribed"] = "FALSE"  # the best guardrail result: nobody opted out
    raw.to_csv(export, index=False)
    run = _orthopedics_from_export(export, tmp_path / "r")
    page = Path(run.reports["Orthopedics"]).read_text()
    assert "No opt-outs within the follow-up in any arm" in page


def test_the_output_folder_holds_only_the_reports_and_reruns_clean_up_after_themselves(tmp_path: Path) -> None:
    out = tmp_path / "desk"
    out.mkdir()
    (out / "my_notes.txt").write_text("keep me")  # a user's own file: never touched
    first = render.render_reports(
        service_lines=["cardiology", "pediatrics"], out=out, n_leads=4000, seed=2, jobs=1, progress=False
    )
    names = {p.name for p in out.iterdir()}
    assert names == {
        "index.html",
        "cardiology.html",
        "cardiology.ipynb",
        "pediatrics.html",
        "pediatrics.ipynb",
        "my_notes.txt",
        render.RUN_RECORD,
    }
    assert not first.failed
    render.render_reports(service_lines=["pediatrics"], out=out, n_leads=4000, seed=3, jobs=1, progress=False)
    names = {p.name for p in out.iterdir()}
    assert names == {"index.html", "pediatrics.html", "pediatrics.ipynb", "my_notes.txt", render.RUN_RECORD}
    nb = json.loads((out / "pediatrics.ipynb").read_text())
    assert nb["cells"]  # the executed notebook is kept beside its page


def test_a_wrong_control_on_real_data_is_refused_before_any_kernel_starts(tmp_path: Path) -> None:
    export = make_example_export(tmp_path / "export.csv", n_leads=2000, seed=5)
    mapping = EXAMPLE_MAPPING_FILE
    cli = [
        sys.executable,
        "-m",
        "nurture_lab",
        "report",
        "--data",
        str(export),
        "--mapping",
        str(mapping),
        "--out",
        str(tmp_path / "r"),
    ]
    t0 = time.perf_counter()
    res = subprocess.run([*cli, "--control", "nope"], capture_output=True, text=True)
    errors = [ln for ln in res.stderr.splitlines() if not ln.startswith("import: ")]  # the import's notes first
    assert res.returncode == 2 and len(errors) == 1, res.stderr
    assert (
        "control='nope': expected a value of column 'arm': next_business_day, within_1_hour, within_5_min" in res.stderr
    )
    assert time.perf_counter() - t0 < 20  # no kernel was started for it
    res = subprocess.run(
        [*cli, "--control", "next_business_day", "--param", "metric=booked30"], capture_output=True, text=True
    )
    assert res.returncode == 2 and "metric='booked30': expected a column of the data" in res.stderr
    assert not (tmp_path / "r" / "index.html").exists()


def test_segment_tables_show_sizes_and_no_impossible_numbers() -> None:
    from nurture_lab.reporting.content import ReportAnalysis, segment_table

    df = pd.DataFrame(
        {
            "arm": ["c"] * 300 + ["t"] * 300,
            "source": (["web"] * 290 + ["referral"] * 10) * 2,
            "y": [0] * 250 + [1] * 40 + [0] * 10 + [0] * 230 + [1] * 60 + [1] * 10,
        }
    )
    seg = nl.analyze(df, arm="arm", control="c", metrics=["y"], by="source")
    tab = segment_table(ReportAnalysis(seg, None, None, {"source": seg}), "source").set_index("Source")
    # each rate with its raw counts under it: bookings / leads
    assert tab.loc["referral", "Control"] == "0.0%\n0 / 10" and tab.loc["referral", "Arm value"] == "100.0%\n10 / 10"
    assert tab.loc["web", "Control"] == "13.8%\n40 / 290" and tab.loc["web", "Arm value"] == "20.7%\n60 / 290"
    assert tab.loc["referral", "Difference (95% CI)"] == "–" and tab.loc["referral", "Adjusted p"] == "–"
    assert tab.loc["referral", "Note"] == "too small to test"
    assert "pts" in tab.loc["web", "Difference (95% CI)"]


@pytest.mark.browser
def test_pages_fit_a_390_px_phone_without_horizontal_scrolling(
    rendered: tuple[Path, render.ReportRun], tmp_path: Path
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (make test installs it when it can)")
    out, _ = rendered
    for name in ("index.html", "orthopedics.html"):
        # the page in a 390-px frame (Chrome's windows are never that narrow) with a probe that reports
        # the page's own layout width to the frame's parent; the real page carries no script
        inner = (
            (out / name)
            .read_text()
            .replace(
                "</body>",
                "<script>window.onload = function () {"
                " var imgs = Array.from(document.querySelectorAll('picture img'));"
                " var phone = imgs.filter(function (i) { return i.currentSrc !== i.src; });"
                " var scale = Math.min.apply(null, phone.map(function (i) {"
                "   return i.getBoundingClientRect().width / i.naturalWidth; }).concat([9]));"
                " parent.document.title = 'W' + document.documentElement.scrollWidth + 'N' + imgs.length"
                "   + 'P' + phone.length + 'S' + scale.toFixed(3); };</script></body>",
            )
        )
        probe = tmp_path / f"probe-{name}"
        probe.write_text(
            f"<!DOCTYPE html><html><head><title>none</title></head><body style='margin:0'>"
            f"<iframe width='390' height='800' style='border:0' srcdoc=\"{html.escape(inner, quote=True)}\"></iframe>"
            "</body></html>"
        )
        dom = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=390,900",
                "--dump-dom",
                probe.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        ).stdout
        m = re.search(r"<title>W(\d+)N(\d+)P(\d+)S([\d.]+)</title>", dom)
        assert m is not None, dom[:300]
        width, n_img, n_phone, scale = int(m[1]), int(m[2]), int(m[3]), float(m[4])
        assert width <= 390, (name, width)
        # every chart takes its phone rendering, shown at (nearly) its own size: 9-pt text stays ~9 pt
        assert n_img == n_phone and (n_img > 0 or name == "index.html"), (name, n_img, n_phone)
        assert scale >= 0.95, (name, scale)
    page = (out / "orthopedics.html").read_text()
    assert 'data-label="Difference"' in page or 'data-label="Difference"' in page


def test_business_terms_agree_with_the_analysis(tmp_path: Path) -> None:
    from nurture_lab.reporting.content import analyse_report, business_terms

    run = render.render_reports(
        service_lines=["orthopedics"],
        out=tmp_path,
        n_leads=6000,
        seed=3,
        jobs=1,
        progress=False,
        parameters={"staff_cost_per_hour": 40.0, "alpha": 0.1, "currency": "eur"},
    )
    page = Path(run.reports["orthopedics"]).read_text()
    # every interval label follows alpha, the fixed text included
    assert "with 90% confidence intervals" in page and "95% confidence" not in page
    assert "In business terms" in page and "Staff cost per booking within 30 days" in page and "Test period" in page
    res = nl.simulate(nl.load_scenario("speed_to_lead"), seed=3, n_leads=6000)
    leads = res.analysis_frame()
    line = leads[leads["service_line"] == "orthopedics"].reset_index(drop=True)
    rd = content.ReportData("orthopedics", line, None, "next_business_day", staff_cost_per_hour=40.0, currency="EUR")
    dates, terms = business_terms(rd, analyse_report(rd))
    t = terms.set_index("Arm")
    booked = line.groupby("arm", observed=True)["booked_30d"].mean()
    rate, counts = t.loc["within 5 min", "Bookings within 30 days per 1,000 leads"].split("\n")
    assert rate == f"{booked['within_5_min'] * 1000:,.0f}"
    five = line[line["arm"] == "within_5_min"]
    assert counts == f"{int(five['booked_30d'].sum()):,} / {len(five):,}"  # the raw counts under the rate
    # staff minutes per booking of the decision's window (the column beside it), by hand
    minutes = line.groupby("arm", observed=True).apply(lambda g: g["staff_minutes"].sum() / g["booked_30d"].sum())
    assert (
        t.loc["next business day", "Staff minutes per booking within 30 days"] == f"{minutes['next_business_day']:,.1f}"
    )
    # money in the report's currency, and the same figure on the page
    cost = f"€{minutes['next_business_day'] / 60 * 40:,.2f}"
    assert t.loc["next business day", "Staff cost per booking within 30 days"] == cost and cost in page
    assert dates.startswith("Test period 20") and "leads: about" in dates


def test_a_lines_power_note_plans_for_the_effect_over_all_lines() -> None:
    res = nl.simulate(nl.load_scenario("speed_to_lead"), seed=3, n_leads=6000)
    leads = res.analysis_frame()
    line = leads[leads["service_line"] == "dental_implants"].reset_index(drop=True)
    rd = content.ReportData("dental_implants", line, res.truth, "next_business_day")
    t = nl.truth_in(res.truth)  # the test's own setting (the rollout truth is shown beside it)
    overall = t[(t["metric"] == "booked_30d") & (t["service_line"] == "all") & (t["arm"] != "next_business_day")]
    assert content.planned_effect(rd) == pytest.approx(overall["true_diff"].abs().max())
    real = content.ReportData("dental_implants", line, None, "next_business_day")
    assert content.planned_effect(real) is None


def test_the_index_states_the_staff_a_rollout_needs(rendered: tuple[Path, render.ReportRun]) -> None:
    import math

    out, _ = rendered
    index = " ".join(re.sub(r"<[^>]+>", " ", html.unescape((out / "index.html").read_text())).split())
    m = re.search(
        r"Staffing for (.+?) everywhere: about (\d+) agents on shift, (?:(\d+) (more|fewer) than|as many as) the "
        r"(\d+) on shift today, (?:as many as|(\d+) (more|fewer) than) .+? would need \((\d+)\), for ([\d,]+) hours "
        r"of agent work a week",
        index,
    )
    assert m is not None
    need, now, base = int(m.group(2)), int(m.group(5)), int(m.group(8))
    # the differences a leader budgets: against today's agents and the control's, as stated
    assert need - now == (0 if m.group(3) is None else int(m.group(3)) * (1 if m.group(4) == "more" else -1))
    assert need - base == (0 if m.group(6) is None else int(m.group(6)) * (1 if m.group(7) == "more" else -1))
    assert ("the work waited for agents" in index) == (need > now)
    # the hours from the same leads, computed here: the arm's staff minutes per lead x leads a week
    res = nl.simulate(nl.load_scenario("speed_to_lead"), seed=3, n_leads=6000, truth=False)
    L = res.leads
    arm = {content.arm_label(a): a for a in L["arm"].astype(str).unique()}[m.group(1)]
    days = (L["created_at"].max() - L["created_at"].min()).total_seconds() / 86400
    expect = L.loc[L["arm"] == arm, "staff_minutes"].mean() * len(L) / days * 7 / 60
    hours = float(m.group(9).replace(",", ""))
    assert hours == pytest.approx(expect, abs=0.5)
    # the agents follow from the hours, checked with the closed form of Erlang C
    n = int(m.group(2))
    load = hours / content.STAFFED_HOURS_A_WEEK

    def wait(k: int) -> float:
        top = load**k / math.factorial(k) * k / (k - load)
        return top / (sum(load**j / math.factorial(j) for j in range(k)) + top)

    assert n > load and wait(n) <= 0.2 + 1e-3
    assert n - 1 <= load or wait(n - 1) > 0.2 - 1e-3


def test_a_kernel_that_dies_mid_report_fails_that_report_only(tmp_path: Path) -> None:
    """The kernel exits in the middle of one line's report: that report fails with the reason, a new
    kernel renders the next line, and the run ends (it once waited forever for the dead kernel's output)."""
    tpl = nbformat.read(render.default_template(), as_version=4)
    tpl.cells.insert(2, nbformat.v4.new_code_cell('if service_line == "cardiology":\n    import os\n    os._exit(1)'))
    bad = tmp_path / "tpl.ipynb"
    nbformat.write(tpl, bad)
    out = tmp_path / "out"
    t0 = time.monotonic()
    with pytest.raises(render.ReportError, match=r"1 of 2 report\(s\) failed \(cardiology: the kernel died"):
        render.render_reports(
            service_lines=["cardiology", "pediatrics"], out=out, n_leads=3000, template=bad, jobs=1, progress=False
        )
    assert time.monotonic() - t0 < 120
    assert not (out / "cardiology.html").exists()
    assert (out / "pediatrics.html").is_file()
    assert "the kernel died" in (out / "index.html").read_text()


def test_an_unknown_currency_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(nl.ParameterError, match=r"currency='dollars'.*ISO 4217"):
        render.render_reports(service_lines=["orthopedics"], out=tmp_path, parameters={"currency": "dollars"})
    assert not (tmp_path / "index.html").exists()


@pytest.mark.browser
def test_pages_hide_no_column_at_1280_px(rendered: tuple[Path, render.ReportRun], tmp_path: Path) -> None:
    """At a laptop's 1280 px every table shows all its columns (none behind a scrollbar) and the page
    does not scroll sideways: measured by real headless Chromium, as the phone test does."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("headless Chromium is not installed (make test installs it when it can)")
    out, _ = rendered
    for name in ("index.html", "orthopedics.html", "behavioral_health.html"):
        inner = (
            (out / name)
            .read_text()
            .replace(
                "</body>",
                "<script>window.onload = function () {"
                " var t = Array.from(document.querySelectorAll('table'));"
                " var hidden = t.filter(function (x) { return x.scrollWidth > x.clientWidth + 1; }).length;"
                " parent.document.title = 'W' + document.documentElement.scrollWidth + 'T' + t.length"
                "   + 'H' + hidden; };</script></body>",
            )
        )
        probe = tmp_path / f"probe-{name}"
        probe.write_text(
            f"<!DOCTYPE html><html><head><title>none</title></head><body style='margin:0'>"
            f"<iframe width='1280' height='900' style='border:0' srcdoc=\"{html.escape(inner, quote=True)}\"></iframe>"
            "</body></html>"
        )
        dom = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=1300,1000",
                "--dump-dom",
                probe.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        ).stdout
        m = re.search(r"<title>W(\d+)T(\d+)H(\d+)</title>", dom)
        assert m is not None, dom[:300]
        width, tables, hidden = int(m[1]), int(m[2]), int(m[3])
        assert width <= 1280, (name, width)
        assert tables >= (1 if name == "index.html" else 5), (name, tables)
        assert hidden == 0, f"{name}: {hidden} table(s) hide columns behind a scrollbar at 1280 px"


def test_index_rows_name_the_arms_and_every_page_links_back(rendered: tuple[Path, render.ReportRun]) -> None:
    from bs4 import BeautifulSoup

    out, _ = rendered
    soup = BeautifulSoup((out / "index.html").read_text(), "html.parser")
    arms = [content.arm_label(a) for a in nl.load_scenario("speed_to_lead").experiment.arm_names]
    rows = soup.select("table.index tbody tr")
    assert len(rows) == 2
    for tr in rows:
        sizes = tr.find("td", attrs={"data-label": "Leads per arm"}).get_text()
        assert all(re.search(re.escape(a) + r" [\d,]+", sizes) for a in arms), sizes
    for line in ("orthopedics", "behavioral_health"):
        page = BeautifulSoup((out / f"{line}.html").read_text(), "html.parser")
        assert page.find("a", href="index.html") is not None, line


#: Words a reader may not know, and the glossary entry that explains each.
JARGON = {
    "alpha": "Alpha",
    "confidence interval": "Interval (CI)",
    " CI": "Interval (CI)",
    "adjusted": "Adjusted",
    "guardrail": "Guardrail",
    "non-inferiority": "Non-inferiority",
    "pooled": "Pooled",
    "seed": "Seed",
    "power": "Power",
    "p-value": "p-value",
    "p =": "p-value",
    "points": "Points",
    "follow-up": "Follow-up",
    "chi-square": "Sample ratio check",
    "sample ratio": "Sample ratio check",
    "log-rank": "Time-to-book methods",
    "kaplan": "Time-to-book methods",
    "cox": "Time-to-book methods",
    "erlang": "Erlang C",
    "holm": "Adjusted",
    "wald": "Methods note terms",
    "welch": "Methods note terms",
    "delta method": "Methods note terms",
    "heterogeneity": "Heterogeneity test",
    "bayesian": "Chance to beat the control",
    "planned mde": "Target",
    "decision interval": "Decision interval",
}


def test_every_page_ends_with_a_glossary_of_the_jargon_it_uses(rendered: tuple[Path, render.ReportRun]) -> None:
    from bs4 import BeautifulSoup

    from nurture_lab.reporting.html import GLOSSARY

    out, _ = rendered
    for name in ("index.html", "orthopedics.html"):
        soup = BeautifulSoup((out / name).read_text(), "html.parser")
        head = soup.find("h2", id="glossary")
        assert head is not None, name
        defined = {dt.get_text().rstrip(":") for dt in soup.select("dl.glossary dt")}
        assert defined == set(GLOSSARY)
        above = " ".join(
            el.get_text(" ")
            for el in head.find_all_previous(string=False)
            if el.name in ("p", "td", "th", "li", "blockquote", "h2")
        ).lower()
        used = {entry for word, entry in JARGON.items() if word.lower() in above}
        assert used <= defined, (name, used - defined)
        assert {"Alpha", "Adjusted", "Guardrail", "Non-inferiority", "Seed", "Power"} <= defined


def _text(node) -> str:
    text = re.sub(r"\s+", " ", node.get_text(" ", strip=True))
    return re.sub(r" ([,.:;)])", r"\1", text).strip()


def _plain(markdown: str) -> str:
    from bs4 import BeautifulSoup

    return _text(BeautifulSoup(html.unescape(markdown.replace("**", "")), "html.parser"))


def test_index_and_every_page_state_the_one_decision(rendered: tuple[Path, dict]) -> None:
    """Parse the rendered decision statements: the index's headline and each row, each page's verdict
    and key numbers' verdict column; all equal the one decision, recomputed here from the same data."""
    from bs4 import BeautifulSoup

    from nurture_lab.reporting.decision import decide

    out, _ = rendered
    index = BeautifulSoup((out / "index.html").read_text(), "html.parser")
    headline = _text(index.select_one("blockquote.decision"))
    lines_text = _text(index.select_one("p.lines"))
    rows = {
        tr.select_one("a")["href"].removesuffix(".html"): _text(tr.select_one("td.line-verdict"))
        for tr in index.select("table.index tbody tr")
    }
    # the same function on the same inputs (every lead of the run, the report's defaults)
    leads = nl.simulate(
        nl.load_scenario(ROOT / "simulations/speed_to_lead.toml"), seed=3, n_leads=6000
    ).analysis_frame()
    dec = decide(leads, control="next_business_day", staffed_agents=32)
    assert headline == _plain(dec.run_sentence()) and lines_text == _plain(dec.lines_sentence())
    assert [_plain(x) for x in dec.worth_items()] == [_text(li) for li in index.select("ul.worth li")]
    for line in ("orthopedics", "behavioral_health"):
        assert rows[line] == _plain(dec.line_sentence(line))
        page = BeautifulSoup((out / f"{line}.html").read_text(), "html.parser")
        verdict = next(h for h in page.find_all("h2") if h.get_text(strip=True).startswith("Verdict"))
        paragraphs = [_text(p) for p in verdict.find_next("blockquote").find_all("p")]
        assert paragraphs == [headline, lines_text, "This line: " + rows[line]]
        key = next(t for t in page.find_all("table") if "Verdict" in [_text(th) for th in t.select("thead th")])
        verdicts = [_text(td) for td in key.select("td[data-label='Verdict']")]
        assert f"{dec.short_status()} (over all lines)" in verdicts
        # no other verdict word on the page contradicts it; other intervals say they do not decide
        text = _text(page)
        assert "Inconclusive" not in text and "recommend" not in text.lower()
        assert "does not decide" in text


def test_a_simulated_page_states_the_first_call_wait_the_lint_states(rendered: tuple[Path, render.ReportRun]) -> None:
    """The report says what queue wait the staffing leads to expect, with the lint's figure (one estimate)."""
    import html as html_mod
    import re

    out, _ = rendered
    sc = nl.load_scenario(ROOT / "simulations/speed_to_lead.toml")
    lint = next(f for f in nl.lint_scenario(sc, n_leads=6000).findings if f.rule == "first_call_wait")
    lint_wait = re.search(r"a first call waits (.+?) on average", lint.message)
    assert lint_wait is not None
    for line in ("orthopedics", "behavioral_health"):
        page = html_mod.unescape((out / f"{line}.html").read_text())
        said = re.search(
            r"With 32 agents on shift for 6,000 leads over \d+ days, a first call is expected to wait (.+?) on", page
        )
        assert said is not None, line
        assert said.group(1) == lint_wait.group(1)


def test_a_real_export_page_claims_no_staffing_wait(tmp_path: Path) -> None:
    summary = _orthopedics_from_export(
        make_example_export(tmp_path / "export.csv", n_leads=3000, seed=5), tmp_path / "r"
    )
    assert "expected to wait" not in Path(summary.reports["Orthopedics"]).read_text()
