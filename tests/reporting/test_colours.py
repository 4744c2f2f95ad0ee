"""Colours mean one thing in every chart of a run and the notebooks, read from the drawn artists."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

import nurture_lab as nl
from nurture_lab.reporting import plots

from ..conftest import ROOT


@pytest.fixture(scope="module")
def run() -> tuple[nl.Scenario, nl.SimulationResult]:
    sc = nl.load_scenario(ROOT / "simulations/speed_to_lead.toml")
    return sc, nl.simulate(sc, seed=4, n_leads=3000)


def _legend_colours(fig: Figure) -> dict[str, str]:
    """Label -> colour of each entry of the legend as drawn (the axes' legend, else the figure's)."""
    leg = fig.axes[0].get_legend() or fig.legends[0]
    out = {}
    for h, t in zip(leg.legend_handles, leg.get_texts()):
        c = h.get_facecolor() if isinstance(h, Rectangle) else h.get_color()
        out[t.get_text()] = to_hex(c)
    return out


def _row_colours(fig: Figure) -> dict[str, str]:
    """Per y-tick label, the colour of the error bar drawn on that row (effects and truth charts)."""
    ax = fig.axes[0]
    names = {round(float(t.get_position()[1]), 6): t.get_text() for t in ax.get_yticklabels()}
    out = {}
    for c in ax.containers:
        if isinstance(c, ErrorbarContainer):
            line = c.lines[0]
            out[names[round(float(line.get_ydata()[0]), 6)].split(" · ")[0]] = to_hex(line.get_color())
    return out


def test_an_arm_has_one_colour_in_every_chart_and_the_truth_none_of_them(run) -> None:
    sc, res = run
    leads = res.analysis_frame()
    control = sc.experiment.control
    main = nl.analyze(leads, arm="arm", control=control, metrics=["booked_30d"])
    by_line = nl.analyze(leads, arm="arm", control=control, metrics=["booked_30d"], by="service_line")
    power = pd.DataFrame(  # a power table holds the arms against the control, never the control itself
        {
            "n_leads": [1000, 2000] * 2,
            "arm": ["within_5_min"] * 2 + ["within_1_hour"] * 2,
            "power": [0.3, 0.5, 0.2, 0.4],
            "power_se": [0.05] * 4,
        }
    )
    charts = {
        "time_to_book": (plots.plot_time_to_book(nl.time_to_book(leads, "arm", control, horizon_days=40)), "legend"),
        "funnel": (plots.plot_funnel(leads, control=control), "legend"),
        "speed": (plots.plot_first_response(leads, control=control), "legend"),
        "power": (plots.plot_power_curve(power), "legend"),
        "effects": (plots.plot_effects(main, "booked_30d"), "rows"),
        "effects_by_line": (plots.plot_effects(by_line, "booked_30d"), "rows"),
        "truth": (plots.plot_truth_vs_estimate(main, res.truth, "booked_30d"), "rows"),
    }
    seen: dict[str, set[str]] = {}
    for name, (fig, how) in charts.items():
        colours = _legend_colours(fig) if how == "legend" else _row_colours(fig)
        arms = {k: v for k, v in colours.items() if k in {plots.label(a) for a in sc.experiment.arm_names}}
        assert arms, name
        for arm, c in arms.items():
            seen.setdefault(arm, set()).add(c)
    assert set(seen) == {plots.label(a) for a in sc.experiment.arm_names}
    assert all(len(c) == 1 for c in seen.values()), seen  # one colour per arm in every chart
    arm_colours = {next(iter(c)) for c in seen.values()}
    assert len(arm_colours) == len(seen)  # and no two arms share one
    # the truth: dashed, neutral, never an arm's colour
    truth_ax = charts["truth"][0].axes[0]
    dashed = [ln for ln in truth_ax.get_lines() if ln.get_linestyle() == "--" and len(ln.get_xdata())]
    assert len(dashed) == len(sc.experiment.arm_names) - 1
    assert {to_hex(ln.get_color()) for ln in dashed}.isdisjoint(arm_colours)
    legend = _legend_colours(charts["truth"][0])
    assert legend["true effect"] not in arm_colours and legend["estimate"] not in arm_colours
    for fig, _ in charts.values():
        plt.close(fig)


def test_a_channel_has_one_colour_whatever_its_place_in_a_cadence(run) -> None:
    sc, res = run
    seen: dict[str, set[str]] = {}
    orders = []
    for arm in sc.experiment.arm_names:
        steps = sc.experiment.arm(arm).steps
        orders.append(list(dict.fromkeys(s.channel for s in steps)))
        fig = plots.plot_cadence(steps)
        ax = fig.axes[0]
        rows = [t.get_text() for t in ax.get_yticklabels()]
        for coll in ax.collections:
            y = round(float(coll.get_offsets()[0][1]))
            seen.setdefault(rows[y], set()).add(to_hex(coll.get_facecolor()[0]))
        plt.close(fig)
    fig = plots.plot_policy_reasons(res.touches)
    for ch, c in _legend_colours(fig).items():
        seen.setdefault(ch, set()).add(c)
    plt.close(fig)
    assert len(seen) >= 2 and all(len(c) == 1 for c in seen.values()), seen
    channel_colours = {next(iter(c)) for c in seen.values()}
    assert len(channel_colours) == len(seen)
    assert channel_colours.isdisjoint(plots.PALETTE)  # a channel is never mistaken for an arm
    assert channel_colours.isdisjoint({plots.TRUTH})
