"""The HTML pages: one self-contained page per service line (nbconvert, no code) and the index."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._version import __version__
from ..io import atomic
from .labels import arm_label, slug, split_text

__all__ = ["GLOSSARY", "PAGE", "export_html", "glossary_html", "page", "write_index"]


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="nurture_lab {version}">
<title>{title}</title>
<style>
body {{ font: 15px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1d1d1f;
       max-width: 1120px; margin: 0 auto; padding: 1.2rem; }}
h1 {{ font-size: 1.6rem; margin-bottom: .2rem; }} h2 {{ font-size: 1.2rem; margin-top: 2rem;
       border-bottom: 1px solid #ddd; padding-bottom: .2rem; }}
img {{ max-width: 100%; height: auto; }}
table {{ border-collapse: collapse; font-size: .85rem; margin: .5rem 0; display: block; overflow-x: auto; }}
th, td {{ border-bottom: 1px solid #e3e3e3; padding: .3rem .5rem; text-align: left; white-space: nowrap; }}
th {{ background: #f4f6f8; white-space: normal; vertical-align: bottom; min-width: 3.5em; }}
nav.back {{ font-size: .9rem; }}
dl.glossary {{ font-size: .85rem; color: #333; }} dl.glossary dt {{ font-weight: 600; float: left; clear: left;
  margin-right: .4rem; }} dl.glossary dd {{ margin: 0 0 .25rem 0; }}
.meta {{ color: #555; font-size: .85rem; }}
blockquote {{ background: #f3f7fb; border-left: 4px solid #1f5a96; padding: .6rem 1rem; margin: .5rem 0;
  font-size: 1.05rem; }}
a {{ color: #1f5a96; }}
table.index {{ display: table; }} table.index td {{ white-space: normal; }}
pre {{ white-space: pre-wrap; }}
@media (max-width: 600px) {{
  body {{ padding: .8rem; font-size: 15px; }}
  table, table.index {{ display: block; overflow: visible; }}
  thead {{ display: none; }}
  tbody, tr {{ display: block; }}
  tr {{ border: 1px solid #e3e3e3; border-radius: 6px; margin: .6rem 0; padding: .3rem .5rem; }}
  td {{ display: block; border: none; padding: .15rem 0; white-space: normal; }}
  td[data-label]::before {{ content: attr(data-label); display: block; color: #555; font-size: .75rem; }}
}}
@media print {{ body {{ max-width: none; font-size: 11pt; }} h2 {{ break-after: avoid; }}
  img, table {{ break-inside: avoid; }} a {{ color: inherit; text-decoration: none; }} }}
</style></head>
<body>
{body}
{glossary}
<p class="meta">Generated {generated} by nurture_lab {version}. {params}</p>
</body></html>
"""


#: The words a page may use that a reader may not know, explained once at the foot of every page.
GLOSSARY = {
    "Points": "percentage points, the difference between two rates: 20% to 22% is +2 points (a relative lift of +10%).",
    "Interval (CI)": "the range of effects the data are consistent with; a 95% interval holds the actual "
    "effect in 95 of 100 such tests.",
    "p-value": "how surprising the difference would be if the arms truly did equally well; small means "
    "unlikely to be chance.",
    "Alpha": "the chance, set before the test, of calling a difference real when there is none (0.05: 5%).",
    "Adjusted": "p-values and intervals widened because several arms and metrics are compared at once "
    "(Holm's method), so the chance of any false call stays at alpha; the verdict reads these. Holm's method "
    "steps down: the clearest comparison gets the strictest level, the next a little less strict, so the "
    "adjusted levels (98.3%, 99%, 99.2%...) differ between comparisons and pages.",
    "Status": "the decision against the target set before the test: Ship (a gain is shown), Roll back (every "
    "new cadence is worse), Stop (no gain as large as the target is left plausible) or Keep running (neither yet).",
    "Target": "the smallest effect worth shipping, set before the test (default: the planned MDE, the effect "
    "the test's leads detect with 80% power).",
    "Decision interval": "the adjusted interval over all service lines that the status reads; its level is in "
    "its label. Every other interval on a page describes and says it does not decide.",
    "Chance to beat the control": "the Bayesian probability that the arm does better than the control, given "
    "the data (flat prior); shown beside the status, it does not decide.",
    "Heterogeneity test": "Cochran's Q test of whether the service lines' effects differ more than chance "
    "allows; a line gets its own verdict only when it does and its pooled interval excludes the overall effect.",
    "Guardrail": "a metric that must not get worse (opt-outs), checked beside the goal.",
    "Non-inferiority": "the guardrail's test: passed when the top of its 90% interval stays below the "
    "margin, the largest rise we accept.",
    "Pooled": "each service line's estimate pulled toward the overall result, the more the fewer leads "
    "the line has: steadier than the line alone.",
    "Power": "the chance a test detects an effect of a given size when it is there (80% is usual).",
    "Follow-up": "the days after each inquiry the data cover; a metric 'within the follow-up' counts "
    "everything in that time, a metric 'within 30 days' only the first 30.",
    "Sample ratio check": "a chi-square test of whether the arms' sizes match the planned split; a "
    "mismatch means the assignment may be broken.",
    "Time-to-book methods": "Kaplan-Meier curves, the log-rank test and the Cox model compare how fast "
    "arms book, counting leads that have not booked yet.",
    "Erlang C": "the standard formula for how many agents keep the wait for a call short.",
    "Methods note terms": "z-test, Wald, Welch, Newcombe, Fieller, MOVER-R, delta method, log-ratio, Holm: the standard formulas behind the "
    "p-values and intervals, named so that a statistician can check them.",
    "Seed": "the number that fixes a simulation's random draws: the same seed gives the same data and report.",
}


def glossary_html() -> str:
    """The glossary, as the foot of a page."""
    items = "".join(f"<dt>{html.escape(k)}:</dt><dd>{html.escape(v)}</dd>" for k, v in GLOSSARY.items())
    return f"<h2 id='glossary'>Glossary</h2><dl class='glossary'>{items}</dl>"


def _param_text(value: Any) -> str:
    """A parameter as the footer shows it: a split as 'within 5 min 33%, ...', never a Python dict."""
    if isinstance(value, Mapping):
        if all(isinstance(v, int | float) for v in value.values()) and sum(value.values()) > 0:
            return split_text(value, label=lambda a: arm_label(str(a)))  # escaped by the caller
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def page(title: str, body: str, params: Mapping[str, Any]) -> str:
    shown = ", ".join(f"{k} = {html.escape(_param_text(v))}" for k, v in params.items() if v not in ("", None))
    return PAGE.format(
        title=html.escape(title),
        body=body,
        glossary=glossary_html(),
        version=__version__,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        params=f"Parameters: {shown}." if shown else "",
    )


def export_html(nb: Any, title: str, params: Mapping[str, Any]) -> str:
    for cell in nb.cells:  # warnings and logs never reach leadership
        if cell.get("cell_type") == "code":
            cell["outputs"] = [
                o
                for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
            ]
    body, _ = _exporter().from_notebook_node(nb)
    back = "<nav class='back'><a href='index.html'>&larr; All service lines (index)</a></nav>"
    return page(title, back + label_cells(body), params)


_EXPORTER: Any = None


def _exporter() -> Any:
    """nbconvert's HTML exporter, made once per process: a new one compiles its templates again
    (about 0.1 s a page)."""
    global _EXPORTER
    if _EXPORTER is None:
        from nbconvert import HTMLExporter

        _EXPORTER = HTMLExporter(
            template_name="basic",
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
            embed_images=True,
            exclude_anchor_links=True,
        )
    return _EXPORTER


_TABLE = re.compile(r"<table\b.*?</table>", re.S | re.I)


def label_cells(body: str) -> str:
    """Give every table cell its column's title (``data-label``), so on a phone each row reflows into
    a stacked card that still says what each number is. Only the tables are parsed (not the figures'
    embedded images around them)."""
    return _TABLE.sub(lambda m: _label_table(m.group(0)), body)


def _label_table(fragment: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(fragment, "html.parser")
    for table in soup.find_all("table"):
        heads = [th.get_text(" ", strip=True) for th in table.select("thead th")]
        if not heads:
            continue
        for tr in table.select("tbody tr"):
            for head, cell in zip(heads[-len(tr.find_all(["td", "th"])) :], tr.find_all(["td", "th"])):
                cell["data-label"] = head
    return str(soup)


def _md_inline(text: str) -> str:
    """A verdict's Markdown bold as HTML. The verdict text is already escaped where it holds data
    (:func:`~nurture_lab.reporting.labels.text_label`), so only ``**`` is turned into ``<b>``."""
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)


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
    overall: Mapping[str, Any] | None = None,
) -> Path:
    """The index: the result over all service lines first (a verdict, what the test could detect),
    then one row per line with its leads per arm and verdict."""
    overall = dict(overall or {})
    sizes = overall.get("sizes", {})
    rows = []
    for s in lines:
        err = results.get(s, (None, 0))[0]
        if err:
            kept = out_dir / f"{slug(s)}.failed.ipynb"
            link = (
                f' (its notebook as far as it ran: <a href="{html.escape(kept.name)}">{html.escape(kept.name)}</a>)'
                if kept.is_file()
                else ""
            )
            rows.append(
                f"<tr><td data-label='Service line'>{html.escape(arm_label(s))}</td><td data-label='Leads per arm'></td>"
                f"<td data-label='Verdict'><b>report failed</b> {html.escape(err)}; no verdict{link}</td></tr>"
            )
        else:
            rows.append(
                f'<tr><td data-label="Service line"><a href="{html.escape(slug(s))}.html">{html.escape(arm_label(s))}</a></td>'
                f"<td data-label='Leads per arm'>{html.escape(sizes.get(s, ''))}</td>"
                f"<td data-label='Verdict' class='line-verdict'>{_md_inline(headlines.get(s, ''))}</td></tr>"
            )
    size = html.escape(str(man["sizing"])) if man.get("sizing") else f"{n_leads:,} leads"
    src = (
        f"Simulated experiment <code>{html.escape(str(man.get('scenario')))}</code>, seed {seed}, {size}."
        if simulated
        else f"Real data <code>{html.escape(str(man.get('data_file')))}</code>."
    )
    summary = ""
    if overall.get("headline"):
        summary = (
            "<h2>All service lines together</h2>"
            f"<blockquote class='decision'>{_md_inline(overall['headline'])}</blockquote>"
            + (f"<p class='lines'>{_md_inline(overall['lines'])}</p>" if overall.get("lines") else "")
            + (
                "<h2>What it is worth</h2><ul class='worth'>"
                + "".join(f"<li>{_md_inline(item)}</li>" for item in overall["worth"])
                + "</ul>"
                if overall.get("worth")
                else ""
            )
        )
    notes = [*man.get("import_notes", []), *man.get("report_notes", [])]
    if notes and not simulated:
        summary += (  # for the analyst: folded under its first line, so a leader's page stays short
            "<h2>What the import did</h2><details class='meta'><summary>"
            + html.escape(str(notes[0]))
            + f" (the import's {len(notes)} notes, for the analyst)</summary><ul class='meta'>"
            + "".join(f"<li>{html.escape(str(n))}</li>" for n in notes)
            + "</ul></details>"
        )
    body = (
        f"<h1>Nurture experiment reports</h1><p class='meta'>{src}</p>{summary}"
        "<h2>By service line</h2><p class='meta'>One report per service line; click a line for its numbers, "
        "pictures and methods. The result over all service lines decides; a line gets a verdict of its own only "
        "when it differs from the whole (heterogeneity test below alpha and its pooled interval excludes the "
        "overall effect).</p>"
        "<table class='index'><thead><tr><th>Service line</th><th>Leads per arm</th><th>Verdict</th></tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table>"
    )
    params = {"seed": seed, "n_leads": n_leads} | dict(parameters) if simulated else dict(parameters)
    return atomic.write_text(out_dir / "index.html", page("Nurture experiment reports", body, params))
