"""Every result object follows one protocol: to_pandas, to_dicts, to_json, repr and _repr_html_."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import nurture_lab as nl
from nurture_lab.reporting.render import ReportRun

from .conftest import FIXTURES, KNOWN


@pytest.fixture(scope="module")
def results(tiny: nl.Scenario, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    sim = nl.simulate(tiny, seed=2, n_leads=3000)
    leads = sim.analysis_frame()
    export = nl.make_example_export(tmp_path_factory.mktemp("exp") / "export.csv", n_leads=400, seed=3)
    from nurture_lab.io.example import EXAMPLE_MAPPING

    return {
        "AnalysisResult": nl.analyze(KNOWN, arm="arm", control="control", metrics=["y"]),
        "NonInferiorityResult": nl.non_inferiority(leads, "arm", "slow", "opted_out", 0.02),
        "TimeToBookResult": nl.time_to_book(leads, "arm", "slow", horizon_days=40),
        "PowerResult": nl.simulate_power(tiny, [400], replications=2, jobs=1, truth_leads=2000),
        "CalibrationResult": nl.calibrate(tiny, n_leads=400, replications=2, jobs=1),
        "StaffingResult": nl.staffing_curve(tiny, [2], n_leads=300, replications=1, jobs=1),
        "ImportResult": nl.read_leads(export, mapping=EXAMPLE_MAPPING),
        "LintResult": nl.lint_scenario(nl.load_scenario(FIXTURES / "bad_cadence.toml")),
        "ReportRun": ReportRun("index.html", {"a": "a.html"}, {"b": "boom"}, 1.5, {"a": 1.0, "b": 0.5}),
    }


NAMES = [
    "AnalysisResult",
    "NonInferiorityResult",
    "TimeToBookResult",
    "PowerResult",
    "CalibrationResult",
    "StaffingResult",
    "ImportResult",
    "LintResult",
    "ReportRun",
]


@pytest.mark.parametrize("name", NAMES)
def test_every_result_has_the_five_faces(results: dict[str, object], name: str) -> None:
    r = results[name]
    assert type(r).__name__ == name
    df = r.to_pandas()  # type: ignore[attr-defined]
    assert isinstance(df, pd.DataFrame) and len(df) > 0
    assert r.to_pandas() is not r.to_pandas()  # type: ignore[attr-defined]  # a copy each time
    dicts = r.to_dicts()  # type: ignore[attr-defined]
    assert len(dicts) == len(df) and set(dicts[0]) == {str(c) for c in df.columns}
    obj = json.loads(r.to_json())  # type: ignore[attr-defined]
    assert obj["results"] == json.loads(json.dumps(dicts))
    text = repr(r)
    assert text.startswith(f"{name}(") and "\n" in text
    page = r._repr_html_()  # type: ignore[attr-defined]
    assert "<table" in page and name in page


def test_the_same_things_have_the_same_names(results: dict[str, object]) -> None:
    for name in ("AnalysisResult", "NonInferiorityResult"):
        cols = set(results[name].to_pandas().columns)  # type: ignore[attr-defined]
        assert {
            "arm",
            "control",
            "control_value",
            "arm_value",
            "diff",
            "diff_ci_low",
            "diff_ci_high",
            "p_value",
        } <= cols
    reps = results["PowerResult"].replications  # type: ignore[attr-defined]
    assert {"diff", "diff_ci_low", "diff_ci_high", "p_value", "p_adjusted"} <= set(reps.columns)
    assert {"hazard_ratio", "hr_ci_low", "hr_ci_high", "p_value"} <= set(
        results["TimeToBookResult"].to_pandas().columns  # type: ignore[attr-defined]
    )


def test_analysis_json_keeps_its_documented_shape(results: dict[str, object]) -> None:
    obj = json.loads(results["AnalysisResult"].to_json())  # type: ignore[attr-defined]
    assert set(obj) >= {"results", "srm", "settings"}
    assert obj["srm"]["counts"] == {"control": 2000, "treat": 2000}


def test_lint_result_is_a_sequence_of_findings(results: dict[str, object]) -> None:
    lint = results["LintResult"]
    assert len(lint) == len(list(lint)) and lint[0].severity in ("error", "warning")  # type: ignore[index, arg-type]
    assert lint.n_errors == sum(f.severity == "error" for f in lint) > 0  # type: ignore[attr-defined, attr-defined]


def test_import_result_says_what_it_holds(results: dict[str, object], tmp_path: Path) -> None:
    imp = results["ImportResult"]
    assert imp.kind == "leads" and len(imp.leads) == 400  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match=r"import of leads: use \.leads"):
        _ = imp.touches  # type: ignore[attr-defined]
    assert json.loads(imp.to_json())["settings"]["dropped_identifiers"]  # type: ignore[attr-defined]
