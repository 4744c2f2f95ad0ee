from __future__ import annotations

import nurture_lab as nl


def test_non_inferiority_of_opt_outs(speed_run: nl.SimulationResult) -> None:
    res = nl.non_inferiority(speed_run.leads, "arm", "next_business_day", "opted_out", margin=0.01)
    t = res.results.set_index("arm")
    assert t["non_inferior"].all()  # the cadences differ only in the first call's timing
    assert (t["diff_ci_high"] < 0.01).all()
    strict = nl.non_inferiority(speed_run.leads, "arm", "next_business_day", "opted_out", margin=1e-5)
    assert not strict.results["non_inferior"].any()
