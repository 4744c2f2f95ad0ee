"""Re-execute notebooks in place (their stored outputs are what nbval's golden cells compare against).

``python -m nurture_lab.reporting.refresh notebooks`` (or one notebook's path) — run after a deliberate change to the model
or the statistics, review the diff of the golden cells, and commit.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def refresh(folder: str | Path) -> None:
    """Execute every notebook of ``folder`` in place (or the one notebook ``folder`` names)."""
    import papermill as pm

    where = Path(folder)
    if where.suffix == ".ipynb":
        notebooks = [where]
    else:
        notebooks = sorted(where.glob("[0-9]*.ipynb")) + sorted(where.glob("report_template.ipynb"))
    for nb in notebooks:
        t0 = time.perf_counter()
        pm.execute_notebook(str(nb), str(nb), kernel_name="python3", cwd=str(nb.parent), progress_bar=False)
        _strip_papermill(nb)
        print(f"{nb.name}: {time.perf_counter() - t0:.1f} s")


def _strip_papermill(path: Path) -> None:
    """Keep the stored notebook clean: no papermill timing metadata (it changes on every run)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    nbformat.write(nb, str(path))


if __name__ == "__main__":
    refresh(sys.argv[1] if len(sys.argv) > 1 else "notebooks")
