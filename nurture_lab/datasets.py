"""Example data sets shipped with the package.

``hillstrom()``: Kevin Hillstrom's MineThatData e-mail experiment (2008): 64,000 customers randomly
assigned, one third each, to a men's e-mail, a women's e-mail or no e-mail; two-week outcomes.
Provenance and columns: ``data/HILLSTROM.md`` in the package. Cite Kevin Hillstrom / MineThatData.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

__all__ = ["hillstrom", "hillstrom_path"]

HILLSTROM_SHA256 = "ff9e59285e9dc3f5fa3e0975419e6631ea5bdccd65d818991473d2367e02979c"  # of the uncompressed CSV


def hillstrom_path() -> Path:
    """Path of the gzip-compressed CSV (readable by ``nurture-lab analyze``)."""
    return Path(str(resources.files("nurture_lab").joinpath("data", "hillstrom.csv.gz")))


def hillstrom() -> pd.DataFrame:
    """The Hillstrom e-mail experiment: one row per customer.

    Columns: recency, history_segment, history, mens, womens, zip_code, newbie, channel,
    segment (the arm: "Mens E-Mail", "Womens E-Mail", "No E-Mail"), visit, conversion, spend.

    Example:
        >>> df = hillstrom()
        >>> len(df), sorted(df["segment"].unique())
        (64000, ['Mens E-Mail', 'No E-Mail', 'Womens E-Mail'])
    """
    df = pd.read_csv(hillstrom_path())
    for c in ("history_segment", "zip_code", "channel", "segment"):
        df[c] = df[c].astype("category")
    return df
