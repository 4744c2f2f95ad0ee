"""The index and every page state one correction family: the comparisons Holm actually adjusted over."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from statsmodels.stats.multitest import multipletests

import nurture_lab as nl
from nurture_lab.reporting import content, render


def test_family_size_leaves_out_the_guardrail_only() -> None:
    # 3 arms x (booked_30d, contacted, attended): opted_out is the guardrail, tested on its own
    assert content.family_metrics("booked_30d") == ["booked_30d", "contacted", "attended"]
    assert content.family_size(3, "booked_30d") == 6
    # a primary metric outside the defaults joins the family; a different guardrail leaves it instead
    assert content.family_size(3, "qualified") == 8
    assert content.family_metrics("booked_30d", guardrail="contacted") == ["booked_30d", "attended", "opted_out"]


@pytest.fixture(scope="module")
def auto_run(tiny_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("auto")
    render.render_reports(
        tiny_path, service_lines=["primary_care", "behavioral_health"], n_leads="auto", out=out, jobs=1, progress=False
    )
    return out


def test_index_and_every_page_state_the_comparisons_holm_used(auto_run: Path, tiny_path: Path) -> None:
    index = (auto_run / "index.html").read_text()
    m = re.search(r"over (\d+) comparisons", index)
    assert m is not None, "the index states its family when it sizes the test"
    stated = int(m[1])
    n_leads = int(re.search(r"([\d,]+) leads, sized", index)[1].replace(",", ""))  # type: ignore[index]
    leads = nl.simulate(nl.load_scenario(tiny_path), seed=7, n_leads=n_leads).analysis_frame()
    for line in ("primary_care", "behavioral_health"):
        page = (auto_run / f"{line}.html").read_text()
        on_page = [int(x) for x in re.findall(r"over (\d+) comparisons", page)]
        assert on_page == [stated], (line, on_page, stated)
        # the key-numbers table: one row per comparison with an adjusted p-value
        soup = BeautifulSoup(page, "html.parser")
        table = next(t for t in soup.find_all("table") if "Adjusted p" in t.get_text())
        rows = [tr for tr in table.select("tbody tr") if tr.find("td")]
        assert len(rows) == stated, (line, len(rows))
        # independently: statsmodels' Holm over that many p-values gives the page's adjusted p-values
        sub = leads[leads["service_line"] == line]
        res = nl.analyze(sub, arm="arm", control="slow", metrics=content.family_metrics("booked_30d"))
        r = res.results.dropna(subset=["p_value"])
        assert len(r) == stated
        want = multipletests(r["p_value"], method="holm")[1]
        assert r["p_adjusted"].to_numpy() == pytest.approx(want)
