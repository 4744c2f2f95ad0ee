"""docs/send_time.png: send-time policies on content_test (left) and the fixed-schedule trap (right).

Usage: python docs/send_time_figure.py [N_LEADS REPLICATIONS HOUR_EFFECT_RIGHT]  (default 20000 6 2.0)
"""

import dataclasses
import sys
import time
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import nurture_lab as nl
from nurture_lab.whatif.send_time import engagement_by_hour, fixed_schedule, policy_scenario, schedule_bias

args = sys.argv[1:] or ["20000", "6", "2.0"]
N, R = int(args[0]), int(args[1])
sc = nl.load_scenario("content_test")
beh = dataclasses.replace(
    sc.behaviour, preferred_hour_by_audience={"patient": 9, "caregiver": 19, "referral_partner": 13}
)
sc = dataclasses.replace(sc, behaviour=beh, contact_center=None)
steps = [3, 4, 5, 6, 7, 8]
t = time.time()
res = nl.compare_send_times(
    sc,
    ["random", "planned", "audience_best", "lead_best", "oracle"],
    replications=R,
    n_leads=N,
    seed=1,
    steps=steps,
    jobs=2,
)
el = time.time() - t
pd.set_option("display.width", 250)
pd.set_option("display.max_columns", 30)
print(res.table.round(3).to_string())
print("seconds", round(el, 1))
# right panel: patients (prefer 7-11): engagement by local hour, fixed 14:00 schedule vs random times
M2 = float(args[2])
sc2 = dataclasses.replace(sc, behaviour=dataclasses.replace(sc.behaviour, preferred_hour_multiplier=M2))
fixed = engagement_by_hour(fixed_schedule(sc2, 14, steps), N, 1, steps)
rand = engagement_by_hour(policy_scenario(sc2, "random", steps), N, 1, steps, on_time=True)
print(schedule_bias(sc2, hour=14, n_leads=N, seed=1, steps=steps).to_string())
fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [1.15, 1]})
res.plot(ax=a1)
a1.set_title(
    f"Send-time policies vs random (content_test steps 3-8,\n{N:,} leads x {R} replications, hour effect x1.15)",
    fontsize=10,
)
aud = "patient"
num = ["sent", "engaged", "expected"]
f = fixed[fixed.audience == aud].set_index("hour")[num].reindex(range(24), fill_value=0)
r = rand[rand.audience == aud].set_index("hour")[num].reindex(range(24), fill_value=0)
a2.bar(
    np.arange(24) - 0.2,
    f["engaged"] / f["engaged"].sum(),
    width=0.4,
    color="#fc9272",
    label="share of engagements, fixed 14:00 schedule",
)
a2.bar(
    np.arange(24) + 0.2,
    r["engaged"] / r["engaged"].sum(),
    width=0.4,
    color="#9ecae1",
    label="share of engagements, random send times",
)
ax3 = a2.twinx()
rate = (r["engaged"] / r["expected"]).where(r["expected"] >= 20)
ax3.plot(
    np.arange(24),
    rate,
    color="#08519c",
    marker="o",
    ms=3,
    label="engaged / expected (step x audience rate), random times, not deferred",
)
ax3.set_ylabel("engaged / expected")
ax3.set_ylim(float(rate.min()) * 0.95, float(rate.max()) * 1.3)  # room for the legend above the data
a2.set_ylim(0, 1.45)
a2.axvspan(7, 11, color="grey", alpha=0.12, label="patients' preferred hours (7-11)")
a2.set_xlabel("local hour of the send (zoneinfo)")
a2.set_ylabel("share of the audience's engagements")
a2.set_title(
    f"Patients (hour effect x{M2:g}): a fixed 14:00 schedule's engagement sits at 14:00;\nrandomised send times show the hours that work",
    fontsize=10,
)
h1, l1 = a2.get_legend_handles_labels()
h2, l2 = ax3.get_legend_handles_labels()
a2.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
a2.set_xticks(range(0, 24, 3))
fig.tight_layout()
fig.savefig(Path(__file__).with_name("send_time.png"), dpi=110)
