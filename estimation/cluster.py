"""Dask clients for popkin's many-fit jobs (bootstrap, SSE, chunked population simulation).

:func:`dask_client` gives a :class:`distributed.Client`: the one passed in, one connected to
an existing scheduler (``tcp://HOST:8786``), or an embedded :class:`distributed.LocalCluster`
of single-threaded worker processes. Every worker is prepared by :class:`PopkinWorkerSetup`
(XLA limited to one thread, float64, JAX's persistent compilation cache), so that N workers
use N cores and a model compiled once is reused by later processes.

:func:`run_replicates` submits one task per replicate, streams the results back as they
complete (progress line on stderr), hands each one to a
:class:`~estimation.replicate_store.ReplicateStore` as soon as it arrives, and records a
replicate whose worker died too often as failed (with the error), never drops it.

This module imports no JAX: a worker must set its XLA flags before JAX is first imported.

Examples
--------
>>> with dask_client(workers=2) as client:  # doctest: +SKIP
...     run_replicates(client, task, range(100), (model, data), store, label="bootstrap")
"""

from __future__ import annotations

import math
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from distributed import Client, LocalCluster, as_completed
from distributed.diagnostics.plugin import WorkerPlugin

if TYPE_CHECKING:
    from distributed import Worker

    from estimation.population import PopulationModel
    from estimation.replicate_store import ReplicateStore

#: XLA flags giving each worker process one compute thread (2 workers -> 2 cores).
SINGLE_THREAD_XLA_FLAGS = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")


class ClusterError(RuntimeError):
    """The Dask cluster cannot be reached or used."""


class PopkinWorkerSetup(WorkerPlugin):
    """Worker plugin: one XLA thread, float64 and the persistent compile cache on every worker.

    Registered by :func:`dask_client` on every cluster, including an existing one given by
    address; workers that join later run it too. The XLA thread limit only takes effect
    when the worker has not imported JAX yet (the case for ``dask worker`` processes and
    :class:`~distributed.LocalCluster` workers).

    Parameters
    ----------
    cache_dir
        ``POPKIN_CACHE_DIR`` for the workers (default: each worker's own setting).

    Examples
    --------
    >>> PopkinWorkerSetup().name
    'popkin-worker-setup'
    """

    name = "popkin-worker-setup"
    idempotent = True

    def __init__(self, cache_dir: str | None = None) -> None:
        self.cache_dir = cache_dir

    def setup(self, worker: Worker) -> None:
        """Set the environment, then import JAX through popkin's configuration."""
        prepare_worker_process(self.cache_dir)


def prepare_worker_process(cache_dir: str | None = None) -> dict[str, str]:
    """Configure the current process as a popkin worker and return what was set.

    One thread for XLA and BLAS (only effective before JAX is imported), then
    ``compartments.jax_config`` (float64, persistent compilation cache).

    Examples
    --------
    >>> prepare_worker_process()["jax_enable_x64"]  # doctest: +SKIP
    'True'
    """
    if cache_dir is not None:
        os.environ["POPKIN_CACHE_DIR"] = cache_dir
    threads_limited = "jax" not in sys.modules
    if threads_limited:
        os.environ["XLA_FLAGS"] = _with_flags(os.environ.get("XLA_FLAGS", ""), SINGLE_THREAD_XLA_FLAGS)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(name, "1")
    from compartments import jax_config

    jax_config.configure()
    import jax

    return {"XLA_FLAGS": os.environ.get("XLA_FLAGS", ""), "threads_limited": str(threads_limited),
            "jax_enable_x64": str(jax.config.jax_enable_x64),
            "compilation_cache_dir": str(jax.config.jax_compilation_cache_dir)}


def _with_flags(current: str, flags: Iterable[str]) -> str:
    """``current`` XLA flags plus ``flags`` whose names are not set already."""
    present = {f.split("=")[0] for f in current.split()}
    extra = [f for f in flags if f.split("=")[0] not in present]
    return " ".join([*current.split(), *extra])


@contextmanager
def dask_client(
    client: Client | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> Iterator[Client]:
    """A Dask client prepared for popkin jobs (closed on exit unless it was passed in).

    Parameters
    ----------
    client
        An existing client: used as it is (popkin's worker setup is registered on it).
    scheduler
        Address of a running scheduler, e.g. ``"tcp://10.0.0.5:8786"``.
    workers
        Number of single-threaded worker processes of the embedded
        :class:`~distributed.LocalCluster` (default: the number of CPU cores).

    Raises
    ------
    ClusterError
        Both ``client`` and ``scheduler`` given, a bad worker count, or an unreachable
        scheduler.

    Examples
    --------
    >>> with dask_client(workers=2) as client:  # doctest: +SKIP
    ...     len(client.scheduler_info()["workers"])
    2
    """
    if client is not None and scheduler is not None:
        raise ClusterError("give either an existing client or a scheduler address, not both")
    if workers is not None and workers < 1:
        raise ClusterError(f"the number of workers must be at least 1, got {workers}")
    plugin = PopkinWorkerSetup(os.environ.get("POPKIN_CACHE_DIR"))
    if client is not None:
        client.register_plugin(plugin)
        yield client
        return
    if scheduler is not None:
        try:
            own = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}") from exc
        try:
            own.register_plugin(plugin)
            yield own
        finally:
            own.close()
        return
    n = workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                           host="127.0.0.1", env={"XLA_FLAGS": _with_flags(
                               os.environ.get("XLA_FLAGS", ""), SINGLE_THREAD_XLA_FLAGS)})
    try:
        with Client(cluster) as own:
            own.register_plugin(plugin)
            yield own
    finally:
        cluster.close()


# ============================================================ streaming replicates
@dataclass(frozen=True)
class RunCounts:
    """What one :func:`run_replicates` call did.

    ``skipped``: replicates already in the store (resume); ``finished``: records written by
    this call; ``failed``: those of them recording an error (fit or cluster).
    """

    requested: int
    skipped: int
    finished: int
    failed: int
    seconds: float


class ProgressLine:
    """A one-line progress bar on a stream: ``bootstrap  37/100 [####      ] 2 failed 1m05s``.

    On a terminal the line is redrawn in place; otherwise a line is printed at every 10%.

    Examples
    --------
    >>> import io
    >>> stream = io.StringIO()
    >>> bar = ProgressLine("sse", 4, stream, start=0)
    >>> bar.update(4, 1)
    >>> "4/4" in stream.getvalue() and "1 failed" in stream.getvalue()
    True
    """

    def __init__(self, label: str, total: int, stream: TextIO | None, start: int = 0) -> None:
        self.label, self.total, self.stream = label, total, stream
        self.started = time.perf_counter()
        self.start = start
        self._last_decile = -1
        self._tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())

    def update(self, done: int, failed: int) -> None:
        """Show ``done`` of ``total`` replicates (``failed`` of them with an error)."""
        if self.stream is None or self.total == 0:
            return
        fraction = done / self.total
        decile = math.floor(fraction * 10)
        if not self._tty and decile == self._last_decile and done != self.total:
            return
        self._last_decile = decile
        elapsed = time.perf_counter() - self.started
        new = done - self.start
        eta = elapsed / new * (self.total - done) if new > 0 else float("nan")
        bar = "#" * round(20 * fraction)
        text = (f"{self.label} {done:>{len(str(self.total))}}/{self.total} [{bar:<20}]"
                f"{f' {failed} failed' if failed else ''} {_clock(elapsed)}"
                f"{f' (about {_clock(eta)} left)' if done < self.total and math.isfinite(eta) else ''}")
        if self._tty:
            self.stream.write("\r" + text + ("\n" if done == self.total else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def run_replicates(
    client: Client,
    task: Callable[..., dict[str, Any]],
    indices: Iterable[int],
    common: tuple[Any, ...],
    store: ReplicateStore,
    *,
    label: str,
    progress: TextIO | None = None,
    on_result: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> RunCounts:
    """Run ``task(index, *common)`` on the cluster for every index not yet in ``store``.

    Results are written to ``store`` as they complete, in completion order; the records
    themselves do not depend on that order (each replicate derives its own seed from its
    index). A task that raises, or whose workers die repeatedly (Dask's
    ``KilledWorker``), is recorded as failed with its error (``failure="cluster"``), so the
    count of records always equals the count of replicates.

    Parameters
    ----------
    client
        From :func:`dask_client`.
    task
        Importable function returning a JSON-serialisable record with ``"index"``; it
        must catch the errors of its own computation and report them in the record.
    indices
        Replicate numbers to run (those already stored are skipped).
    common
        Arguments shared by every task (the model, the data, the method...).
    store
        Where records go.
    label
        Name of the job (Dask task keys, progress line).
    progress
        Stream for the progress line (``None``: silent).
    on_result
        Called on the client with each finished record before it is stored; returns the
        record to store (e.g. reduces and removes bulky arrays).

    Returns
    -------
    RunCounts

    Examples
    --------
    >>> run_replicates(client, bootstrap_replicate, range(10), (model, data, method, 0, None),
    ...                store, label="bootstrap")  # doctest: +SKIP
    """
    start = time.perf_counter()
    wanted = sorted(set(indices))
    done_before = store.completed()
    pending = [i for i in wanted if i not in done_before]
    bar = ProgressLine(label, len(wanted), progress, start=len(wanted) - len(pending))
    failed_before = sum(1 for r in store.records() if r["index"] in done_before and r.get("error"))
    run = uuid.uuid4().hex[:8]
    futures = {
        client.submit(task, i, *common, key=f"popkin-{label}-{run}-{i:06d}", pure=False): i for i in pending
    }
    finished = failed = 0
    bar.update(len(wanted) - len(pending), failed_before)
    try:
        for future in as_completed(futures):
            index = futures[future]
            if future.status == "finished":
                record = future.result()
            else:
                record = _cluster_failure(index, future)
            if on_result is not None:
                record = on_result(record)
            store.write(record)
            finished += 1
            failed += bool(record.get("error"))
            future.release()
            bar.update(len(wanted) - len(pending) + finished, failed_before + failed)
    except BaseException:
        client.cancel(list(futures))
        raise
    return RunCounts(requested=len(wanted), skipped=len(wanted) - len(pending), finished=finished,
                     failed=failed, seconds=time.perf_counter() - start)


def _cluster_failure(index: int, future: Any) -> dict[str, Any]:
    """The record of a replicate the cluster could not run (e.g. its workers kept dying)."""
    try:
        exc = future.exception()
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    except Exception as err:  # a cancelled future has no exception to fetch
        text = f"{type(err).__name__}: {err}"
    return {"index": index, "status": "failed", "failure": "cluster", "error": text}


def replicate_seed(seed: int, index: int) -> int:
    """The seed of replicate ``index`` of a run with seed ``seed`` (a 63-bit integer).

    It is the state of ``numpy.random.SeedSequence(seed).spawn(index + 1)[index]``: each
    replicate's random numbers depend only on the run's seed and the replicate's number,
    not on the number of workers or the order in which replicates complete.

    Examples
    --------
    >>> replicate_seed(1, 0) == replicate_seed(1, 0) != replicate_seed(1, 1)
    True
    """
    import numpy as np

    child = np.random.SeedSequence(seed, spawn_key=(index,))
    return int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))


_PROCESS_MODELS: dict[bytes, Any] = {}


def process_model(model: PopulationModel) -> PopulationModel:
    """The one instance of ``model`` in this process (equal definitions give the same object).

    Every task receives its own unpickled copy of the model, but compiled functions are
    cached per model instance: mapping equal models to one instance makes a worker
    compile a model once, not once per replicate.

    Examples
    --------
    >>> import pickle
    >>> process_model(pickle.loads(pickle.dumps(m))) is process_model(m)  # doctest: +SKIP
    True
    """
    import pickle

    # one round trip first: an unpickled copy pickles to other bytes than its original
    # (shared strings become separate objects), copies of copies to the same bytes
    key = pickle.dumps(pickle.loads(pickle.dumps(model)))
    if key not in _PROCESS_MODELS:
        if len(_PROCESS_MODELS) >= 16:
            _PROCESS_MODELS.pop(next(iter(_PROCESS_MODELS)))
        _PROCESS_MODELS[key] = model
    return _PROCESS_MODELS[key]
