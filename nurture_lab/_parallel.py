"""One way to spread independent tasks over processes: simulate's chunks, power's batches, reports.

:func:`map_tasks` maps a function over tasks and returns the results **in task order**, so the
outcome never depends on the executor or the number of processes:

- ``executor``: any ``concurrent.futures.Executor`` (a Dask ``Client.get_executor()`` works the same);
  the caller owns it and shuts it down;
- otherwise ``jobs`` worker processes (default :data:`DEFAULT_JOBS`: every core this process may
  use), never more than there are tasks; one worker, or one task, runs in this process;
- ``progress``: a tqdm bar over finished tasks;
- a clean stop: Ctrl-C (SIGINT) or SIGTERM — what a CI timeout or a scheduler sends — cancels what
  has not started, terminates the workers (each worker's own clean-up runs: see
  :func:`on_worker_stop`) and re-raises :class:`KeyboardInterrupt` (:class:`Terminated` for SIGTERM),
  so no process is left behind and the command line exits 130 (143).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

__all__ = ["DEFAULT_JOBS", "Terminated", "available_cores", "map_tasks", "on_worker_stop", "stop_on_sigterm"]

T = TypeVar("T")
R = TypeVar("R")

#: The default number of worker processes everywhere (simulate, power, calibration, reports):
#: ``None`` means every core this process may use (see :func:`available_cores`).
DEFAULT_JOBS: int | None = None


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM (exit status 143)."""


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def resolve_jobs(func: str, jobs: Any, n_tasks: int) -> int:
    """The number of workers to start: ``jobs`` (``None``: every core), at most one per task."""
    from .errors import check_param

    if jobs is None:
        jobs = available_cores()
    jobs = check_param(func, "jobs", jobs, kind="int", low=1, expected="an int in the range [1, inf) or None")
    return max(1, min(int(jobs), n_tasks))


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread (like Ctrl-C does
    KeyboardInterrupt), so ``finally`` blocks run; outside the main thread, or when a handler is
    already installed, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        yield
        return

    def _raise(signum: int, frame: Any) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_CLEANUPS: list[Callable[[], None]] = []


def on_worker_stop(cleanup: Callable[[], None]) -> None:
    """Register clean-up for this worker process when the parent stops it (SIGTERM): e.g. shut
    down its Jupyter kernel. Temporary output files are removed in any case (see ``io.atomic``)."""
    _CLEANUPS.append(cleanup)


def _worker_stop(signum: int, frame: Any) -> None:
    from .io import atomic

    for fn in reversed(_CLEANUPS):
        with contextlib.suppress(BaseException):
            fn()
    atomic.remove_pending()
    os._exit(128 + signum)


def _worker_init(initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGTERM, _worker_stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; Ctrl-C reaches the whole group
    if initializer is not None:
        initializer(*initargs)


def make_pool(
    workers: int,
    *,
    mp_context: Any = None,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> ProcessPoolExecutor:
    """A process pool whose workers stop cleanly on SIGTERM (see :func:`on_worker_stop`)."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp_context,
        initializer=_worker_init,
        initargs=(initializer, initargs),
    )


def terminate_pool(pool: ProcessPoolExecutor, timeout: float = 10.0) -> None:
    """Stop a pool now: cancel what has not started, SIGTERM every worker, SIGKILL the ones still alive."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(timeout)
            if p.is_alive():
                p.kill()
                p.join(1.0)


def map_tasks(
    func: Callable[[T], R],
    tasks: Sequence[T],
    *,
    caller: str,
    jobs: int | None = DEFAULT_JOBS,
    executor: Executor | None = None,
    progress: bool = False,
    desc: str = "",
    unit: str = "task",
    pool: ProcessPoolExecutor | None = None,
) -> list[R]:
    """``[func(t) for t in tasks]``, spread over processes; results in task order.

    Args:
        caller: the public function's name, for argument messages.
        jobs: worker processes when no ``executor`` is given (``None``: every core).
        executor: any ``concurrent.futures.Executor``; the caller shuts it down.
        pool: a pool made by :func:`make_pool` that this call owns (and stops) — e.g. one whose
            workers were started early to warm up.
    """
    own = pool
    if executor is None and own is None:
        workers = resolve_jobs(caller, jobs, len(tasks))
        if workers > 1:
            own = make_pool(workers)
    run_on = executor if executor is not None else own
    results: list[Any] = [None] * len(tasks)
    with stop_on_sigterm():
        try:
            if run_on is None:
                for i, r in enumerate(_bar(map(func, tasks), len(tasks), progress, desc, unit)):
                    results[i] = r
            else:
                futures: dict[Future[R], int] = {run_on.submit(func, t): i for i, t in enumerate(tasks)}
                for fut in _bar(as_completed(futures), len(tasks), progress, desc, unit):
                    results[futures[fut]] = fut.result()
        except BaseException:
            if own is not None:
                terminate_pool(own)
                own = None
            elif executor is not None:
                for f in locals().get("futures", {}):
                    f.cancel()
            raise
        finally:
            if own is not None:
                own.shutdown(wait=True)
    return results


def _bar(it: Iterable[Any], total: int, enabled: bool, desc: str, unit: str) -> Iterable[Any]:
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, total=total, desc=desc, unit=unit)
