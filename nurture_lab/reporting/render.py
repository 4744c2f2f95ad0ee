"""Rendering leadership reports: papermill parameters, warm kernels in worker processes, atomic files."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import html
import math
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import _parallel
from .._results import ResultMixin
from ..errors import DataError, NurtureLabError, ParameterError, check_param
from ..io import atomic
from .html import export_html, write_index
from .labels import arm_label, slug, upper_first
from .publish import NO_RECOMMENDATION, blocked_manifest, publish_pages, void_verdict

__all__ = ["ReportError", "ReportRun", "prepare_data", "render_reports", "template_parameters"]


def default_template() -> Path:
    """The report template shipped with the package (``notebooks/report_template.ipynb`` in a checkout)."""
    from importlib import resources

    return Path(str(resources.files("nurture_lab").joinpath("data", "report_template.ipynb")))


#: The file, in the output folder, that lists what a run wrote (so a re-run removes only its own files).
RUN_RECORD = ".nurture-lab-reports.json"


@dataclass(frozen=True, repr=False)
class ReportRun(ResultMixin):
    """What :func:`render_reports` did: one row per service line (its page, or its error, and seconds)."""

    index: str
    reports: dict[str, str]
    failed: dict[str, str]
    seconds: float
    per_report_seconds: dict[str, float]

    _json_extras = ("index", "seconds")

    def _table(self) -> pd.DataFrame:
        lines = list(dict.fromkeys([*self.per_report_seconds, *self.reports, *self.failed]))
        return pd.DataFrame(
            {
                "service_line": lines,
                "report": [self.reports.get(s, "") for s in lines],
                "error": [self.failed.get(s, "") for s in lines],
                "seconds": [self.per_report_seconds.get(s, float("nan")) for s in lines],
            }
        )

    def _head(self) -> str:
        return (
            f"ReportRun({len(self.reports)} report(s), {len(self.failed)} failed, index {self.index}, "
            f"{self.seconds:.1f} s)"
        )


class ReportError(NurtureLabError):
    """One or more reports failed; the others and the index were written."""


@dataclass(frozen=True)
class _Job:
    template: str
    service_line: str
    parameters: dict[str, Any]
    out_dir: str
    log_dir: str


def template_parameters(template: str | Path) -> dict[str, Any]:
    """The template's parameters (name -> default) as papermill reads them."""
    import papermill as pm

    params = pm.inspect_notebook(str(template))
    return {k: v.get("default") for k, v in params.items()}


_KERNEL: Any = None  # one warm kernel per worker process, reused by every report it renders
_CLIENT: Any = None  # a client connected to _KERNEL, reused by every report; dropped with its kernel


def _kernel() -> Any:
    """This process's report kernel: started once; imports stay warm between reports."""
    global _KERNEL
    if _KERNEL is None or not _KERNEL.is_alive():
        _drop_client()  # a client of a dead kernel
        import multiprocessing.util

        from jupyter_client.manager import KernelManager

        km = KernelManager(kernel_name="python3")
        # figures must be embedded whatever the server's MPLBACKEND says (Agg would turn each one
        # into the text "<Figure size ...>"): the kernel runs without it, on the inline backend
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
        km.start_kernel(cwd=os.getcwd(), env=env)
        multiprocessing.util.Finalize(km, km.shutdown_kernel, kwargs={"now": True}, exitpriority=10)
        _KERNEL = km
    return _KERNEL


def _client() -> Any:
    """An asynchronous client connected to this process's kernel, made once and reused by every report:
    a client made per report would wait about 0.2 s for the kernel to be quiet (jupyter_client's ready
    check) before every report. Asynchronous, as nbclient's own clients are, so nbclient's watch on the
    kernel runs while a cell waits for output: a kernel that dies mid-report fails that report instead
    of blocking the run forever (a blocking client waits for output with no timeout)."""
    global _CLIENT
    km = _kernel()
    if _CLIENT is None:
        from jupyter_client.asynchronous import AsyncKernelClient
        from jupyter_core.utils import run_sync

        kc = AsyncKernelClient(**km.get_connection_info(session=True), connection_file=km.connection_file, parent=km)
        kc.start_channels()
        run_sync(kc.wait_for_ready)(timeout=60)
        kc.allow_stdin = False
        _CLIENT = kc
    return _CLIENT


def _drop_client() -> None:
    global _CLIENT
    if _CLIENT is not None:
        with contextlib.suppress(Exception):
            _CLIENT.stop_channels()
        _CLIENT = None


#: What a warm kernel runs once, before any report: the library's imports, the inline backend, and one
#: small figure through :func:`~nurture_lab.reporting.notebook.figure_bundle` (fonts and text caches).
#: Then what survives (modules, caches) is frozen out of the garbage collector's reach: each report's
#: ``%reset`` collects twice, and a full collection over every imported module costs about 0.15 s;
#: over one report's own objects it costs milliseconds.
_WARM_UP = """\
%matplotlib inline
import matplotlib.pyplot as _plt
import nurture_lab.reporting.content, nurture_lab.reporting.notebook, nurture_lab.reporting.plots
_fig, _ax = _plt.subplots(figsize=(3, 2))
_ax.bar(["a", "b"], [1, 2]); _ax.set_title("warm-up"); _ax.legend(["x"])
nurture_lab.reporting.notebook.figure_bundle(_fig); _plt.close(_fig)
%reset -f
import gc
gc.freeze()
del gc
"""


def _start_kernel(log_dir: str) -> None:
    """Start this process's kernel (its start-up chatter to a log file); returns without waiting for it."""
    with _kernel_log(Path(log_dir) / f"kernel-worker-{os.getpid()}.log"):
        _kernel()


def _warm_up() -> None:
    """Connect to this process's kernel and run :data:`_WARM_UP` in it; load the HTML exporter here."""
    import nbformat
    from jupyter_core.utils import run_sync

    kc = _client()
    msg_id = kc.execute(_WARM_UP)
    export_html(nbformat.v4.new_notebook(), "warm-up", {})  # nbconvert's import and templates, meanwhile

    async def reply() -> None:  # the reply to the warm-up (nbclient skips its output messages: another parent)
        deadline = time.monotonic() + 120
        while (await kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.1)))["parent_header"].get(
            "msg_id"
        ) != msg_id:
            pass

    run_sync(reply)()


def _warm_worker(log_dir: str) -> None:
    """Pool initializer: start this worker's kernel and warm it up, once."""
    _parallel.on_worker_stop(_shutdown_kernel)
    _start_kernel(log_dir)
    _warm_up()


def _warm_in_background(log_dir: Path) -> threading.Thread:
    """One report process (``jobs=1``): start the kernel now and warm it up in a thread, so the kernel's
    start and imports overlap the data preparation instead of adding to the first report. A warm-up
    that fails is left for the first report to meet and report."""
    _start_kernel(str(log_dir))

    def run() -> None:
        with contextlib.suppress(Exception):
            _warm_up()

    thread = threading.Thread(target=run, name="nurture-lab-kernel-warm-up", daemon=True)
    thread.start()
    return thread


def _noop() -> None:
    return None


def _warm_pool(jobs: int, log_dir: Path) -> Any:
    """Worker processes with warm kernels. Fresh interpreters, not forks: a forked copy of a process
    that has talked to a kernel over ZeroMQ can deadlock. A worker stopped by SIGTERM shuts its
    kernel down first (see :func:`nurture_lab._parallel.on_worker_stop`)."""
    pool = _parallel.make_pool(
        jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_warm_worker,
        initargs=(str(log_dir),),
    )
    for _ in range(jobs):  # start every worker now, so the kernels warm up during data preparation
        pool.submit(_noop)
    return pool


def _shutdown_kernel() -> None:
    global _KERNEL
    _drop_client()
    if _KERNEL is not None:
        with contextlib.suppress(Exception):
            _KERNEL.shutdown_kernel(now=True)
        _KERNEL = None


def _execute(template: str, parameters: Mapping[str, Any]) -> Any:
    """Parameterise the template (papermill) and run it on the warm kernel (nbclient).

    Each report starts from a clean namespace (``%reset``); only imported modules stay warm, so a
    report costs its own analysis and pictures, not a kernel start and the scientific stack's imports.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(template))  # papermill's loader: adds the metadata papermill expects
    nb = parameterize_notebook(nb, dict(parameters), report_mode=True, kernel_name="python3", language="python")
    nb.cells.insert(0, nbformat.v4.new_code_cell("%reset -f\n%matplotlib inline", metadata={"tags": ["reset"]}))
    kc = _client()
    client = NotebookClient(nb, km=_kernel(), timeout=600, kernel_name="python3", allow_errors=False)
    client.kc = kc  # the warm, connected client: nbclient leaves a client it did not make running
    try:
        client.execute()
    except CellExecutionError as e:
        nb.cells.pop(0)
        failed = next(
            (
                i
                for i, c in enumerate(nb.cells)
                if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.get("outputs", []))
            ),
            None,
        )
        raise _LineFailed(failure_text(nb, failed, e.ename, e.evalue), nb) from None
    nb.cells.pop(0)
    _check_figures(nb)
    return nb


#: The report sections, by the first words of their heading (what a failure is said to be in).
_HEADING = re.compile(r"^#{1,3} +(.+)$", re.M)


def failure_text(nb: Any, failed: int | None, ename: str, evalue: str) -> str:
    """A report's failure in words: the section it happened in and what went wrong (a missing column
    named as such), never a cell number."""
    what = f"the data have no column {evalue} (KeyError)" if ename == "KeyError" else f"{ename}: {evalue}"
    return f"in the section \u201c{_section(nb, failed)}\u201d: {what}"


def _section(nb: Any, upto: int | None) -> str:
    """The heading above cell ``upto`` (a markdown heading, or one a code cell showed)."""
    section = "opening the data"
    for c in nb.cells[: (upto if upto is not None else len(nb.cells)) + 1]:
        texts = [c.source] if c.cell_type == "markdown" else []
        if c.cell_type == "code":
            texts += [str(o.get("data", {}).get("text/markdown", "")) for o in c.get("outputs", [])]
        for text in texts:
            found = _HEADING.findall(text)
            if found:
                section = found[-1].strip()
    return section


def _check_figures(nb: Any) -> None:
    """Fail the report when a figure was shown as text instead of an image (never a page without charts)."""
    for i, cell in enumerate(nb.cells, start=1):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if str(data.get("text/plain", "")).startswith("<Figure size") and "image/png" not in data:
                raise _LineFailed(
                    f"in the section \u201c{_section(nb, i - 1)}\u201d: a figure was not embedded (shown as {data['text/plain']!r}); "
                    f"check the kernel's matplotlib backend (MPLBACKEND={os.environ.get('MPLBACKEND', '')!r})"
                )


def _render_one(job: _Job) -> tuple[str, str | None, float]:
    """Execute the template for one line; write its HTML and notebook atomically. Returns (line, error, seconds)."""
    import nbformat
    from nbclient.exceptions import DeadKernelError

    t0 = time.perf_counter()
    out = Path(job.out_dir)
    line = job.service_line
    with (
        atomic.atomic_path(out / f"{slug(line)}.ipynb") as tmp_nb,
        _kernel_log(Path(job.log_dir) / f"kernel-{slug(line)}.log"),
    ):
        try:
            nb = _execute(job.template, job.parameters)
        except _LineFailed as e:
            if e.notebook is not None and out.is_dir():  # kept beside its error, for debugging (never
                # shown as a report); a staging folder already removed means the run was stopped
                atomic.write_text(out / failed_notebook(line), nbformat.writes(void_verdict(e.notebook, str(e))))
            raise
        except DeadKernelError as e:
            _shutdown_kernel()
            raise _LineFailed(f"the kernel died: {e}") from None
        except Exception as e:  # template unreadable, kernel would not start, ...
            raise _LineFailed(f"{type(e).__name__}: {e}") from None
        nbformat.write(nb, str(tmp_nb))
        title = f"{upper_first(arm_label(line))} — nurture experiment report"
        shown = {k: v for k, v in job.parameters.items() if k not in ("leads_path", "truth_path", "manifest_path")}
        atomic.write_text(out / f"{slug(line)}.html", export_html(nb, title, shown))
    return line, None, time.perf_counter() - t0


@contextlib.contextmanager
def _kernel_log(path: Path) -> Any:
    """Send the kernel's own stderr chatter (start-up warnings) to a log file instead of the terminal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = os.dup(2)
    with open(path, "ab") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _LineFailed(Exception):
    """A line's report failed: the reason in words, and the notebook as far as it ran (if any)."""

    def __init__(self, reason: str, notebook: Any = None) -> None:
        super().__init__(reason)
        self.notebook = notebook


def failed_notebook(line: str) -> str:
    """The file name of a failed line's executed notebook (in the output folder, beside the index)."""
    return f"{slug(line)}.failed.ipynb"


def _safe_render(job: _Job) -> tuple[str, str | None, float]:
    t0 = time.perf_counter()
    try:
        return _render_one(job)
    except _LineFailed as e:
        return job.service_line, str(e), time.perf_counter() - t0


def prepare_data(
    out_dir: Path,
    *,
    scenario: str | Path | None,
    data: str | Path | None,
    seed: int,
    n_leads: int,
    mapping: str | Path | None = None,
    read_options: Mapping[str, Any] | None = None,
    on_import: Callable[[Any], None] | None = None,
    jobs: int | None = _parallel.DEFAULT_JOBS,
) -> tuple[Path, Path | None, dict[str, Any]]:
    """Simulate once (or import a real export once) for all reports; returns (leads, truth, manifest).
    ``jobs``: the simulation's processes (see :func:`~nurture_lab.simulate`).

    An import's notes (rows read, used and dropped by reason, zone rule, date orders, as_of, follow-up)
    go into the manifest as ``import_notes``, and the import to ``on_import`` when given."""
    from ..scenario.loader import load_scenario
    from ..simulation.engine import simulate
    from ..simulation.store import manifest

    cache = out_dir
    cache.mkdir(parents=True, exist_ok=True)
    if data:
        from ..io.crm import read_leads

        imp = read_leads(data, mapping=mapping, **dict(read_options or {}))
        if on_import is not None:
            on_import(imp)
        from ..io.warehouse import is_url

        if is_url(str(data)):  # a database table (read_options["table"]): its imported rows name the cache
            rows = pd.util.hash_pandas_object(imp.leads, index=False).to_numpy().tobytes()
            key, name = hashlib.sha256(rows).hexdigest()[:16], imp.source
        else:
            key, name = hashlib.sha256(Path(data).read_bytes()).hexdigest()[:16], Path(data).name
        leads_path = cache / f"real-{key}.parquet"
        atomic.write_parquet(leads_path, imp.leads)
        man = {
            "data_file": name,
            "data_sha256": key,
            "dropped_columns": imp.dropped_identifiers,
            "n_leads": len(imp.leads),
            "control": "",
            "as_of": str(imp.as_of),
            "horizon_days": imp.horizon_days,
            "import_notes": imp.notes,
        }
        return leads_path, None, man
    sc = load_scenario(scenario or "speed_to_lead")
    res = simulate(sc, seed=seed, n_leads=n_leads, jobs=jobs)
    key = f"{sc.sha256[:12]}-{seed}-{n_leads}"
    leads_path = cache / f"sim-{key}.parquet"
    truth_path = cache / f"truth-{key}.csv"
    atomic.write_parquet(leads_path, res.analysis_frame())
    atomic.write_csv(truth_path, res.truth)
    man = manifest(res) | {"horizon_days": sc.horizon_days}
    return leads_path, truth_path, man


def render_reports(
    scenario: str | Path | None = None,
    service_lines: Sequence[str] | str | None = "all",
    *,
    data: str | Path | None = None,
    mapping: str | Path | None = None,
    read_options: Mapping[str, Any] | None = None,
    seed: int = 7,
    n_leads: int | str = 20_000,
    out: str | Path = "reports",
    jobs: int | None = _parallel.DEFAULT_JOBS,
    parameters: Mapping[str, Any] | None = None,
    template: str | Path | None = None,
    progress: bool | None = None,
    executor: Executor | None = None,
    on_import: Callable[[Any], None] | None = None,
) -> ReportRun:
    """Render one HTML report per service line, and the index.

    Args:
        scenario: scenario file, or a bundled scenario's name, to simulate (default ``speed_to_lead``).
        service_lines: "all" or a list of service lines.
        data: a real export (leads CSV/Parquet) instead of a simulation, or a database URL
            (``duckdb:///w.db``, ``postgres://…``) with ``read_options={"table": "leads"}``; ``mapping`` maps
            its columns and ``read_options`` are passed to :func:`~nurture_lab.read_leads` (``table``,
            ``timezone``, ``on_error``, ``as_of``).
        seed, n_leads: the simulation's seed and size; ``n_leads="auto"`` sizes it with the power
            functions so the result over all service lines can detect the scenario's true effect on
            the primary metric (80% power, at the family's Bonferroni level); see :func:`auto_n_leads`.
        out: output folder (default ``reports``).
        jobs: worker processes, each with one warm kernel (default ``None``: every core, at most
            one per service line).
        parameters: extra template parameters (``control``, ``metric``, ``guardrail``,
            ``guardrail_margin``, ``alpha``, ``arm``); unknown names are refused before anything runs.
        template: the report notebook (default: the one shipped with the package).
        progress: ``True``: a progress bar of the report phase (tqdm); ``False``: silent; ``None``
            (default): the bar on a terminal (stderr a TTY), else one summary line on stderr when the
            report phase ends.
        executor: any ``concurrent.futures.Executor`` instead of the warm worker processes.
        on_import: called with the :class:`~nurture_lab.io.crm.ImportResult` of ``data`` as soon as it
            is read (the CLI prints its notes); the notes also reach the index and every page's methods.

    Returns:
        A :class:`ReportRun`: ``.index``, ``.reports`` ({line: path}), ``.failed``, ``.seconds``.

    Raises:
        ParameterError: an unknown parameter or service line, or real data without a control
            (before anything runs).
        ReportError: one or more lines failed (the rest and the index were written).
    """
    from .. import _random

    t0 = time.perf_counter()
    _random.check_seed(seed, "render_reports")
    sizing = ""
    if n_leads == "auto" and not data:
        metric = str((parameters or {}).get("metric", "booked_30d"))
        guardrail = str((parameters or {}).get("guardrail", "opted_out"))
        alpha = float((parameters or {}).get("alpha", 0.05))
        n_leads, sizing = auto_n_leads(scenario, seed=seed, metric=metric, guardrail=guardrail, alpha=alpha)
    elif n_leads == "auto":
        n_leads = 0
    check_param(
        "render_reports", "n_leads", n_leads, kind="int", low=0 if data else 1, expected="an int >= 1 or 'auto'"
    )
    n_leads = int(n_leads)
    template = Path(template) if template is not None else default_template()
    out_dir = Path(out)
    extra = _check_parameters(template, parameters, data)
    asked = None if service_lines in (None, "all") else _as_list(service_lines)
    if not data and asked is not None:
        from ..scenario.loader import load_scenario

        sc_lines = load_scenario(scenario or "speed_to_lead").service_lines
        _check_lines(asked, sc_lines, "the scenario has")
    workers = _parallel.resolve_jobs("render_reports", jobs, len(asked) if asked is not None else 1_000)
    if not data:
        _check_simulation_inputs(scenario, extra)
    made = atomic.make_dirs(out_dir)  # an unwritable folder fails now, before any work
    work = Path(tempfile.mkdtemp(prefix="nurture-lab-report-"))  # data and logs: never in the output folder
    pool = None
    warming = None
    with _parallel.stop_on_sigterm():
        try:
            prepared = None
            if data:  # an export is read (and its arms and columns checked) before any kernel starts
                prepared = prepare_data(
                    work,
                    scenario=None,
                    data=data,
                    seed=seed,
                    n_leads=n_leads,
                    mapping=mapping,
                    read_options=read_options,
                    on_import=on_import,
                )
                prepared[2]["report_notes"] = _check_data_inputs(prepared[0], extra)
            if executor is None and workers > 1:
                pool = _warm_pool(workers, work)  # kernels start while the data are prepared
            elif executor is None:
                warming = _warm_in_background(work)
            leads_path, truth_path, man = prepared or prepare_data(
                work, scenario=scenario, data=None, seed=seed, n_leads=n_leads, jobs=workers
            )
            man["control"] = extra.get("control") or man.get("control", "")
            if sizing:
                man["sizing"] = sizing
            man["decision"], man["decision_error"] = _decision(leads_path, man, extra)
            man_path = work / "manifest.json"
            atomic.write_json(man_path, man)
            available = _service_lines(leads_path)
            lines = available if asked is None else asked
            _check_lines(lines, available, "the data have")
            base = {
                "leads_path": str(leads_path.resolve()),
                "truth_path": str(truth_path.resolve()) if truth_path else "",
                "manifest_path": str(man_path.resolve()),
            } | extra
            stage = work / "pages"  # published into out_dir once the run's decision is final
            jobs_list = [_Job(str(template), s, base | {"service_line": s}, str(stage), str(work)) for s in lines]
            if warming is not None:
                warming.join()
            bar = progress if progress is not None else sys.stderr.isatty()
            t_reports = time.perf_counter()
            results, man = _render_lines(jobs_list, executor or pool, bar, man, work)
            if pool is not None:
                pool.shutdown(wait=True)
                pool = None
            if progress is None and not bar:
                print(_phase_summary(results, time.perf_counter() - t_reports, workers), file=sys.stderr, flush=True)
            with warnings.catch_warnings():  # library warnings are not for the terminal
                warnings.simplefilter("ignore")
                headlines, overall = _headlines(lines, leads_path, truth_path, man, extra, results)
            failed = {k: v[0] for k, v in results.items() if v[0]}
            pages = publish_pages(stage, out_dir, lines, failed)
        except BaseException:
            if pool is not None:
                _parallel.terminate_pool(pool)
            if executor is None and workers > 1:
                # and any worker our pool no longer lists (stopped while it shut down: Python 3.11's
                # pool then waits at exit for a worker nobody stops)
                for child in multiprocessing.active_children():
                    with contextlib.suppress(Exception):
                        child.kill()
            atomic.remove_empty(made)  # a refused or failed run leaves no empty folder it made
            raise
        finally:
            if warming is not None:
                warming.join()  # never outlives the run (a failed run must not leave it starting a kernel)
            if executor is None:
                _shutdown_kernel()
            shutil.rmtree(work, ignore_errors=True)
            if sys.exc_info()[0] is not None:  # a stopped run: once more at exit, after any late writer
                atexit.register(shutil.rmtree, work, ignore_errors=True)
    index = write_index(
        out_dir,
        lines,
        headlines,
        results,
        man,
        overall=overall,
        seed=seed,
        n_leads=n_leads,
        parameters=extra,
        simulated=truth_path is not None,
    )
    _record_run(out_dir, [index, *pages])
    run = ReportRun(
        index=str(index),
        reports={s: str(out_dir / f"{slug(s)}.html") for s in lines if s not in failed},
        failed=failed,
        seconds=time.perf_counter() - t0,
        per_report_seconds={k: v[1] for k, v in results.items()},
    )
    if failed:
        by_reason: dict[str, list[str]] = {}
        for k, v in failed.items():  # one reason said once, with every line it stopped
            by_reason.setdefault(v, []).append(k)
        details = "; ".join(f"{', '.join(ks)}: {v}" for v, ks in by_reason.items())
        written = "The others and the index were" if len(failed) < len(lines) else "The index (saying so) was"
        raise ReportError(
            f"{len(failed)} of {len(lines)} report(s) failed ({details}). {written} written to {out_dir}."
        )
    return run


def _render_lines(
    jobs: Sequence[_Job], run_on: Executor | None, bar: bool, man: dict[str, Any], work: Path
) -> tuple[dict[str, tuple[str | None, float]], dict[str, Any]]:
    """Render every line's page into the staging folder; when a line fails and the run had a decision,
    withdraw it (:func:`~nurture_lab.reporting.publish.blocked_manifest`) and render the lines that ran
    again, so that every page states what the index states. Returns ({line: (error, seconds)}, manifest)."""

    def render(todo: Sequence[_Job], desc: str) -> dict[str, tuple[str | None, float]]:
        done = _parallel.map_tasks(
            _safe_render, todo, caller="render_reports", jobs=1, executor=run_on, progress=bar, desc=desc, unit="line"
        )
        return {line: (err, sec) for line, err, sec in done}

    results = render(jobs, "reports")
    failed = [s for s, (err, _) in results.items() if err]
    if not failed or not man.get("decision"):
        return results, man
    man = blocked_manifest(man, failed, [j.service_line for j in jobs])
    blocked = work / "manifest-no-decision.json"
    atomic.write_json(blocked, man)
    again = [
        _Job(j.template, j.service_line, j.parameters | {"manifest_path": str(blocked.resolve())}, j.out_dir, j.log_dir)
        for j in jobs
        if j.service_line not in failed
    ]
    for line, (err, sec) in render(again, "reports without the decision").items():
        results[line] = (err, results[line][1] + sec)
    return results, man


def _phase_summary(results: Mapping[str, tuple[str | None, float]], seconds: float, workers: int) -> str:
    """The report phase in one line, for a log (no terminal to draw a progress bar on)."""
    ok = [s for s, (err, _) in results.items() if not err]
    slowest = max(results.items(), key=lambda kv: kv[1][1], default=None)
    failed = len(results) - len(ok)
    return (
        f"reports: {len(ok)} of {len(results)} line(s) rendered in {seconds:.1f} s on {workers} worker(s)"
        + (f", {failed} failed" if failed else "")
        + (f"; slowest {slowest[0]} {slowest[1][1]:.1f} s" if slowest else "")
    )


def auto_n_leads(
    scenario: str | Path | None,
    *,
    seed: int = 7,
    metric: str = "booked_30d",
    guardrail: str = "opted_out",
    alpha: float = 0.05,
    power: float = 0.8,
) -> tuple[int, str]:
    """Leads for a simulated test whose result over all service lines can detect the scenario's effect.

    A pilot run of 20,000 leads with the ground truth gives the control's rate and the largest
    true effect on ``metric``; :func:`~nurture_lab.sample_size` (the Wald test the analysis runs)
    at the Bonferroni level of the report's family (every non-control arm x the report's metrics)
    gives the leads per arm, scaled by the smallest allocation share. Returns (leads, a sentence).
    """
    from ..scenario.loader import load_scenario
    from ..simulation.engine import simulate, truth_in
    from ..stats.power import sample_size
    from .content import family_size
    from .labels import arm_label, metric_label

    sc = load_scenario(scenario or "speed_to_lead")
    t = truth_in(simulate(sc, seed=seed, n_leads=20_000).truth)
    t = t[(t["service_line"] == "all") & (t["metric"] == metric)]
    control = sc.experiment.control
    base = float(t.loc[t["arm"] == control, "mean"].iloc[0])
    others = t[t["arm"] != control]
    best = others.loc[others["true_diff"].abs().idxmax()]
    m = family_size(len(sc.experiment.arm_names), metric, guardrail)  # the family every report's Holm uses
    d = float(best["true_diff"])
    if abs(d) < 1e-4 or not 0 < base + d < 1:
        return 20_000, "no true effect to size for: 20,000 leads"
    per_arm = sample_size(base, d, alpha=alpha / m, power=power)
    share = min(sc.experiment.allocation.values())
    n = int(math.ceil(per_arm / share / 1000) * 1000)
    return n, (
        f"{n:,} leads, sized by a power calculation to detect the true {d * 100:+.1f}-point effect of "
        f"{arm_label(str(best['arm']))} on {metric_label(metric)} (from {base:.1%}) with {power:.0%} power at "
        f"alpha {alpha:g} over {m} comparison{'s' if m != 1 else ''}"
    )


def _record_run(out_dir: Path, written: Sequence[Path]) -> None:
    """Remove the files an earlier run recorded as its own and this run did not write again (never any
    other file in the folder), then record this run's files."""
    import json

    record = out_dir / RUN_RECORD
    keep = {Path(p).name for p in written}
    if record.is_file():
        try:
            earlier = json.loads(record.read_text()).get("files", [])
        except (ValueError, AttributeError):
            earlier = []
        for name in earlier:
            if isinstance(name, str) and name not in keep and "/" not in name and not name.startswith("."):
                with contextlib.suppress(FileNotFoundError):
                    (out_dir / name).unlink()
    atomic.write_json(record, {"files": sorted(keep)})


def _check_simulation_inputs(scenario: Any, extra: dict[str, Any]) -> None:
    """Control, metric and guardrail of a simulated report, checked against the scenario before any
    kernel starts; the planned split is the scenario's unless given."""
    from ..scenario.loader import load_scenario
    from ..simulation.engine import OUTCOME_COLUMNS

    sc = load_scenario(scenario or "speed_to_lead")
    if extra.get("control"):
        _check_choice("control", extra["control"], sc.experiment.arm_names, "an arm of the scenario")
    for a in extra.get("allocation") or {}:
        _check_choice("allocation", a, sc.experiment.arm_names, "arms of the scenario")
    if not extra.get("allocation"):
        extra["allocation"] = dict(sc.experiment.allocation)
    outcomes = [c for c in OUTCOME_COLUMNS if c != "arm" and not c.endswith("_at")]
    for name in ("metric", "guardrail"):
        if name in extra:
            _check_choice(name, extra[name], outcomes, "an outcome column")


#: The primary metric of a real-data report when none is given: the first of these the data have.
DEFAULT_METRICS = ("booked_30d", "booked", "attended", "contacted", "qualified")


def _check_data_inputs(leads_path: Path, extra: dict[str, Any]) -> list[str]:
    """Arm column, control, metric and guardrail of a real-data report, checked against the data.

    Without a ``metric`` parameter the primary metric is the first of :data:`DEFAULT_METRICS` that the
    data have (set in ``extra``, and said in the returned notes)."""
    import pyarrow.parquet as pq

    columns = [c for c in pq.read_schema(leads_path).names if not c.startswith("__")]
    arm = extra.get("arm", "arm")
    _check_choice("arm", arm, columns, "a column of the data")
    notes = []
    if "metric" not in extra and DEFAULT_METRICS[0] not in columns:
        found = next((m for m in DEFAULT_METRICS if m in columns), None)
        if found is None:
            raise ParameterError(
                f"The data have none of the report's default metrics ({', '.join(DEFAULT_METRICS)}): name the "
                "primary metric, a binary column of the data, with parameters={'metric': ...} (CLI --param "
                f"metric=COLUMN). Columns: {', '.join(columns)}."
            )
        extra["metric"] = found
        notes.append(
            f"primary metric: {found} (the data have no booked_30d, which needs booking times: column booked_at)"
        )
    for name in ("metric", "guardrail"):
        if name in extra:
            _check_choice(name, extra[name], columns, "a column of the data")
    arms = sorted(map(str, pd.read_parquet(leads_path, columns=[arm])[arm].unique()))
    _check_choice("control", extra.get("control"), arms, f"a value of column '{arm}'")
    for a in extra.get("allocation") or {}:
        _check_choice("allocation", a, arms, f"arms of column '{arm}'")
    if len(arms) < 2:  # refused here, once, not by every line's kernel
        raise DataError(
            f"Column '{arm}' has only the control arm {extra.get('control')!r}; nothing to compare: "
            "a report needs the control and at least one other arm."
        )
    return notes


def _check_choice(name: str, value: Any, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ParameterError(
            f"Unknown report parameter value {name}={value!r}: expected {what}: {', '.join(map(str, allowed))}."
        )


def _as_list(service_lines: Sequence[str] | str) -> list[str]:
    return [service_lines] if isinstance(service_lines, str) else list(service_lines)


def _check_parameters(template: Path, parameters: Mapping[str, Any] | None, data: Any) -> dict[str, Any]:
    """The extra template parameters, refused when unknown (papermill itself would only warn)."""
    known = template_parameters(template)
    extra = dict(parameters or {})
    fixed = {"service_line", "leads_path", "truth_path", "manifest_path", "scenario", "seed", "n_leads"}
    unknown = sorted(set(extra) - (set(known) - fixed))
    if unknown:
        raise ParameterError(
            f"Unknown report parameter(s) {', '.join(map(repr, unknown))}; the template {template.name} takes: "
            f"{', '.join(sorted(set(known) - fixed))}."
        )
    where = "a report (--param NAME=VALUE)"  # checked here, before any kernel starts
    numbers: dict[str, dict[str, Any]] = {
        "target_effect": {"low": 0, "high": 1},
        "alpha": {"low": 0, "high": 0.5, "low_open": True, "high_open": True},
        "guardrail_margin": {"low": 0, "high": 1},
        "staff_cost_per_hour": {"low": 0},
    }
    for name, spec in numbers.items():
        if name in extra:
            extra[name] = float(check_param(where, name, extra[name], **spec))
    if "sequential" in extra:
        check_param(where, "sequential", extra["sequential"], kind="bool", expected="True or False")
    if "allocation" in extra:
        from .content import parse_allocation

        extra["allocation"] = parse_allocation(extra["allocation"]) or ""
    if "currency" in extra:
        from .content import check_currency

        extra["currency"] = check_currency(extra["currency"])
    if data and not extra.get("control"):
        raise ParameterError(
            "Reports on real data need the control arm's label: CLI --control LABEL (Python parameters={'control': ...})."
        )
    return extra


def _check_lines(asked: Sequence[str], available: Sequence[str], where: str) -> None:
    bad = [s for s in asked if s not in available]
    if bad:
        raise ParameterError(f"Unknown service line(s) {bad}; {where}: {', '.join(available)}.")


def _service_lines(leads_path: Path) -> list[str]:
    """The service lines in the prepared data (``["all"]`` when the data have no such column)."""
    import pyarrow.parquet as pq

    if "service_line" not in pq.read_schema(leads_path).names:
        return ["all"]
    col = pd.read_parquet(leads_path, columns=["service_line"])["service_line"]
    return sorted(map(str, col.unique()))


def _decision(leads_path: Path, man: Mapping[str, Any], extra: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The run's one decision (see :mod:`~nurture_lab.reporting.decision`), made once over every lead
    and stored in the manifest that every page reads; (None, the reason) when it cannot be made."""
    from .content import parse_allocation
    from .decision import decide, staffed_agents

    keys = ("arm", "metric", "guardrail", "guardrail_margin", "alpha", "sequential", "target_effect")
    kw = {k: extra[k] for k in keys if k in extra}
    try:
        dec = decide(
            pd.read_parquet(leads_path),
            control=str(man.get("control", "")),
            staff_cost_per_hour=float(extra.get("staff_cost_per_hour", 0.0)),
            currency=str(extra.get("currency", "USD")),
            staffed_agents=staffed_agents(man),
            allocation=parse_allocation(extra.get("allocation")),
            **kw,
        )
    except NurtureLabError as e:
        return None, str(e)
    return dec.to_dict(), ""


def _headlines(
    lines: Sequence[str],
    leads_path: Path,
    truth_path: Path | None,
    man: Mapping[str, Any],
    extra: Mapping[str, Any],
    results: Mapping[str, tuple[str | None, float]],
) -> tuple[dict[str, str], dict[str, Any]]:
    """Each line's verdict and leads per arm, and the run's decision first: every sentence from the
    one :class:`~nurture_lab.reporting.decision.RunDecision` the pages also read (the manifest's)."""
    import pyarrow.parquet as pq

    from .decision import RunDecision

    arm = str(extra.get("arm", "arm"))
    has_lines = "service_line" in pq.read_schema(leads_path).names  # an export may have none
    leads = pd.read_parquet(leads_path, columns=[arm, "service_line"] if has_lines else [arm])
    if not has_lines:
        leads["service_line"] = "all"
    counts = leads.groupby(["service_line", arm], observed=True).size()
    control = str(man.get("control", ""))
    sizes = {}
    for s in lines:
        c = counts.loc[s] if s in counts.index.get_level_values(0) else pd.Series(dtype=int)
        order = [control, *sorted(a for a in map(str, c.index) if a != control)]
        sizes[s] = ", ".join(f"{arm_label(a)} {int(c[a]):,}" for a in order if a in c.index)  # arms named
    overall: dict[str, Any] = {"sizes": sizes}
    if not man.get("decision"):
        overall["headline"] = f"{NO_RECOMMENDATION} ({html.escape(str(man.get('decision_error', '')))})."
        return {
            s: "" if results.get(s, ("x", 0))[0] else "No verdict: the run has none (above)." for s in lines
        }, overall
    dec = RunDecision.from_dict(man["decision"])
    overall |= {"headline": dec.run_sentence(), "lines": dec.lines_sentence(), "worth": dec.worth_items()}
    out = {s: ("" if results.get(s, ("x", 0))[0] else dec.line_sentence(s)) for s in lines}
    return out, overall
