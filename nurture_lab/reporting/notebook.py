"""What the report template and the notebooks call: open a line's report data, show results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from .content import ReportAnalysis, ReportData, analyse_report, load_report_data
from .labels import arm_label, text_label

__all__ = ["open_report", "show", "show_speed", "show_truth", "title_block"]


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
    rd = load_report_data(service_line, leads_path, truth_path, man, **kwargs)
    return rd, analyse_report(rd)


def title_block(rd: ReportData) -> str:
    kind = "simulated experiment" if rd.simulated else "real experiment"
    p = rd.provenance
    name = p.get("scenario") if rd.simulated else p.get("data_file")
    arms = ", ".join(text_label(a) for a in sorted(map(str, rd.leads[rd.arm].unique())))
    return (
        f"# {text_label(rd.service_line).capitalize()}: nurture experiment report\n"
        f"<p class='meta'>{kind.capitalize()} <code>{text_label(name)}</code> · arms: {arms} · control: "
        f"{text_label(rd.control)} · {len(rd.leads):,} leads</p>"
    )


def show_speed(rd: ReportData) -> None:
    """The speed-to-lead picture, from first-call times (simulated) or first-response times (exports)."""
    from .plots import plot_first_response

    for col in ("first_call_minutes", "first_response_minutes"):
        if col in rd.leads.columns and rd.leads[col].notna().any():
            show(plot_first_response(rd.leads, rd.arm, column=col))
            return
    show("_The data have no first-response times (columns `first_call_minutes` or `first_response_minutes`)._")
