"""One run decision on every page: pages are rendered into a staging folder and published only once the
run's decision is final, so a line that fails cannot leave pages that state a decision the index withholds."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from ..io import atomic
from .labels import arm_label, slug

__all__ = ["NO_RECOMMENDATION", "blocked_manifest", "publish_pages", "void_verdict"]

#: The words every page and the index open their verdict with when the run has no decision.
NO_RECOMMENDATION = "**No recommendation**: the decision could not be made"


def blocked_manifest(man: Mapping[str, Any], failed: Sequence[str], lines: Sequence[str]) -> dict[str, Any]:
    """The run's manifest without its decision, because the reports of ``failed`` lines failed: the result
    over all lines includes their leads, so no decision is given until every line's report runs.

    Args:
        man: the run's manifest (with its ``decision``).
        failed: the service lines whose report failed.
        lines: every service line of the run.

    Returns:
        A copy of ``man`` whose ``decision`` is None and whose ``decision_error`` says why, in the words
        the index and every page quote.

    Example:
        >>> blocked_manifest({"decision": {}}, ["cardiology"], ["cardiology", "pediatrics"])["decision_error"][:31]
        'the report of 1 of 2 service li'
    """
    names = ", ".join(arm_label(s) for s in failed)
    reason = (
        f"the report of {len(failed)} of {len(lines)} service line(s) failed ({names}: the index says why); "
        "the result over all lines includes their leads, so none is given until every line's report runs"
    )
    return dict(man) | {"decision": None, "decision_error": reason}


def void_verdict(nb: Any, reason: str) -> Any:
    """A failed line's notebook, kept for debugging: a first cell says it failed and is no report, and the
    verdict it showed before failing is replaced (a decision the index may not give). Changes ``nb``."""
    import nbformat

    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = str(out.get("data", {}).get("text/markdown", ""))
            if text.startswith("## Verdict"):
                out["data"] = {"text/markdown": f"## Verdict\n> {NO_RECOMMENDATION} (this line's report failed)."}
    note = (
        f"**This report failed** ({reason}). Kept for debugging only: it is no report and states no decision; "
        "the run's decision is on the index."
    )
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(note))
    return nb


def publish_pages(stage: Path, out_dir: Path, lines: Sequence[str], failed: Mapping[str, str]) -> list[Path]:
    """Copy each rendered line's page and notebook, and each failed line's kept notebook, from the
    staging folder into ``out_dir`` (each file atomically). Returns the files written."""
    written = []
    for s in lines:
        names = [f"{slug(s)}.failed.ipynb"] if s in failed else [f"{slug(s)}.html", f"{slug(s)}.ipynb"]
        for name in names:
            src = stage / name
            if src.is_file():
                written.append(atomic.write_with(out_dir / name, partial(_copy, src)))
    return written


def _copy(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
