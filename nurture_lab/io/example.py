"""A realistic, messy CRM export of a simulated experiment, to try the import on (synthetic people only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import atomic

__all__ = ["EXAMPLE_MAPPING", "EXAMPLE_TOUCH_MAPPING", "make_example_export"]


def make_example_export(
    path: str | Path,
    n_leads: int = 2000,
    seed: int = 1,
    *,
    touches: str | Path | None = None,
    offsets: bool = True,
) -> Path:
    """Write a realistic, messy CRM export of a simulated experiment (synthetic people only).

    Its own column names (see :data:`EXAMPLE_MAPPING`), Yes/No and Y/N booleans, local times in each
    lead's zone (with their UTC offset, or with ``offsets=False`` without one, as many CRMs export
    them: the import then infers each lead's zone from its state), the booking time and the visit
    as separate columns, trailing spaces in some arm labels, and identifier columns (name, e-mail,
    phone, notes) that the import must drop.
    """
    from ..scenario.loader import load_scenario
    from ..simulation.engine import simulate

    sc = load_scenario("speed_to_lead")
    res = simulate(sc, seed=seed, n_leads=n_leads, truth=False)
    L = res.leads
    rng = np.random.default_rng(seed)

    zones = L["timezone"].astype(str)

    def local(ts: pd.Series) -> pd.Series:
        """Wall-clock time in the lead's own zone (DST included), with or without its offset."""
        out = pd.Series("", index=L.index, dtype=object)
        for zone in zones.unique():
            sel = (zones == zone) & ts.notna()
            loc = ts[sel].dt.tz_convert(zone)
            text = loc.dt.strftime("%Y-%m-%d %H:%M:%S")
            if offsets:
                z = loc.dt.strftime("%z")
                text = text + z.str[:3] + ":" + z.str[3:]
            out[sel] = text
        return out

    yes = np.array(["Yes", "No"])
    yn = np.array(["Y", "N"])
    arm = L["arm"].astype(str).to_numpy().copy()
    pad = rng.random(len(L)) < 0.05
    arm[pad] = np.char.add(arm[pad], " ")
    exp = pd.DataFrame(
        {
            "Lead ID": [f"L-{i:07d}" for i in L["lead_id"]],
            "Full Name": L["name"].astype(str),
            "Email": L["email"].astype(str),
            "Mobile Phone": L["phone"].astype(str),
            "Variant": arm,
            "Created Date": local(L["created_at"]),
            "Service Line": L["service_line"].astype(str).str.replace("_", " ").str.title(),
            "Lead Source": L["source"].astype(str),
            "Audience": L["audience"].astype(str),
            "Appointment Booked": np.where(L["booked"], yes[0], yes[1]),
            "Booked Date": local(L["booked_at"]),
            "Appointment Date": local(L["booked_at"] + pd.to_timedelta(L["appointment_lead_days"], unit="D")),
            "State": L["state"].astype(str),
            "Showed": np.where(L["attended"], yn[0], yn[1]),
            "Unsubscribed": np.where(L["opted_out"], "TRUE", "FALSE"),
            "Staff Minutes": L["staff_minutes"].round(1),
            "Notes": np.where(rng.random(len(L)) < 0.1, "called back, prefers mornings", ""),
        }
    )
    out = Path(path)
    atomic.write_csv(out, exp)
    if touches is not None:
        T = res.touches[res.touches["status"] == "sent"]
        tx = pd.DataFrame(
            {
                "Lead ID": [f"L-{i:07d}" for i in T["lead_id"]],
                "Channel": T["channel"].astype(str).str.upper(),
                "Template": T["content"].astype(str),
                "Activity Date": T["sent_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "Responded": np.where(T["engaged"], "yes", "no"),
            }
        )
        atomic.write_csv(touches, tx)
    return out


#: How the example export's columns map to the schema (also shipped as ``data/example_mapping.toml``).
EXAMPLE_MAPPING: dict[str, str] = {
    "lead_id": "Lead ID",
    "arm": "Variant",
    "created_at": "Created Date",
    "service_line": "Service Line",
    "source": "Lead Source",
    "audience": "Audience",
    "booked": "Appointment Booked",
    "booked_at": "Booked Date",
    "appointment_at": "Appointment Date",
    "state": "State",
    "attended": "Showed",
    "opted_out": "Unsubscribed",
    "staff_minutes": "Staff Minutes",
}
EXAMPLE_TOUCH_MAPPING: dict[str, str] = {
    "lead_id": "Lead ID",
    "channel": "Channel",
    "content": "Template",
    "sent_at": "Activity Date",
    "engaged": "Responded",
}
