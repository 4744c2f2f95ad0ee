"""What the report template and the notebooks call: open a line's report data, show results."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ScenarioError
from .content import ReportAnalysis, ReportData, analyse_report, load_report_data
from .labels import arm_label, text_label, upper_first

__all__ = [
    "left_out",
    "open_report",
    "show",
    "show_funnel",
    "show_segments",
    "show_speed",
    "show_time_to_book",
    "show_truth",
    "title_block",
]


def show(obj: Any) -> None:
    """Display a figure (then close it), a DataFrame without its index, or markdown text, in a notebook."""
    import matplotlib.pyplot as plt
    from IPython.display import HTML, Markdown, display

    if isinstance(obj, str):
        display(Markdown(obj))
    elif isinstance(obj, pd.DataFrame):
        # a cell's second line (raw counts under a rate) as a line break: pandas writes a newline as "\\n"
        table = obj.to_html(index=False, border=0, classes="nl-table", escape=True).replace("\\n", "<br>")
        display(HTML(table))
    else:
        display(figure_bundle(obj), raw=True)
        plt.close(obj)


#: Width (inches) of the phone rendering of a figure: at 100 dpi it is shown 1:1 in a 390 px-wide
#: viewport, so 9-pt text stays 9 pt (12 px) there instead of shrinking with the picture.
PHONE_WIDTH_IN = 3.3
#: The widest a phone rendering may be (CSS px): the content column of a 390 px-wide screen.
PHONE_MAX_PX = 340
#: Resolution of the phone rendering (1.5 device pixels per CSS pixel: sharp, and light to encode).
PHONE_DPI = 150
MIN_FONT_PT = 9.0


def figure_bundle(fig: Any) -> dict[str, str]:
    """A display bundle for a figure: a desktop PNG, and HTML that gives phones their own layout.

    The HTML is a ``<picture>``: below 600 px wide the browser takes a rendering of the same figure
    at phone width (text never under :data:`MIN_FONT_PT`), else the desktop PNG. ``image/png`` stays in
    the bundle for notebooks and checks that read it.
    """
    import base64
    import io

    def png(dpi: int, bbox: Any) -> str:
        # laid out already: without a layout engine savefig skips its own layout pass before drawing
        fig.set_layout_engine(None)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches=bbox, metadata={"Software": None})
        return base64.b64encode(buf.getvalue()).decode("ascii")

    alt = (fig.axes[0].get_title() if fig.axes else "") or "chart"  # the desktop title, before any wrapping
    desktop = png(100, _tight_box(fig, 100))
    w, h = fig.get_size_inches()
    box = phone_layout(fig)
    phone = png(PHONE_DPI, box.padded(0.1))  # the box just measured: no second layout pass
    fig.set_size_inches(w, h)
    html = (
        "<picture class='nl-figure'>"
        f"<source media='(max-width: 600px)' srcset='data:image/png;base64,{phone} {PHONE_DPI / 100:g}x'>"
        f"<img src='data:image/png;base64,{desktop}' alt='{_attr(alt)}'>"
        "</picture>"
    )
    return {"image/png": desktop, "text/html": html, "text/plain": f"<figure: {alt}>"}


def _tight_box(fig: Any, dpi: float) -> Any:
    """The box (inches) ``savefig(bbox_inches="tight", dpi=dpi)`` would crop to, measured without the
    draw savefig makes first to find it (the same pixels, about a fifth less time)."""
    import matplotlib as mpl

    was = fig.get_dpi()
    fig.set_dpi(dpi)
    try:
        return fig.get_tightbbox(fig.canvas.get_renderer()).padded(mpl.rcParams["savefig.pad_inches"])
    finally:
        fig.set_dpi(was)


def phone_layout(fig: Any) -> Any:
    """Lay ``fig`` out for a phone column (in place) and return the box (inches) its PNG must cover:
    text at least 9 pt, legends under everything else, bar labels turned when they would touch."""
    import warnings

    _phone_layout(fig)
    _, h = fig.get_size_inches()
    fig.set_size_inches(PHONE_WIDTH_IN, max(h * 0.85, 2.4))
    with warnings.catch_warnings():  # a layout that cannot shrink further keeps its own
        warnings.simplefilter("ignore")
        fig.tight_layout()
    # fit the tight box (labels, legends) into the phone column, measuring without rendering a PNG
    renderer = fig.canvas.get_renderer()
    for _ in range(4):
        px = fig.get_tightbbox(renderer).width * 100  # CSS px: the phone image is shown at 100 px an inch
        if px <= PHONE_MAX_PX:
            break
        pw, ph = fig.get_size_inches()
        fig.set_size_inches(max(pw - (px - PHONE_MAX_PX) / 100 - 0.05, 1.5), ph)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fig.tight_layout()
    return _settle(fig, renderer)  # legends and bar labels placed once, at the final size


def _settle(fig: Any, renderer: Any) -> Any:
    """Measured, not guessed: each legend just under its axes' lowest text (tick labels, axis label),
    the figure's legends under every axes; bar labels turned upright when two would touch. Returns
    the figure's tight box (inches), from the boxes measured here: what ``fig.get_tightbbox`` would
    give, without measuring every axes a second time."""
    import numpy as np
    from matplotlib.transforms import Bbox

    for ax in fig.axes:
        _turn_bar_labels(ax, renderer)
    lowest, boxes = [], []
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None:
            leg.set_in_layout(False)  # the axes' own extent: ticks, labels, title, not the legend
        own = ax.get_tightbbox(renderer)
        boxes.append(own)
        bottom = own.y0
        if leg is not None:
            leg.set_in_layout(True)
            y = ax.transAxes.inverted().transform((0, bottom - 6))[1]  # 6 px under the lowest text
            leg.set_bbox_to_anchor(Bbox.from_bounds(0.0, y, 0, 0), transform=ax.transAxes)
            leg.set_loc("upper left")
            boxes.append(leg.get_window_extent(renderer))
            bottom = boxes[-1].y0
        lowest.append(bottom)
    for leg in fig.legends:
        y = fig.transFigure.inverted().transform((0, min(lowest, default=0) - 6))[1]
        leg.set_bbox_to_anchor(Bbox.from_bounds(0.0, y, 0, 0), transform=fig.transFigure)
        leg.set_loc("upper left")
    # the figure's own artists (its legends, texts) as Figure.get_tightbbox takes them
    for a in fig.get_children():
        if a not in fig.axes and a.get_visible() and a.get_in_layout():
            boxes.append(a.get_tightbbox(renderer))
    boxes = [b for b in boxes if b is not None and np.isfinite([b.width, b.height]).all() and (b.width or b.height)]
    return Bbox.union(boxes).transformed(fig.dpi_scale_trans.inverted())


def _shown(t: Any) -> bool:
    return bool(t.get_visible() and t.get_text())


def _turn_bar_labels(ax: Any, renderer: Any) -> None:
    """Bar labels (``bar_label``) that touch a neighbour are turned upright, so "41" "42" "44" never
    read as "414244"."""
    labels = [t for t in ax.texts if _shown(t) and t.get_rotation() == 0]
    boxes = [t.get_window_extent(renderer) for t in labels]
    if any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]) or _too_close(boxes):
        for t in labels:
            t.set_rotation(90)
            t.set_verticalalignment("bottom")


def _too_close(boxes: list[Any], gap: float = 2.0) -> bool:
    """Two labels on one line with less than ``gap`` px between them (they read as one number)."""
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if a.y0 < b.y1 and b.y0 < a.y1 and (b.x0 - a.x1 < gap and a.x0 - b.x1 < gap):
                return True
    return False


def _drawn_ticklabels(axis: Any) -> list[Any]:
    """The tick labels an axis draws: those of ticks inside its view (matplotlib keeps one beyond)."""
    lo, hi = sorted(axis.get_view_interval())
    span = (hi - lo) * 1e-9
    return [t.label1 for t in axis.get_major_ticks() if _shown(t.label1) and lo - span <= t.get_loc() <= hi + span]


def text_overlaps(fig: Any) -> list[tuple[str, str]]:
    """The pairs of a figure's texts whose drawn boxes touch: title, axis labels, tick labels,
    legends and labels on the chart (tick labels of one axis are not compared with each other). Empty
    for a clean layout."""
    fig.canvas.draw()  # texts take their places (axis labels beside their tick labels) when drawn
    renderer = fig.canvas.get_renderer()
    items: list[tuple[str, str, Any]] = []  # (group, text, box)
    for i, ax in enumerate(fig.axes):
        for name, t in (("title", ax.title), ("xlabel", ax.xaxis.label), ("ylabel", ax.yaxis.label)):
            if _shown(t):
                items.append((f"{name}{i}", t.get_text(), t.get_window_extent(renderer)))
        for axis in ("x", "y"):
            for t in _drawn_ticklabels(ax.xaxis if axis == "x" else ax.yaxis):
                items.append((f"{axis}ticks{i}", t.get_text(), t.get_window_extent(renderer)))
        for j, t in enumerate(ax.texts):
            if _shown(t):
                items.append((f"text{i}.{j}", t.get_text(), t.get_window_extent(renderer)))
        if ax.get_legend() is not None:
            items.append((f"legend{i}", "legend", ax.get_legend().get_window_extent(renderer)))
    for k, leg in enumerate(fig.legends):
        items.append((f"figlegend{k}", "legend", leg.get_window_extent(renderer)))
    out = []
    for i, (ga, ta, a) in enumerate(items):
        for gb, tb, b in items[i + 1 :]:
            if ga != gb and a.overlaps(b):
                out.append((ta, tb))
    bar_labels = [b for g, _, b in items if g.startswith("text")]
    if _too_close(bar_labels):
        out.append(("bar labels", "too close to read apart"))
    return out


def _phone_layout(fig: Any) -> None:
    """Re-lay a figure for a phone: text at least 9 pt, legends in one column under the chart,
    category labels slanted when there are many."""
    for t in fig.findobj(lambda o: hasattr(o, "get_fontsize") and hasattr(o, "set_fontsize")):
        if t.get_fontsize() < MIN_FONT_PT:
            t.set_fontsize(MIN_FONT_PT)
    import textwrap

    below = 0.0  # how far under the axes the legend must go (axes fractions)
    for ax in fig.axes:
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        if len(ticks) > 3 and any(any(c.isalpha() for c in t) for t in ticks):
            ax.tick_params(axis="x", labelrotation=30)
            for t in ax.get_xticklabels():
                t.set_horizontalalignment("right")
            below = max(below, 0.3)
        title = ax.get_title()
        # a title of the larger font wraps sooner than the 9-pt labels; padded clear of the top tick label
        ax.set_title(textwrap.fill(title, 32) if len(title) > 32 else title, pad=10)
        yticks = [t.get_text() for t in ax.get_yticklabels()]
        if any(len(t) > 18 for t in yticks):  # long category names take two lines, not half the width
            ax.set_yticks(
                ax.get_yticks(), [textwrap.fill(t.replace(" · ", "\n"), 18, replace_whitespace=False) for t in yticks]
            )
        yl = ax.get_ylabel()
        if len(yl) > 22:  # a long label on a short phone axis would run past it into the tick labels below
            ax.set_ylabel(textwrap.fill(yl, 22))
        xl = ax.get_xlabel()
        if xl:
            wrapped = "\n".join(textwrap.fill(part, 38) for part in xl.split("\n"))
            ax.set_xlabel(wrapped)
            below = max(below, 0.12 + 0.09 * (wrapped.count("\n") + 1))
    for ax in fig.axes:
        leg = ax.get_legend()
        if leg is not None:
            title = leg.get_title().get_text()
            handles = list(leg.legend_handles)  # the legend as drawn (explicit handles included)
            labels = [textwrap.fill(t.get_text(), 40) for t in leg.get_texts()]
            ax.legend(
                handles,
                labels,
                title=title or None,
                frameon=False,
                ncols=1,
                fontsize=MIN_FONT_PT,
                loc="upper left",
                bbox_to_anchor=(0.0, -0.1 - below),
            )
    for leg in list(fig.legends):
        handles, labels = leg.legend_handles, [t.get_text() for t in leg.get_texts()]
        leg.remove()
        fig.legend(
            handles, labels, frameon=False, ncols=1, fontsize=MIN_FONT_PT, loc="upper left", bbox_to_anchor=(0.0, 0.0)
        )


def _attr(text: str) -> str:
    import html

    return html.escape(str(text), quote=True)


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
            f"Estimate ({100 * (1 - rd.alpha):.3g}% CI, does not decide)": [
                f"{est.loc[a, 'diff'] * 100:+.2f} ({est.loc[a, 'diff_ci_low'] * 100:+.2f} to "
                f"{est.loc[a, 'diff_ci_high'] * 100:+.2f})"
                for a in rows.index
            ],
            "CI covers truth": [
                "yes" if est.loc[a, "diff_ci_low"] <= v <= est.loc[a, "diff_ci_high"] else "no" for a, v in rows.items()
            ],
        }
    )
    ro = rd.truth_rollout
    if ro is not None and len(ro):
        roll = ro[(ro["metric"] == rd.metric) & (ro["arm"] != rd.control)].set_index("arm")["true_diff"]
        tab.insert(
            2, "True effect at full rollout", [f"{roll.get(a, float('nan')) * 100:+.2f} pts" for a in rows.index]
        )
        gap = (roll.reindex(rows.index) - rows).abs().max()
        show(
            "The contact centre's agents are shared: in the test the arms' calls waited in one queue; at full "
            "rollout every lead would be on the arm, calling through the same staff. "
            + (
                "Here the two agree (within 0.1 points): the staff can carry any arm."
                if not gap > 0.001
                else "Where the two differ, the test's effect is not what rolling the arm out would deliver "
                "without more staff."
            )
        )
    show(tab)


def open_report(
    service_line: str,
    leads_path: str = "",
    truth_path: str = "",
    manifest_path: str = "",
    *,
    scenario: str = "speed_to_lead",
    seed: int = 7,
    n_leads: int = 20_000,
    **kwargs: Any,
) -> tuple[ReportData, ReportAnalysis]:
    """What the report template calls: the line's data (prepared, or simulated here) and its analysis."""
    if not leads_path:
        import tempfile

        from .render import prepare_data

        tmp = Path(tempfile.mkdtemp(prefix="nl-report-"))
        lp, tp, man = prepare_data(tmp, scenario=scenario, data=None, seed=seed, n_leads=n_leads)
        leads_path, truth_path = str(lp), str(tp)
    else:
        man = json.loads(Path(manifest_path).read_text()) if manifest_path else {}
    target_effect = float(kwargs.pop("target_effect", 0.0) or 0.0)
    if "decision" not in man:  # a page rendered alone: the run's decision, by the same function
        from .render import _decision

        man["control"] = kwargs.get("control") or man.get("control", "")
        extra = {k: v for k, v in kwargs.items() if k != "control"} | {"target_effect": target_effect}
        man["decision"], man["decision_error"] = _decision(Path(leads_path), man, extra)
    rd = load_report_data(service_line, leads_path, truth_path, man, **kwargs)
    return rd, analyse_report(rd)


def verdict_text(rd: ReportData) -> str:
    """The page's verdict: the run's decision, how the lines relate to it, and this line's verdict —
    the very sentences of the index (one :class:`~nurture_lab.reporting.decision.RunDecision`)."""
    from .decision import decision_of

    dec = decision_of(rd.provenance)
    if dec is None:
        import html

        from .publish import NO_RECOMMENDATION

        return f"> {NO_RECOMMENDATION} ({html.escape(str(rd.provenance.get('decision_error', '')))})."
    parts = [dec.run_sentence(), dec.lines_sentence()]
    if rd.service_line in dec.lines:
        parts.append(f"**This line**: {dec.line_sentence(rd.service_line)}")
    return "\n>\n".join(f"> {p}" for p in parts if p)


def title_block(rd: ReportData) -> str:
    kind = "simulated experiment" if rd.simulated else "real experiment"
    p = rd.provenance
    name = p.get("scenario") if rd.simulated else p.get("data_file")
    arms = ", ".join(text_label(a) for a in sorted(map(str, rd.leads[rd.arm].unique())))
    return (
        f"# {upper_first(text_label(rd.service_line))}: nurture experiment report\n"
        f"<p class='meta'>{upper_first(kind)} <code>{text_label(name)}</code> · arms: {arms} · control: "
        f"{text_label(rd.control)} · {len(rd.leads):,} leads</p>"
    )


def show_speed(rd: ReportData) -> None:
    """The speed-to-lead picture, from first-call times (simulated) or first-response times (exports)."""
    from .plots import plot_first_response

    for col in ("first_call_minutes", "first_response_minutes"):
        if col in rd.leads.columns and rd.leads[col].notna().any():
            show(plot_first_response(rd.leads, rd.arm, column=col, control=rd.control))
            expected = expected_wait_text(rd.provenance)
            if expected:
                show(expected)
            return
    show("_The data have no first-response times (columns `first_call_minutes` or `first_response_minutes`)._")


def expected_wait_text(man: Mapping[str, Any]) -> str | None:
    """For a simulation: the first-call queue wait the scenario's staffing leads to expect (the lint's
    Erlang C estimate at the run's volume); None for real data or a scenario without a contact centre."""
    if not man.get("scenario") or not man.get("n_leads"):
        return None
    from ..scenario.loader import load_scenario
    from ..scenario.staffing import expected_wait_sentence

    try:
        sc = load_scenario(man.get("scenario_path") or man["scenario"])
    except ScenarioError:
        return None
    return expected_wait_sentence(sc, int(man["n_leads"]))


def left_out(part: str, columns: str) -> str:
    """The sentence a page shows in place of a part the data cannot give (a column the export lacks)."""
    return f"_Left out: {part} needs {columns}, which the data do not have._"


def show_time_to_book(rd: ReportData, ra: ReportAnalysis) -> None:
    """The time-to-book section: curves from booking times, or a sentence saying what they need."""
    from .content import level_text
    from .plots import plot_time_to_book

    show(
        "## Time to book\nShare of leads booked by each day after their inquiry "
        f"(shaded: {level_text(ra)} confidence band). How fast leads book describes the arms; it does not decide."
    )
    if ra.time is None:
        show(left_out("the time-to-book curve", "booking times (column `booked_at`, or `days_to_book` with `booked`)"))
        return
    show(
        plot_time_to_book(
            ra.time, title=f"Time to book (log-rank p = {ra.time.logrank_p:.3g}: describes speed, does not decide)"
        )
    )


def show_funnel(rd: ReportData) -> None:
    """The funnel by arm over the stages the data have (a sentence when they have none)."""
    from .plots import FUNNEL, plot_funnel

    missing = [c for c, _ in FUNNEL if c not in rd.leads.columns]
    if len(missing) == len(FUNNEL):
        show(left_out("the funnel", "at least one of the columns " + ", ".join(f"`{c}`" for c in missing)))
        return
    show(plot_funnel(rd.leads, rd.arm, control=rd.control))
    if missing:
        show(f"_Stages left out (no column in the data): {', '.join(f'`{c}`' for c in missing)}._")


#: The segment columns a report compares the arms in, with their section's words.
REPORT_SEGMENTS = {"source": "the comparison by lead source", "audience": "the comparison by audience"}


def show_segments(rd: ReportData, ra: ReportAnalysis) -> None:
    """One segment table per segment column the data have; a sentence for each one they lack."""
    from .content import segment_table

    for column, part in REPORT_SEGMENTS.items():
        if column in ra.segments:
            show(segment_table(ra, column))
        elif column not in rd.leads.columns:
            show(left_out(part, f"the column `{column}`"))
        else:
            show(f"_Left out: {part}: its groups are too few or too small to compare the arms._")


def key_numbers_intro(rd: ReportData, ra: ReportAnalysis) -> str:
    """The words above the key numbers: what the intervals are and what the *Verdict* column reads (or,
    when the run has no decision, that no row has a verdict)."""
    from .content import level_text
    from .decision import decision_of

    text = (
        "## Key numbers\nThis report's own numbers: each arm against the control, with "
        f"{level_text(ra)} confidence intervals; p-values adjusted for the number of comparisons. "
    )
    if decision_of(rd.provenance) is None:
        return text + "No row has a verdict: the run has no decision (see the verdict above)."
    return text + (
        "The *Verdict* column reads the decision above; on a service line's page these intervals describe the line "
        "and do not decide (the result over all service lines decides)."
    )


def effect_scope(rd: ReportData) -> str:
    """What the effect chart's interval is to the decision: this line's own (the decision is made over
    all lines), the decision's interval, or, when the run has no decision, an interval that decides nothing."""
    from .decision import decision_of

    dec = decision_of(rd.provenance)
    if dec is None:
        return "no decision: see the verdict"
    return "this line, does not decide" if rd.service_line in dec.lines else "the decision's interval"


def decided_lines(rd: ReportData) -> list[str]:
    """The service lines the run's decision frames (each line's own intervals there do not decide)."""
    from .decision import decision_of

    dec = decision_of(rd.provenance)
    return [] if dec is None else list(dec.lines)
