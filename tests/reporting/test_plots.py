"""Every figure draws from its data and renders to PNG under the Agg backend (as on a server)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import pytest
from matplotlib.figure import Figure

import nurture_lab as nl
from nurture_lab.reporting import plots


@pytest.fixture(scope="module")
def run(tiny: nl.Scenario) -> nl.SimulationResult:
    return nl.simulate(tiny, seed=6, n_leads=3000)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    matplotlib.pyplot.close(fig)
    return buf.getvalue()


def test_every_figure_renders(run: nl.SimulationResult, tiny: nl.Scenario) -> None:
    leads = run.analysis_frame()
    res = nl.analyze(leads, arm="arm", control="slow", metrics=["booked_30d"])
    figs = {
        "effects": plots.plot_effects(res, "booked_30d"),
        "time_to_book": plots.plot_time_to_book(nl.time_to_book(leads, "arm", "slow", horizon_days=40)),
        "funnel": plots.plot_funnel(leads),
        "first_response": plots.plot_first_response(leads),
        "mix": plots.plot_mix(leads, "service_line"),
        "arrivals": plots.plot_arrivals(leads),
        "cadence": plots.plot_cadence(tiny.experiment.arms[0].steps),
        "policy": plots.plot_policy_reasons(run.touches),
        "truth": plots.plot_truth_vs_estimate(res, run.truth, "booked_30d"),
    }
    for name, fig in figs.items():
        ax = fig.axes[0]
        assert ax.get_title(), name  # every figure says what it shows
        drawn = len(ax.patches) + len(ax.lines) + len(ax.collections)
        assert drawn > 0, name
        assert _png(fig)[:8] == b"\x89PNG\r\n\x1a\n", name


def test_funnel_bars_are_the_rates(run: nl.SimulationResult) -> None:
    leads = run.leads
    fig = plots.plot_funnel(leads)
    heights = sorted(round(p.get_height(), 6) for p in fig.axes[0].patches)
    want = sorted(
        round(100 * leads.loc[leads["arm"] == a, c].mean(), 6)
        for a in ("slow", "fast")
        for c in ("contacted", "qualified", "booked", "attended")
    )
    assert heights == pytest.approx(want)
    matplotlib.pyplot.close(fig)


def test_labels_are_human() -> None:
    assert plots.label("within_5_min") == "within 5 min"


def test_one_colour_per_arm_in_every_chart_and_a_legend_for_the_decision(run: nl.SimulationResult) -> None:
    from matplotlib.colors import to_hex

    leads = run.analysis_frame()
    charts = {
        "time_to_book": plots.plot_time_to_book(nl.time_to_book(leads, "arm", "slow", horizon_days=40)),
        "funnel": plots.plot_funnel(leads, control="slow"),
        "first_response": plots.plot_first_response(leads, control="slow"),
    }
    seen: dict[str, set[str]] = {}
    for fig in charts.values():
        handles, labels = fig.axes[0].get_legend_handles_labels()
        for h, lab in zip(handles, labels):
            c = to_hex(h.patches[0].get_facecolor()) if hasattr(h, "patches") else to_hex(h.get_color())
            seen.setdefault(lab, set()).add(c)
        matplotlib.pyplot.close(fig)
    assert set(seen) == {"slow", "fast"}
    assert all(len(colors) == 1 for colors in seen.values()), seen  # the same colour for an arm everywhere
    res = nl.analyze(leads, arm="arm", control="slow", metrics=["booked_30d"])
    fig = plots.plot_effects(res, "booked_30d")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["significant after adjustment", "not significant"]
    matplotlib.pyplot.close(fig)
