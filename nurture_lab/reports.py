"""Leadership reports: one papermill-parameterised, code-free HTML report per service line, plus an index.

The parent process prepares the data once (simulates the scenario, or imports a real export), then
executes ``notebooks/report_template.ipynb`` once per service line in worker processes: papermill
injects the parameters (refusing unknown ones first), nbclient runs the notebook on one warm
kernel per worker (a clean namespace per report; the kernel start and the imports are paid once),
exports each to self-contained HTML (nbconvert, no code, no prompts, images embedded, nothing
fetched from the internet) and writes ``DIR/<service_line>.html``, the executed notebook beside it,
and ``DIR/index.html`` with each line's headline. Every file is written to a temporary file and
renamed, so a failing line never leaves a half report and never touches the others.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import html
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import _io
from .analysis import AnalysisResult, NonInferiorityResult, TimeToBookResult, analyze, non_inferiority, time_to_book
from .errors import DataError, NurtureLabError
from .population import IDENTITY_COLUMNS

__all__ = [
    "ReportAnalysis",
    "ReportData",
    "ReportError",
    "analyse_report",
    "headline",
    "load_report_data",
    "render_reports",
]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEMPLATE = ROOT / "notebooks" / "report_template.ipynb"
METRIC_LABELS = {
    "booked_30d": "30-day bookings",
    "booked_7d": "7-day bookings",
    "booked": "bookings",
    "contacted": "contact rate",
    "qualified": "qualification rate",
    "attended": "kept appointments",
    "opted_out": "opt-outs",
    "lost": "leads lost to a competitor",
    "staff_minutes": "staff minutes per lead",
}
REPORT_METRICS = ("booked_30d", "contacted", "attended", "opted_out")


class ReportError(NurtureLabError):
    """One or more reports failed; the others and the index were written."""


def slug(name: str) -> str:
    """A file-name-safe form of a service line's name."""
    import re

    return re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_") or "all"


def metric_label(m: str) -> str:
    return METRIC_LABELS.get(m, m.replace("_", " "))


def arm_label(a: str) -> str:
    return str(a).replace("_", " ")


# --------------------------------------------------------------------------------------
# Data for one report


@dataclass
class ReportData:
    """What one report is about: the line's leads (no identifiers), its truth if simulated, provenance."""

    service_line: str
    leads: pd.DataFrame
    truth: pd.DataFrame | None
    control: str
    arm: str = "arm"
    metric: str = "booked_30d"
    guardrail: str = "opted_out"
    guardrail_margin: float = 0.01
    alpha: float = 0.05
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        return self.truth is not None


@dataclass
class ReportAnalysis:
    main: AnalysisResult
    guardrail: NonInferiorityResult | None
    time: TimeToBookResult | None
    segments: dict[str, AnalysisResult]


def load_report_data(
    service_line: str,
    leads_path: str,
    truth_path: str = "",
    manifest: Mapping[str, Any] | None = None,
    *,
    arm: str = "arm",
    control: str = "",
    metric: str = "booked_30d",
    guardrail: str = "opted_out",
    guardrail_margin: float = 0.01,
    alpha: float = 0.05,
) -> ReportData:
    """Load the prepared data of one service line (see :func:`prepare_data`)."""
    leads = pd.read_parquet(leads_path)
    leads = leads.drop(columns=[c for c in IDENTITY_COLUMNS if c in leads.columns])
    if "service_line" in leads.columns:
        lines = sorted(map(str, leads["service_line"].unique()))
        if service_line not in lines:
            raise DataError(f"Service line {service_line!r} is not in the data; lines: {', '.join(lines)}.")
        leads = leads[leads["service_line"].astype(str) == service_line].reset_index(drop=True)
    truth = None
    if truth_path:
        t = pd.read_csv(truth_path)
        truth = t[t["service_line"] == service_line].reset_index(drop=True)
    man = dict(manifest or {})
    ctrl = control or man.get("control", "")
    if not ctrl:
        raise DataError("The report needs the control arm's label (parameter 'control').")
    return ReportData(service_line, leads, truth, ctrl, arm, metric, guardrail, guardrail_margin, alpha, man)


def analyse_report(rd: ReportData) -> ReportAnalysis:
    """Every number of a report, from :func:`nurture_lab.analyze` and friends (one correction family)."""
    df = rd.leads
    metrics = [m for m in dict.fromkeys([rd.metric, *REPORT_METRICS]) if m in df.columns and m != rd.guardrail]
    main = analyze(df, arm=rd.arm, control=rd.control, metrics=metrics, alpha=rd.alpha)
    guard = None
    if rd.guardrail in df.columns:
        guard = non_inferiority(df, rd.arm, rd.control, rd.guardrail, rd.guardrail_margin, alpha=rd.alpha)
    ttb = None
    if {"days_to_book", "booked"} <= set(df.columns):
        horizon = float(rd.provenance.get("horizon_days", 0)) or None
        ttb = time_to_book(df, rd.arm, rd.control, horizon_days=horizon)
    segments = {}
    for col in ("source", "audience", "coverage"):
        if col in df.columns:
            with contextlib.suppress(DataError):
                segments[col] = analyze(df, arm=rd.arm, control=rd.control, metrics=[rd.metric], by=col, alpha=rd.alpha)
    return ReportAnalysis(main, guard, ttb, segments)


def _pts(x: float, binary: bool = True) -> str:
    return f"{x * 100:.1f} points" if binary else f"{x:.2f}"


def headline(rd: ReportData, ra: ReportAnalysis) -> str:
    """The plain-language verdict, honest when the result is inconclusive."""
    r = ra.main.results
    r = r[r["metric"] == rd.metric]
    binary = bool((r["metric_type"] == "binary").all())
    what = metric_label(rd.metric)
    line = arm_label(rd.service_line)
    ctrl = arm_label(rd.control)
    level = f"{100 * (1 - rd.alpha):.0f}% CI"
    winners = r[(r["significant"]) & (r["diff"] > 0)].sort_values("diff", ascending=False)
    losers = r[(r["significant"]) & (r["diff"] < 0)]
    guard_ok = True
    guard_text = ""
    if ra.guardrail is not None:
        g = ra.guardrail.results.set_index("arm")
        gl = metric_label(rd.guardrail)
        if not winners.empty:
            best = winners.iloc[0]["arm"]
            guard_ok = bool(g.loc[best, "non_inferior"])
            gd = g.loc[best, "diff"]
            guard_text = (
                f"; {gl} did not rise by more than {rd.guardrail_margin * 100:.1f} points "
                f"(change {gd * 100:+.2f} points)"
                if guard_ok
                else f"; but {gl} may have risen (change {gd * 100:+.2f} points, upper bound "
                f"{g.loc[best, 'ci_high'] * 100:.2f} above the {rd.guardrail_margin * 100:.1f}-point margin)"
            )
    if not winners.empty:
        w = winners.iloc[0]
        verb = "raised"
        text = (
            f"**{arm_label(w['arm'])}** {verb} {what} by {_pts(w['diff'], binary)} ({level} "
            f"{w['diff_ci_low'] * (100 if binary else 1):.1f} to {w['diff_ci_high'] * (100 if binary else 1):.1f}) "
            f"for {line}, compared with {ctrl} ({w['control_value'] * 100:.1f}% → {w['arm_value'] * 100:.1f}%)"
            if binary
            else f"**{arm_label(w['arm'])}** raised {what} by {w['diff']:.3g} ({level} {w['diff_ci_low']:.3g} to "
            f"{w['diff_ci_high']:.3g}) for {line}, compared with {ctrl}"
        )
        rec = (
            f"; recommend **{arm_label(w['arm'])}**."
            if guard_ok
            else f". Review the guardrail before adopting {arm_label(w['arm'])}."
        )
        return text + guard_text + rec
    if not losers.empty:
        w = losers.sort_values("diff").iloc[0]
        return (
            f"**{ctrl}** did better: {arm_label(w['arm'])} lowered {what} by {_pts(-w['diff'], binary)} "
            f"({level} {w['diff_ci_low'] * 100:.1f} to {w['diff_ci_high'] * 100:.1f}) for {line}; keep {ctrl}."
        )
    if r.empty:
        return f"No comparison could be made for {line}."
    best = r.sort_values("diff", ascending=False).iloc[0]
    n_per_arm = int(np.median(r["n_arm"]))
    return (
        f"**Inconclusive** for {line}: no cadence changed {what} detectably. The best, "
        f"{arm_label(best['arm'])}, differs from {ctrl} by {best['diff'] * 100:+.1f} points ({level} "
        f"{best['diff_ci_low'] * 100:+.1f} to {best['diff_ci_high'] * 100:+.1f}, adjusted p = "
        f"{best['p_adjusted']:.2f}) with about {n_per_arm:,} leads per arm. Keep the current cadence, or run a "
        "larger test (see the power planning notebook)."
        if binary
        else f"**Inconclusive** for {line}: no cadence changed {what} detectably; keep the current cadence."
    )


def key_numbers(ra: ReportAnalysis) -> pd.DataFrame:
    """The key numbers table: per metric and arm, value, difference with CI, adjusted p."""
    r = ra.main.results
    binary = r["metric_type"] == "binary"
    out = pd.DataFrame(
        {
            "Metric": r["metric"].map(metric_label),
            "Arm": r["arm"].map(arm_label),
            "Control": [f"{v * 100:.1f}%" if b else f"{v:.2f}" for v, b in zip(r["control_value"], binary)],
            "Arm value": [f"{v * 100:.1f}%" if b else f"{v:.2f}" for v, b in zip(r["arm_value"], binary)],
            "Difference": [f"{d * 100:+.1f} pts" if b else f"{d:+.2f}" for d, b in zip(r["diff"], binary)],
            "95% CI": [
                f"{lo * 100:+.1f} to {hi * 100:+.1f}" if b else f"{lo:+.2f} to {hi:+.2f}"
                for lo, hi, b in zip(r["diff_ci_low"], r["diff_ci_high"], binary)
            ],
            "Adjusted p": [f"{p:.3f}" if p >= 0.001 else "<0.001" for p in r["p_adjusted"]],
            "Leads (arm / control)": [f"{a:,} / {c:,}" for a, c in zip(r["n_arm"], r["n_control"])],
        }
    )
    return out


def guardrail_table(ra: ReportAnalysis) -> pd.DataFrame:
    if ra.guardrail is None:
        return pd.DataFrame()
    g = ra.guardrail.results
    return pd.DataFrame(
        {
            "Guardrail": g["metric"].map(metric_label),
            "Arm": g["arm"].map(arm_label),
            "Control": (g["control_value"] * 100).map("{:.2f}%".format),
            "Arm value": (g["arm_value"] * 100).map("{:.2f}%".format),
            "Change (90% CI)": [
                f"{d * 100:+.2f} ({lo * 100:+.2f} to {hi * 100:+.2f}) pts"
                for d, lo, hi in zip(g["diff"], g["ci_low"], g["ci_high"])
            ],
            "Margin": (g["margin"] * 100).map("{:.1f} pts".format),
            "Verdict": np.where(g["non_inferior"], "no meaningful rise", "cannot rule out a rise"),
        }
    )


def data_quality_text(rd: ReportData, ra: ReportAnalysis) -> str:
    srm = ra.main.srm
    counts = ", ".join(f"{arm_label(a)} {n:,}" for a, n in srm["counts"].items())
    verdict = (
        "**Sample ratio mismatch**: the arms' sizes differ from the plan more than chance allows "
        "— check the assignment before trusting any effect."
        if srm["flagged"]
        else "Arm sizes match the planned allocation (no sample ratio mismatch)."
    )
    return f"Leads per arm: {counts}. Chi-square p = {srm['p_value']:.3f}. {verdict}"


def segment_table(ra: ReportAnalysis, column: str) -> pd.DataFrame:
    res = ra.segments[column].results
    binary = res["metric_type"] == "binary"
    return pd.DataFrame(
        {
            column.replace("_", " ").title(): res[column].map(arm_label),
            "Arm": res["arm"].map(arm_label),
            "Control": [f"{v * 100:.1f}%" if b else f"{v:.2f}" for v, b in zip(res["control_value"], binary)],
            "Arm value": [f"{v * 100:.1f}%" if b else f"{v:.2f}" for v, b in zip(res["arm_value"], binary)],
            "Difference (95% CI)": [
                f"{d * 100:+.1f} ({lo * 100:+.1f} to {hi * 100:+.1f}) pts"
                for d, lo, hi in zip(res["diff"], res["diff_ci_low"], res["diff_ci_high"])
            ],
            "Adjusted p": [f"{p:.3f}" if p >= 0.001 else "<0.001" for p in res["p_adjusted"]],
            "Note": np.where(res["small_group"], "too small to say", ""),
        }
    )


def methods_note(rd: ReportData, ra: ReportAnalysis) -> str:
    from . import __version__

    s = ra.main.settings
    p = rd.provenance
    src = (
        f"simulated: scenario `{p.get('scenario', '?')}` (sha256 `{str(p.get('scenario_sha256', ''))[:12]}…`), "
        f"seed {p.get('seed')}, {p.get('n_leads', 0):,} leads in all service lines"
        if rd.simulated
        else f"real data: `{p.get('data_file', '?')}` (identifiers dropped at import)"
    )
    return "\n".join(
        [
            f"- **Data**: {src}; this report: {len(rd.leads):,} leads of {arm_label(rd.service_line)}.",
            f"- **Tests**: {', '.join(sorted(set(ra.main.results['test'])))}; CI method {s['ci_method']}; "
            f"{s['correction']} correction over {s['family_size']} comparisons; alpha {s['alpha']}.",
            "- **Relative lift**: log-ratio CI (binary), delta method (numeric).",
            f"- **Guardrail**: one-sided non-inferiority of {metric_label(rd.guardrail)}, margin "
            f"{rd.guardrail_margin * 100:.1f} points, at alpha {rd.alpha}.",
            "- **Time to book**: Kaplan–Meier, log-rank test, Cox proportional hazards (statsmodels).",
            "- **Sample ratio**: chi-square goodness of fit against the planned allocation, flagged at p < 0.001.",
            f"- **Software**: nurture_lab {__version__}. Re-run with the same parameters to reproduce every number.",
        ]
    )


def show(obj: Any) -> None:
    """Display a figure (then close it), a DataFrame without its index, or markdown text, in a notebook."""
    import matplotlib.pyplot as plt
    from IPython.display import HTML, Markdown, display

    if isinstance(obj, str):
        display(Markdown(obj))
    elif isinstance(obj, pd.DataFrame):
        display(HTML(obj.to_html(index=False, border=0, classes="nl-table", escape=True)))
    else:
        display(obj)
        plt.close(obj)


def show_truth(rd: ReportData, ra: ReportAnalysis) -> None:
    """For simulated data: the estimate beside the simulator's true effect. Real data: nothing."""
    if not rd.simulated or rd.truth is None:
        return
    from .plots import plot_truth_vs_estimate

    t = rd.truth
    show(
        "## The estimate beside the true effect\nThe simulator ran every lead through every arm with the same random "
        "draws, so it knows each arm's true effect. A trustworthy analysis covers it with its CI most of the time."
    )
    show(plot_truth_vs_estimate(ra.main, t, rd.metric, rd.service_line))
    rows = t[(t["metric"] == rd.metric) & (t["arm"] != rd.control)].set_index("arm")["true_diff"]
    est = ra.main.results[ra.main.results["metric"] == rd.metric].set_index("arm")
    tab = pd.DataFrame(
        {
            "Arm": [arm_label(a) for a in rows.index],
            "True effect": [f"{v * 100:+.2f} pts" for v in rows],
            "Estimate (95% CI)": [
                f"{est.loc[a, 'diff'] * 100:+.2f} ({est.loc[a, 'diff_ci_low'] * 100:+.2f} to "
                f"{est.loc[a, 'diff_ci_high'] * 100:+.2f})"
                for a in rows.index
            ],
            "CI covers truth": [
                "yes" if est.loc[a, "diff_ci_low"] <= v <= est.loc[a, "diff_ci_high"] else "no" for a, v in rows.items()
            ],
        }
    )
    show(tab)


# --------------------------------------------------------------------------------------
# Rendering


@dataclass(frozen=True)
class _Job:
    template: str
    service_line: str
    parameters: dict[str, Any]
    out_dir: str


def template_parameters(template: str | Path) -> dict[str, Any]:
    """The template's parameters (name -> default) as papermill reads them."""
    import papermill as pm

    params = pm.inspect_notebook(str(template))
    return {k: v.get("default") for k, v in params.items()}


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="nurture_lab {version}">
<title>{title}</title>
<style>
body {{ font: 15px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d1d1f;
       max-width: 920px; margin: 0 auto; padding: 1.2rem; }}
h1 {{ font-size: 1.6rem; margin-bottom: .2rem; }} h2 {{ font-size: 1.2rem; margin-top: 2rem;
       border-bottom: 1px solid #ddd; padding-bottom: .2rem; }}
img {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; font-size: .85rem; margin: .5rem 0; display: block; overflow-x: auto; }}
th, td {{ border-bottom: 1px solid #e3e3e3; padding: .3rem .6rem; text-align: left; white-space: nowrap; }}
th {{ background: #f4f6f8; }}
.meta {{ color: #555; font-size: .85rem; }}
blockquote {{ background: #f3f7fb; border-left: 4px solid #1f5a96; padding: .6rem 1rem; margin: .5rem 0;
  font-size: 1.05rem; }}
a {{ color: #1f5a96; }}
table.index {{ display: table; }} table.index td {{ white-space: normal; }}
pre {{ white-space: pre-wrap; }}
@media print {{ body {{ max-width: none; font-size: 11pt; }} h2 {{ break-after: avoid; }}
  img, table {{ break-inside: avoid; }} a {{ color: inherit; text-decoration: none; }} }}
</style></head>
<body>
{body}
<p class="meta">Generated {generated} by nurture_lab {version}. {params}</p>
</body></html>
"""


def _page(title: str, body: str, params: Mapping[str, Any]) -> str:
    from . import __version__

    shown = ", ".join(f"{k} = {html.escape(str(v))}" for k, v in params.items() if v not in ("", None))
    return PAGE.format(
        title=html.escape(title),
        body=body,
        version=__version__,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        params=f"Parameters: {shown}." if shown else "",
    )


def _export_html(nb: Any, title: str, params: Mapping[str, Any]) -> str:
    from nbconvert import HTMLExporter

    for cell in nb.cells:  # warnings and logs never reach leadership
        if cell.get("cell_type") == "code":
            cell["outputs"] = [
                o
                for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    exporter = HTMLExporter(
        template_name="basic",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        exclude_anchor_links=True,
    )
    body, _ = exporter.from_notebook_node(nb)
    return _page(title, body, params)


_KERNEL: Any = None  # one warm kernel per worker process, reused by every report it renders


def _kernel() -> Any:
    """This process's report kernel: started once; imports stay warm between reports."""
    global _KERNEL
    if _KERNEL is None or not _KERNEL.is_alive():
        import multiprocessing.util

        from jupyter_client.manager import KernelManager

        km = KernelManager(kernel_name="python3")
        km.start_kernel(cwd=str(ROOT))
        multiprocessing.util.Finalize(km, km.shutdown_kernel, kwargs={"now": True}, exitpriority=10)
        _KERNEL = km
    return _KERNEL


def _warm_worker(log_dir: str) -> None:
    """Pool initializer: start this worker's kernel and import the library in it, once."""
    with _kernel_log(Path(log_dir) / f"kernel-worker-{os.getpid()}.log"):
        km = _kernel()
    kc = km.blocking_client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        kc.execute_interactive("import nurture_lab, nurture_lab.plots, nurture_lab.reports", timeout=120)
    finally:
        kc.stop_channels()


def _noop() -> None:
    return None


def _warm_pool(jobs: int, out_dir: Path) -> ProcessPoolExecutor:
    """Worker processes with warm kernels. Fresh interpreters, not forks: a forked copy of a process
    that has talked to a kernel over ZeroMQ can deadlock."""
    import multiprocessing

    log_dir = out_dir / ".data"
    log_dir.mkdir(parents=True, exist_ok=True)
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_warm_worker,
        initargs=(str(log_dir),),
    )
    for _ in range(jobs):  # start every worker now, so the kernels warm up during data preparation
        pool.submit(_noop)
    return pool


def _shutdown_kernel() -> None:
    global _KERNEL
    if _KERNEL is not None:
        with contextlib.suppress(Exception):
            _KERNEL.shutdown_kernel(now=True)
        _KERNEL = None


def _execute(template: str, parameters: Mapping[str, Any]) -> Any:
    """Parameterise the template (papermill) and run it on the warm kernel (nbclient).

    Each report starts from a clean namespace (``%reset``); only imported modules stay warm, so a
    report costs its own analysis and pictures, not a kernel start and the scientific stack's imports.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(template))  # papermill's loader: adds the metadata papermill expects
    nb = parameterize_notebook(nb, dict(parameters), report_mode=True, kernel_name="python3", language="python")
    nb.cells.insert(0, nbformat.v4.new_code_cell("%reset -f", metadata={"tags": ["reset"]}))
    client = NotebookClient(nb, km=_kernel(), timeout=600, kernel_name="python3", allow_errors=False)
    try:
        client.execute()
    except CellExecutionError as e:
        failed = next(
            (
                i
                for i, c in enumerate(nb.cells)
                if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.get("outputs", []))
            ),
            None,
        )
        where = f"cell {failed}" if failed is not None else "a cell"  # the reset cell is 0: template cells count from 1
        raise _LineFailed(f"{where}: {e.ename}: {e.evalue}") from None
    finally:
        nb.cells.pop(0)
    return nb


def _render_one(job: _Job) -> tuple[str, str | None, float]:
    """Execute the template for one line; write its HTML and notebook atomically. Returns (line, error, seconds)."""
    import nbformat
    from nbclient.exceptions import DeadKernelError

    t0 = time.perf_counter()
    out = Path(job.out_dir)
    line = job.service_line
    with (
        _io.atomic_path(out / f"{slug(line)}.ipynb") as tmp_nb,
        _kernel_log(out / ".data" / f"kernel-{slug(line)}.log"),
    ):
        try:
            nb = _execute(job.template, job.parameters)
        except _LineFailed:
            raise
        except DeadKernelError as e:
            _shutdown_kernel()
            raise _LineFailed(f"the kernel died: {e}") from None
        except Exception as e:  # template unreadable, kernel would not start, ...
            raise _LineFailed(f"{type(e).__name__}: {e}") from None
        nbformat.write(nb, str(tmp_nb))
        title = f"{arm_label(line).capitalize()} — nurture experiment report"
        shown = {k: v for k, v in job.parameters.items() if k not in ("leads_path", "truth_path", "manifest_path")}
        _io.write_text(out / f"{slug(line)}.html", _export_html(nb, title, shown))
    return line, None, time.perf_counter() - t0


@contextlib.contextmanager
def _kernel_log(path: Path) -> Any:
    """Send the kernel's own stderr chatter (start-up warnings) to a log file instead of the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(2)
    with open(path, "ab") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _LineFailed(Exception):
    pass


def _safe_render(job: _Job) -> tuple[str, str | None, float]:
    t0 = time.perf_counter()
    try:
        return _render_one(job)
    except _LineFailed as e:
        return job.service_line, str(e), time.perf_counter() - t0


def prepare_data(
    out_dir: Path,
    *,
    scenario: str | Path | None,
    data: str | Path | None,
    seed: int,
    n_leads: int,
    mapping: str | Path | None = None,
) -> tuple[Path, Path | None, dict[str, Any]]:
    """Simulate once (or import a real export once) for all reports; returns (leads, truth, manifest)."""
    from .engine import simulate
    from .scenario import load_scenario
    from .store import manifest

    cache = out_dir / ".data"
    cache.mkdir(parents=True, exist_ok=True)
    if data:
        from .imports import read_leads

        imp = read_leads(data, mapping=mapping)
        key = hashlib.sha256(Path(data).read_bytes()).hexdigest()[:16]
        leads_path = cache / f"real-{key}.parquet"
        _io.write_parquet(leads_path, imp.leads)
        man = {
            "data_file": Path(data).name,
            "data_sha256": key,
            "dropped_columns": imp.dropped_identifiers,
            "n_leads": len(imp.leads),
            "control": "",
            "horizon_days": imp.horizon_days,
        }
        return leads_path, None, man
    sc = load_scenario(resolve(scenario or "simulations/speed_to_lead.toml"))
    res = simulate(sc, seed=seed, n_leads=n_leads)
    key = f"{sc.sha256[:12]}-{seed}-{n_leads}"
    leads_path = cache / f"sim-{key}.parquet"
    truth_path = cache / f"truth-{key}.csv"
    _io.write_parquet(leads_path, res.analysis_frame())
    _io.write_csv(truth_path, res.truth)
    man = manifest(res) | {"horizon_days": sc.horizon_days}
    return leads_path, truth_path, man


def render_reports(
    scenario: str | Path | None = None,
    service_lines: Sequence[str] | str | None = "all",
    *,
    data: str | Path | None = None,
    mapping: str | Path | None = None,
    seed: int = 7,
    n_leads: int = 20_000,
    out: str | Path = "reports",
    jobs: int = 2,
    parameters: Mapping[str, Any] | None = None,
    template: str | Path = DEFAULT_TEMPLATE,
    progress: bool = True,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Render one HTML report per service line, and the index.

    Args:
        scenario: scenario file to simulate (default ``simulations/speed_to_lead.toml``).
        service_lines: "all" or a list of service lines.
        data: a real export (leads CSV/Parquet) instead of a simulation; ``mapping`` maps its columns.
        seed, n_leads: the simulation's seed and size.
        out: output folder (default ``reports``).
        jobs: worker processes.
        parameters: extra template parameters (``control``, ``metric``, ``guardrail``,
            ``guardrail_margin``, ``alpha``, ``arm``); unknown names are refused before anything runs.

    Returns:
        ``{"index": path, "reports": {line: path}, "failed": {line: error}, "seconds": ...}``

    Raises:
        ValueError: an unknown parameter or service line (before anything runs).
        ReportError: one or more lines failed (the rest and the index were written).
    """

    t0 = time.perf_counter()
    out_dir = Path(out)
    known = template_parameters(template)
    extra = dict(parameters or {})
    fixed = {"service_line", "leads_path", "truth_path", "manifest_path", "scenario", "seed", "n_leads"}
    unknown = sorted(set(extra) - (set(known) - fixed))
    if unknown:
        raise ValueError(
            f"Unknown report parameter(s) {', '.join(map(repr, unknown))}; the template {Path(template).name} takes: "
            f"{', '.join(sorted(set(known) - fixed))}."
        )
    if not data and service_lines not in (None, "all"):
        from .scenario import load_scenario

        sc_lines = load_scenario(resolve(scenario or "simulations/speed_to_lead.toml")).service_lines
        asked = [service_lines] if isinstance(service_lines, str) else list(service_lines)
        bad = [s for s in asked if s not in sc_lines]
        if bad:
            raise ValueError(f"Unknown service line(s) {bad}; the scenario has: {', '.join(sc_lines)}.")
    if data and not extra.get("control"):
        raise ValueError(
            "Reports on real data need the control arm's label: parameters={'control': ...} (CLI: --control LABEL)."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    own = None
    n_hint = (
        jobs
        if service_lines in (None, "all")
        else len([service_lines] if isinstance(service_lines, str) else service_lines)
    )
    if executor is None and min(jobs, n_hint) > 1:
        own = executor = _warm_pool(min(jobs, n_hint), out_dir)  # kernels start while the data are prepared
    try:
        leads_path, truth_path, man = prepare_data(
            out_dir, scenario=scenario, data=data, seed=seed, n_leads=n_leads, mapping=mapping
        )
    except BaseException:
        if own is not None:
            own.shutdown(wait=False, cancel_futures=True)
        raise
    man_path = out_dir / ".data" / "manifest.json"
    _io.write_json(man_path, man)
    import pyarrow.parquet as pq

    has_lines = "service_line" in pq.read_schema(leads_path).names
    lines_col = pd.read_parquet(leads_path, columns=["service_line"])["service_line"] if has_lines else None
    available = sorted(map(str, lines_col.unique())) if lines_col is not None else ["all"]
    if service_lines in (None, "all"):
        lines = available
    else:
        lines = [service_lines] if isinstance(service_lines, str) else list(service_lines)
        bad = [s for s in lines if s not in available]
        if bad:
            if own is not None:
                own.shutdown(wait=False, cancel_futures=True)
            raise ValueError(f"Unknown service line(s) {bad}; the data have: {', '.join(available)}.")
    base = {
        "leads_path": str(leads_path.resolve()),
        "truth_path": str(truth_path.resolve()) if truth_path else "",
        "manifest_path": str(man_path.resolve()),
    } | extra
    jobs_list = [_Job(str(template), s, base | {"service_line": s}, str(out_dir)) for s in lines]
    results: dict[str, tuple[str | None, float]] = {}
    try:
        if executor is None:
            it: Iterable[Any] = map(_safe_render, jobs_list)
            it = _progress(it, len(jobs_list), progress)
            for line, err, sec in it:
                results[line] = (err, sec)
        else:
            futures = [executor.submit(_safe_render, j) for j in jobs_list]
            for fut in _progress(as_completed(futures), len(futures), progress):
                line, err, sec = fut.result()
                results[line] = (err, sec)
    except KeyboardInterrupt:
        if own is not None:
            own.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        if own is not None:
            own.shutdown(wait=True)
        if executor is None:
            _shutdown_kernel()
    headlines = _headlines(lines, leads_path, truth_path, man, extra, results)
    index = write_index(
        out_dir,
        lines,
        headlines,
        results,
        man,
        seed=seed,
        n_leads=n_leads,
        parameters=extra,
        simulated=truth_path is not None,
    )
    failed = {k: v[0] for k, v in results.items() if v[0]}
    summary = {
        "index": str(index),
        "reports": {s: str(out_dir / f"{slug(s)}.html") for s in lines if s not in failed},
        "failed": failed,
        "seconds": time.perf_counter() - t0,
        "per_report_seconds": {k: v[1] for k, v in results.items()},
    }
    if failed:
        details = "; ".join(f"{k}: {v}" for k, v in failed.items())
        raise ReportError(
            f"{len(failed)} of {len(lines)} report(s) failed ({details}). The others and the index "
            f"were written to {out_dir}."
        )
    return summary


def _progress(it: Iterable[Any], total: int, enabled: bool) -> Iterable[Any]:
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, total=total, desc="reports", unit="line")


def _headlines(
    lines: Sequence[str],
    leads_path: Path,
    truth_path: Path | None,
    man: Mapping[str, Any],
    extra: Mapping[str, Any],
    results: Mapping[str, tuple[str | None, float]],
) -> dict[str, str]:
    out = {}
    keys = ("arm", "control", "metric", "guardrail", "guardrail_margin", "alpha")
    kw = {k: extra[k] for k in keys if k in extra}
    for s in lines:
        if results.get(s, ("x", 0))[0]:
            out[s] = ""
            continue
        rd = load_report_data(s, str(leads_path), str(truth_path) if truth_path else "", man, **kw)
        out[s] = headline(rd, analyse_report(rd))
    return out


def _md_inline(text: str) -> str:
    import re

    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text))


def write_index(
    out_dir: Path,
    lines: Sequence[str],
    headlines: Mapping[str, str],
    results: Mapping[str, tuple[str | None, float]],
    man: Mapping[str, Any],
    *,
    seed: int,
    n_leads: int,
    parameters: Mapping[str, Any],
    simulated: bool,
) -> Path:
    rows = []
    for s in lines:
        err = results.get(s, (None, 0))[0]
        if err:
            rows.append(
                f"<tr><td>{html.escape(arm_label(s))}</td><td><b>report failed</b>: {html.escape(err)}</td></tr>"
            )
        else:
            rows.append(
                f'<tr><td><a href="{html.escape(slug(s))}.html">{html.escape(arm_label(s))}</a></td>'
                f"<td>{_md_inline(headlines.get(s, ''))}</td></tr>"
            )
    src = (
        f"Simulated experiment <code>{html.escape(str(man.get('scenario')))}</code>, seed {seed}, {n_leads:,} leads."
        if simulated
        else f"Real data <code>{html.escape(str(man.get('data_file')))}</code>."
    )
    body = (
        f"<h1>Nurture experiment reports</h1><p class='meta'>{src} One report per service line; click a line "
        f"for its numbers, pictures and methods.</p>"
        "<table class='index'><thead><tr><th>Service line</th><th>Verdict</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    params = {"seed": seed, "n_leads": n_leads} | dict(parameters) if simulated else dict(parameters)
    return _io.write_text(out_dir / "index.html", _page("Nurture experiment reports", body, params))


def resolve(path: str | Path) -> Path:
    """A path as given, or relative to the project root when it does not exist from here."""
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    alt = ROOT / p
    return alt if alt.exists() else p


def open_report(
    service_line: str,
    leads_path: str = "",
    truth_path: str = "",
    manifest_path: str = "",
    *,
    scenario: str = "simulations/speed_to_lead.toml",
    seed: int = 7,
    n_leads: int = 20_000,
    **kwargs: Any,
) -> tuple[ReportData, ReportAnalysis]:
    """What the report template calls: the line's data (prepared, or simulated here) and its analysis."""
    import json

    if not leads_path:
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="nl-report-"))
        lp, tp, man = prepare_data(tmp, scenario=resolve(scenario), data=None, seed=seed, n_leads=n_leads)
        leads_path, truth_path = str(lp), str(tp)
    else:
        man = json.loads(Path(manifest_path).read_text()) if manifest_path else {}
    rd = load_report_data(service_line, leads_path, truth_path, man, **kwargs)
    return rd, analyse_report(rd)


def title_block(rd: ReportData) -> str:
    kind = "simulated experiment" if rd.simulated else "real experiment"
    p = rd.provenance
    name = p.get("scenario") if rd.simulated else p.get("data_file")
    arms = ", ".join(arm_label(a) for a in sorted(map(str, rd.leads[rd.arm].unique())))
    return (
        f"# {arm_label(rd.service_line).capitalize()}: nurture experiment report\n"
        f"<p class='meta'>{kind.capitalize()} <code>{name}</code> · arms: {arms} · control: "
        f"{arm_label(rd.control)} · {len(rd.leads):,} leads</p>"
    )


def show_speed(rd: ReportData) -> None:
    """The speed-to-lead picture, from first-call times (simulated) or first-response times (exports)."""
    from .plots import plot_first_response

    for col in ("first_call_minutes", "first_response_minutes"):
        if col in rd.leads.columns and rd.leads[col].notna().any():
            show(plot_first_response(rd.leads, rd.arm, column=col))
            return
    show("_The data have no first-response times (columns `first_call_minutes` or `first_response_minutes`)._")
