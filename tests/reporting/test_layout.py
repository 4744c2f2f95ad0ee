"""Charts lay out without collisions: no two texts (title, axis labels, tick labels, legends, bar
labels) touch, on the desktop picture or on the phone's, measured from the drawn text boxes."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

import nurture_lab as nl
from nurture_lab.reporting import notebook, plots

from ..conftest import ROOT


@pytest.fixture(scope="module")
def line() -> tuple[nl.Scenario, nl.SimulationResult, object]:
    sc = nl.load_scenario(ROOT / "simulations/speed_to_lead.toml")
    res = nl.simulate(sc, seed=3, n_leads=6000)
    leads = res.analysis_frame()
    return sc, res, leads[leads["service_line"] == "orthopedics"]


CHARTS = ("effects", "time_to_book", "funnel", "speed", "truth", "effects_by_source")


def _chart(name: str, sc: nl.Scenario, res: nl.SimulationResult, leads) -> matplotlib.figure.Figure:  # type: ignore[no-untyped-def]
    c = sc.experiment.control
    main = nl.analyze(leads, arm="arm", control=c, metrics=["booked_30d", "contacted", "attended"])
    if name == "effects":
        return plots.plot_effects(main, "booked_30d")
    if name == "effects_by_source":
        by = nl.analyze(leads, arm="arm", control=c, metrics=["booked_30d"], by="audience")
        return plots.plot_effects(by, "booked_30d")
    if name == "time_to_book":
        return plots.plot_time_to_book(nl.time_to_book(leads, "arm", c, horizon_days=sc.horizon_days))
    if name == "funnel":
        return plots.plot_funnel(leads, control=c)
    if name == "speed":
        return plots.plot_first_response(leads, control=c)
    truth = res.truth[res.truth["service_line"] == "orthopedics"]
    return plots.plot_truth_vs_estimate(main, truth, "booked_30d", "orthopedics")


@pytest.mark.parametrize("name", CHARTS)
def test_no_text_of_a_report_chart_touches_another_on_desktop_or_phone(name: str, line) -> None:  # type: ignore[no-untyped-def]
    sc, res, leads = line
    fig = _chart(name, sc, res, leads)
    assert notebook.text_overlaps(fig) == [], "desktop"
    box = notebook.phone_layout(fig)
    assert box.width * 100 <= notebook.PHONE_MAX_PX + 1  # fits the phone column
    # the box phone_layout puts together from its own measurements is matplotlib's tight box
    assert box.bounds == pytest.approx(fig.get_tightbbox(fig.canvas.get_renderer()).bounds, abs=1e-9)
    assert notebook.text_overlaps(fig) == [], "phone"
    plt.close(fig)


@pytest.mark.parametrize("name", CHARTS)
def test_the_desktop_picture_has_the_pixels_of_a_tight_savefig(name: str, line) -> None:  # type: ignore[no-untyped-def]
    """The page's desktop PNG is cropped to a box measured without savefig's own layout draw: the
    pixels are exactly those of matplotlib's ``bbox_inches="tight"`` (the phone picture follows it)."""
    want = io.BytesIO()
    fig = _chart(name, *line)
    fig.savefig(want, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    fig = _chart(name, *line)
    bundle = notebook.figure_bundle(fig)
    plt.close(fig)
    got = np.asarray(Image.open(io.BytesIO(base64.b64decode(bundle["image/png"]))))
    expected = np.asarray(Image.open(want))
    assert got.shape == expected.shape and (got == expected).all()
    assert "data:image/png;base64," + bundle["image/png"] in bundle["text/html"]


def test_the_overlap_check_sees_a_collision() -> None:
    """The check itself: a legend laid over the axis label, and bar labels that run together, are found."""
    fig, ax = plt.subplots(figsize=(3, 2))
    bars = ax.bar(range(12), [41, 42, 44] * 4, width=1.0)
    ax.bar_label(bars, fmt="%.0f", fontsize=9)
    assert any("bar labels" in pair for pair in notebook.text_overlaps(fig))
    fig2, ax2 = plt.subplots(figsize=(3, 2))
    ax2.plot([0, 1], [0, 1], label="a long legend entry")
    ax2.set_xlabel("an axis label")
    ax2.legend(loc="upper left", bbox_to_anchor=(0.0, -0.05))
    assert ("an axis label", "legend") in notebook.text_overlaps(fig2) or any(
        "legend" in p for p in notebook.text_overlaps(fig2)
    )
    plt.close(fig)
    plt.close(fig2)
