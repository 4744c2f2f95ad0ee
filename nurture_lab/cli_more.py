"""Sub-commands beyond simulate and lint (analyze, power, report)."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> None:
    """Register the remaining sub-commands on ``sub`` (an argparse sub-parsers object)."""
    _ = argparse
