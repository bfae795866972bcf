"""The Ray executor: ``propose``'s prepare -> infer -> write on a Ray cluster (Ray Data), with
the same outputs as the local executor.

The pipeline, streaming (the clips still to do, as the job found them after skipping finished
ones; ``from_items`` in blocks of a few clips):

* **prepare** — ``map(prepare_row)``: CPU tasks, one CPU each (one BLAS and one decoder
  thread), wherever the cluster has a free CPU, retried up to ``max_retries`` times when a
  worker or a node is lost;
* **infer** — ``map_batches(ModelStage)``: a fixed pool of actors, one per GPU (on a
  CPU-only cluster, on about half the CPUs), each building its engine once from the system the driver
  serialised once into the object store; batches of the engine's ``batch_clips``; an actor
  lost is restarted up to ``max_retries`` times;
* **write** — by the driver (default: scores come back through the object store and the
  local run's writer threads write them, so ``OUT`` need only be on the driver's disk) or by
  the cluster (``write_on="workers"``: ``map(write_row)``, CPU tasks on any node, and only the
  outcome comes back; ``OUT`` must then be one folder every node sees at the same path). Both
  call :func:`~avs_studio.model.propose.write.write_clip`: the same bytes, marker last.

A clip that cannot be prepared, run or written comes back as an error row and is reported as
failed, as in the local run. When Ray itself gives up (a node or an actor lost beyond the
retries, no progress for ``no_progress_timeout_s``), the clips without a result are reported
as failed with Ray's reason; a re-run (the same command) does just those. Ctrl-C (``cancel``)
stops after the current batch: the driver closes the stream and Ray stops the rest.

Ray is imported only when a run starts (``pip install 'avs-studio[ray]'``); without an
address a local runtime sized to this machine is started for the run and shut down after it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import pickle
import re
import shutil
import socket
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from avs_studio.core.errors import AVSError
from avs_studio.core.jobs import CancelToken
from avs_studio.core.threads import usable_cpus
from avs_studio.model.propose.executor import Executor, Outcomes, RunSpec, RunStats
from avs_studio.model.propose.local import ClipWriter
from avs_studio.model.propose.ray_stages import (
    TIMING_COLUMNS,
    ModelStage,
    prepare_row,
    system_bytes,
    write_row,
)
from avs_studio.model.propose.state import is_done

if TYPE_CHECKING:  # pragma: no cover
    from avs_studio.model.propose.discover import ClipTask

#: The Ray releases this executor was tested with (the ``ray`` extra pins the same range).
TESTED_RAY = ((2, 60), (2, 61))
INSTALL_HINT = ("pip install 'avs-studio[ray]'" if sys.platform.startswith("linux")
                else "the 'ray' extra installs it on Linux only; here, propose without --ray")  # fmt: skip
WRITE_ON = ("driver", "workers")

# Settings read when Ray (or Ray Data) is first imported or a runtime starts. Quiet: no
# progress bars or INFO logs of Ray Data's own (the command draws its bar), no usage stats.
_QUIET_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
              "RAY_DATA_LOG_LEVEL": "ERROR"}  # fmt: skip


def ray_version_ok(version: str) -> bool:
    """True when ``version`` is in the range this executor was tested with."""
    try:
        major_minor = tuple(int(x) for x in version.split(".")[:2])
    except ValueError:
        return False
    return TESTED_RAY[0] <= major_minor < TESTED_RAY[1]


def ray_installed() -> bool:
    """True when Ray can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False


def import_ray(local_runtime: bool = False) -> Any:
    """``ray`` with Ray Data, imported now (the base install does not need it).

    ``local_runtime``: a runtime will be started in this process, so before the first import
    make it private to this machine: bound to the loopback address (what Ray does on macOS
    and Windows) and therefore without token authentication, which would otherwise write
    ``~/.ray/auth_token`` and change this process's environment. When Ray was imported
    before, its defaults stay (token authentication on, every interface).
    """
    fresh = "ray" not in sys.modules
    for k, v in _QUIET_ENV.items():
        os.environ.setdefault(k, v)
    if local_runtime and fresh:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        if os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] == "0":
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise AVSError(f"--ray needs Ray Data, which is not installed ({exc}): {INSTALL_HINT}") from None
    return ray


@dataclass
class _Plan:
    """How the run is laid out on the cluster (reported in the run's notes)."""

    nodes: int
    cpus: int
    gpus: int
    device: str
    actors: int
    actor_args: dict[str, Any]
    clips_per_block: int
    threads: int | None
    notes: list[str] = field(default_factory=list)


class RayExecutor(Executor):
    """prepare -> infer -> write on Ray Data (see the module docstring).

    ``address``: None starts a local runtime for the run (``num_cpus`` CPUs, default the CPUs
    this process may use; ``object_store_mb`` of object store, default Ray's); ``"auto"``,
    ``"ray://host:port"`` or any address ``ray.init`` accepts joins that cluster. A process
    where Ray is already initialised runs on that runtime and leaves it running.

    The actors' engines: ``device`` (``auto``: CUDA when the cluster has GPUs, one actor per
    GPU), ``precision``, ``threads`` (torch CPU threads; on the CPU the default is the driver
    engine's count, the local run's, because CPU results move in the last bits with the thread
    count; each CPU actor holds that many CPUs), ``fold_batchnorm`` (as
    :class:`~avs_studio.model.engine.Engine`; each actor folds on its own device, as the local
    run does), the batch size of the driver's engine. ``actors``
    overrides the pool size, ``actor_options`` adds Ray options to the actors (resources,
    ``accelerator_type``, ...). ``write_on``: ``"driver"`` or ``"workers"`` (CPU tasks on the
    cluster's nodes).
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        write_on: str = "driver",
        device: str = "auto",
        precision: str = "fp32",
        threads: int | None = None,
        fold_batchnorm: bool = False,
        actors: int | None = None,
        actor_options: dict[str, Any] | None = None,
        clips_per_block: int | None = None,
        num_cpus: int | None = None,
        object_store_mb: int | None = None,
        max_retries: int = 3,
        no_progress_timeout_s: float = 600.0,
    ) -> None:
        if not ray_installed():  # said before any work starts
            raise AVSError(f"--ray needs Ray Data, which is not installed: {INSTALL_HINT}")
        if write_on not in WRITE_ON:
            raise AVSError(f"write_on must be one of {', '.join(WRITE_ON)}, got {write_on!r}")
        if device == "mps":
            raise AVSError("--device mps: Ray runs the model on Linux CUDA or CPU nodes; on a Mac "
                           "propose without --ray")  # fmt: skip
        if actors is not None and int(actors) < 1:
            raise AVSError(f"actors must be at least 1, got {actors}")
        self.address = address
        self.write_on = write_on
        self.device, self.precision, self.threads = device, precision, threads
        self.fold_batchnorm = fold_batchnorm
        self.actors, self.actor_options = actors, dict(actor_options or {})
        self.clips_per_block = clips_per_block
        self.num_cpus, self.object_store_mb = num_cpus, object_store_mb
        self.max_retries = int(max_retries)
        self.no_progress_timeout_s = float(no_progress_timeout_s)

    # ------------------------------------------------------------------ the run
    def run(self, todo: list[ClipTask], spec: RunSpec, outcomes: Outcomes,
            cancel: CancelToken | None) -> RunStats:  # fmt: skip
        stats = RunStats()
        if spec.workers is not None:
            stats.notes.append("workers: ignored on Ray, which runs one preparation task per free CPU")
        rows, sent = [], set()
        for i, task in enumerate(todo):
            try:
                rows.append({"i": i, "task": pickle.dumps(_anywhere(task), protocol=pickle.HIGHEST_PROTOCOL)})
                sent.add(i)
            except Exception as exc:  # e.g. a project's clip holds a database connection
                outcomes.failed(task, f"cannot be sent to the Ray workers ({type(exc).__name__}: "
                                      f"{exc}); propose it without --ray")  # fmt: skip
        if not rows or (cancel is not None and cancel.cancelled):
            stats.cancelled = bool(rows)
            return stats
        t0 = time.perf_counter()
        with _Runtime(self.address, self.num_cpus, self.object_store_mb) as runtime:
            t1 = time.perf_counter()
            stats.timings["ray_start_s"] = t1 - t0  # starting or joining Ray
            ray = runtime.ray
            plan = self._plan(ray, spec, len(rows))
            stats.notes.extend(plan.notes)
            if not ray_version_ok(ray.__version__):
                stats.notes.append(f"Ray {ray.__version__} is outside the range this release was tested "
                                   f"with ({TESTED_RAY[0][0]}.{TESTED_RAY[0][1]}.x)")  # fmt: skip
            with _data_context(ray, self.no_progress_timeout_s):
                ds = self._dataset(ray, rows, spec, plan)
                del rows
                seen, stopped, error = self._stream(ds, todo, spec, outcomes, cancel, stats)
            # The pipeline from building the dataset to the last result written.
            stats.timings["ray_run_s"] = time.perf_counter() - t1
            runtime.keep_logs = error is not None
        unseen = [todo[i] for i in range(len(todo)) if not seen[i] and i in sent]
        if self.write_on == "workers" and (error is not None or stopped):
            # A clip the cluster wrote whose outcome had not reached the driver when the run
            # stopped is done all the same: its marker says so.
            finished = {t.clip_id for t in unseen if is_done(spec.out, t.clip_id, spec.kinds)}
            for task in unseen:
                if task.clip_id in finished:
                    outcomes.done(task)
            unseen = [t for t in unseen if t.clip_id not in finished]
        stats.timings["ray_stop_s"] = runtime.stop_s
        if error is not None:
            reason = _short(error)
            stats.notes.append(f"the Ray run stopped early: {reason}")
            if runtime.temp_dir:
                stats.notes.append(f"Ray's logs of this run are kept in {runtime.temp_dir}")
            for task in unseen:
                outcomes.failed(task, f"not proposed: the Ray run stopped ({reason}); run the "
                                         "same command again to retry")  # fmt: skip
        elif not stopped:
            for task in unseen:  # never expected: said rather than dropped
                outcomes.failed(task, "Ray returned no result for this clip; run again to retry")
        stats.cancelled = stopped
        stats.prefetch.update(nodes=plan.nodes, cpus=plan.cpus, gpus=plan.gpus, actors=plan.actors,
                              clips_per_block=plan.clips_per_block)  # fmt: skip
        return stats

    def _plan(self, ray: Any, spec: RunSpec, clips: int) -> _Plan:
        """Actors per GPU (or on half the CPUs), preparation tasks on the other CPUs."""
        res = ray.cluster_resources()
        cpus, gpus = int(res.get("CPU", 0)), int(res.get("GPU", 0))
        alive = [n for n in ray.nodes() if n.get("Alive")]
        node_cpus = max((int(n.get("Resources", {}).get("CPU", 0)) for n in alive), default=cpus)
        device = self.device
        if device == "auto":
            device = "cuda" if gpus else "cpu"
        if device == "cuda":
            if not gpus:
                raise AVSError("--device cuda: the Ray cluster has no GPU; use --device auto or cpu")
            threads = self.threads
            actors, args = self.actors or gpus, {"num_gpus": 1, "num_cpus": 1}
        else:
            if self.precision != "fp32":
                raise AVSError(f"{self.precision} runs only on a GPU; the Ray cluster's model "
                               "actors run on the CPU here: use fp32")  # fmt: skip
            # CPU float kernels are not thread-count invariant (last bits move): by default
            # the threads a local run on the driver uses, so that the outputs are the same
            # bytes; each actor holds that many CPUs (leaving one per node to prepare clips),
            # and actors take about half of the cluster's CPUs, as the local run's default
            # splits the cores between the model and decoding.
            threads = self.threads or spec.engine.threads
            hold = max(1, min(int(threads), node_cpus - 1))
            actors, args = self.actors or max(1, cpus // (2 * hold)), {"num_cpus": hold}
        args.update(self.actor_options)
        # Small blocks: a lost task redoes few clips, and results stream back steadily; a
        # few clips per block once there are many, so that per-task overhead stays small.
        per_block = self.clips_per_block or max(1, min(4, clips // max(1, 8 * cpus)))
        writer = "the driver writes" if self.write_on == "driver" else "CPU tasks on the cluster write"
        note = (f"Ray: {len(alive)} node(s), {cpus} CPU(s), {gpus} GPU(s); {actors} model actor(s) on {device}"
                f"{f' ({threads} thread(s) each)' if threads else ''}; preparation tasks of {per_block} "
                f"clip(s) on the other CPUs; {writer}")  # fmt: skip
        return _Plan(len(alive), cpus, gpus, device, actors, args, per_block, threads, [note])

    def _dataset(self, ray: Any, rows: list[dict], spec: RunSpec, plan: _Plan) -> Any:
        engine = spec.engine
        # The system travels once: serialised here, stored once, fetched once per actor.
        system_ref = ray.put(system_bytes(engine.system))
        blocks = max(1, -(-len(rows) // plan.clips_per_block))
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        with warnings.catch_warnings():
            # Ray 2.60 bounds retries only through its "ray_remote_args" (deprecated, to go
            # in 2.64 without a named replacement yet): revisit when the pin moves.
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*is deprecated")
            ds = ds.map(prepare_row, num_cpus=1, max_retries=self.max_retries)
            return self._model_stage(ray, ds, system_ref, spec, plan)

    def _model_stage(self, ray: Any, ds: Any, system_ref: Any, spec: RunSpec, plan: _Plan) -> Any:
        engine = spec.engine
        engine_args = {"device": plan.device, "precision": self.precision, "batch_clips": engine.batch_clips,
                       "threads": plan.threads, "fold_batchnorm": self.fold_batchnorm}  # fmt: skip
        ds = ds.map_batches(
            ModelStage,
            fn_constructor_kwargs={"system": system_ref, "engine_args": engine_args, "kinds": spec.kinds},
            compute=ray.data.ActorPoolStrategy(size=plan.actors),
            batch_size=engine.batch_clips,
            batch_format="numpy",
            # Bounded restarts of a lost actor; its calls keep Ray's own retries (a small
            # bound there burns out while the actor is still restarting).
            max_restarts=self.max_retries,
            **plan.actor_args,
        )  # fmt: skip
        if self.write_on == "workers":
            # Writing as CPU tasks beside preparation, on any node: the GPUs never wait for
            # PNG encoding or fsync, and writes scale with the cluster.
            ds = ds.map(write_row, fn_kwargs={"out": str(spec.out.resolve()), "kinds": spec.kinds},
                        num_cpus=1, max_retries=self.max_retries)  # fmt: skip
        return ds

    def _stream(self, ds: Any, todo: list[ClipTask], spec: RunSpec, outcomes: Outcomes,
                cancel: CancelToken | None, stats: RunStats) -> tuple[bytearray, bool, BaseException | None]:  # fmt: skip
        """Take results as they come (a few batches in memory at a time), write or record
        them; returns (a flag per clip with a result, stopped by ``cancel``, Ray's error)."""
        seen = bytearray(len(todo))
        timing = dict.fromkeys((*TIMING_COLUMNS, "wait_s"), 0.0)
        writer = ClipWriter(spec.out, spec.kinds, outcomes) if self.write_on == "driver" else None
        duplicates, stopped, error = 0, False, None
        results = iter(ds.iter_rows())
        try:
            t_wait = t_first = time.perf_counter()
            for row in results:
                timing["wait_s"] += time.perf_counter() - t_wait
                if t_first:  # the pipeline's fill time: workers and actors starting, the model loading
                    timing["first_result_s"], t_first = time.perf_counter() - t_first, 0.0
                i = int(row["i"])
                if seen[i]:  # a retried task delivered twice: outputs are the same, count once
                    duplicates += 1
                    continue
                seen[i] = 1
                for c in TIMING_COLUMNS:
                    timing[c] += float(row[c])
                task = todo[i]
                if row["error"]:
                    outcomes.failed(task, str(row["error"]))
                elif writer is not None:
                    writer.submit(pickle.loads(row["scores"]), task)
                else:
                    outcomes.done(task)
                if cancel is not None and cancel.cancelled:
                    stopped = True
                    break
                t_wait = time.perf_counter()
        except Exception as exc:  # Ray gave up (node or actor lost beyond the retries, ...)
            error = exc
        finally:
            close = getattr(results, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
            if writer is not None:
                writer.drain()
                timing["write_s"] = writer.write_s
        stats.timings.update(timing)
        stats.prefetch["duplicates"] = duplicates
        return seen, stopped, error


def _anywhere(task: ClipTask) -> ClipTask:
    """``task`` with its file named by an absolute path: workers do not run in the driver's
    folder. (Reports name the clip by ``source``, which stays as given.)"""
    if task.path and not os.path.isabs(task.path):
        return dataclasses.replace(task, path=os.path.abspath(task.path))
    return task


def _short(exc: BaseException) -> str:
    """Ray's error in one line. Its messages run to pages (tracebacks of the worker, state
    dumps): the worker's own exception line says most, else the first line."""
    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if ln.strip()]
    raised = [ln for ln in lines if re.match(r"^[\w.]*(Error|Exception|Interrupt)\b[^:]*: \S", ln)]
    return f"{type(exc).__name__}: {(raised or lines or [''])[-1 if raised else 0]}"[:300]


@contextlib.contextmanager
def _data_context(ray: Any, no_progress_timeout_s: float):
    """Ray Data settings for the run, put back afterwards (the context is per process)."""
    ctx = ray.data.DataContext.get_current()
    wanted = {
        "enable_progress_bars": False,  # the command draws its own
        "print_on_execution_start": False,
        "enable_auto_log_stats": False,
        # A lost actor that cannot come back (no node with its resources) fails the run after
        # this long instead of Ray's 30 minutes.
        "execution_no_progress_timeout_s": no_progress_timeout_s,
        "max_errored_blocks": 0,  # never drop rows silently; errors are rows already
    }
    saved = {k: getattr(ctx, k) for k in wanted if hasattr(ctx, k)}
    for k in saved:
        setattr(ctx, k, wanted[k])
    try:
        yield ctx
    finally:
        for k, v in saved.items():
            setattr(ctx, k, v)


class _Runtime:
    """Ray for one run: joins ``address``, or starts a local runtime (in a short private
    temporary folder, removed afterwards), or uses the one this process already has."""

    def __init__(self, address: str | None, num_cpus: int | None, object_store_mb: int | None) -> None:
        self.address, self.num_cpus, self.object_store_mb = address, num_cpus, object_store_mb
        self.ray: Any = None
        self.started = False
        self.temp_dir: str | None = None
        self.keep_logs = False
        self.stop_s = 0.0

    def __enter__(self) -> _Runtime:
        self.ray = ray = import_ray(local_runtime=self.address is None)
        if ray.is_initialized():
            return self
        common = {"log_to_driver": False, "configure_logging": True, "logging_level": logging.ERROR}
        if self.address is not None:
            check_reachable(self.address)
            try:
                ray.init(address=self.address, **common)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise AVSError(f"--ray {self.address}: cannot join this Ray cluster ({_short(exc)})") from None
            self.started = True
            return self
        self.temp_dir = tempfile.mkdtemp(prefix="avs-ray-", dir=_short_temp_root())
        # "local": a new runtime even where RAY_ADDRESS names a cluster (--ray ADDRESS joins one).
        kwargs: dict[str, Any] = {"address": "local", "num_cpus": self.num_cpus or usable_cpus(),
                                  "include_dashboard": False, "_temp_dir": self.temp_dir, **common}  # fmt: skip
        if self.object_store_mb:
            kwargs["object_store_memory"] = int(self.object_store_mb) * 1024 * 1024
        try:
            ray.init(**kwargs)
        except BaseException:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            raise
        self.started = True
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.started:
            return
        t0 = time.perf_counter()
        self.ray.shutdown()
        self.stop_s = time.perf_counter() - t0
        if self.temp_dir and not self.keep_logs:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse a ``HOST:PORT`` (or ``ray://HOST:PORT``) address nothing answers at.

    Why: ``ray.init`` waits for an unreachable head for minutes, retrying, with nothing
    said; a user's typo must be one clear line. ``auto`` and other forms are left to Ray.
    """
    target = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or "/" in target:
        return
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError, OverflowError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise AVSError(f"--ray {address}: nothing answers at {host}:{port} ({why}); is the cluster's "
                       "head running, and is this its address?") from None  # fmt: skip


def _short_temp_root() -> str:
    """A temporary root short enough for Ray's socket paths (AF_UNIX allows 107 bytes)."""
    root = tempfile.gettempdir()
    return root if len(root) <= 40 or not os.path.isdir("/tmp") else "/tmp"
