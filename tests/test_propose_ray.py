"""``avs-studio propose --ray``: the batch job on a Ray cluster writes the same bytes as the
local run, reports bad clips the same way, survives a lost node, a killed driver and Ctrl-C,
and a re-run finishes what is left.

The cluster is simulated on this machine (``ray.cluster_utils.Cluster``: a head and a worker
node of one CPU each), started once for the module; the command-line stories start their own
local runtime in a subprocess, as a user's ``--ray`` does. The model is the tiny system of
``test_propose`` (its module is on the workers' path).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import json
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
import torch
from test_propose import _complete, _markers, files_under, tiny_system

from avs_studio.core.fsutil import is_temporary
from avs_studio.model.engine import Engine
from avs_studio.model.propose.run import STATE_DIR, propose

if importlib.util.find_spec("ray") is None:  # the `test` extra installs it: CI runs these
    pytest.skip("Ray is not installed (pip install -e '.[ray]')", allow_module_level=True)

from avs_studio.model.propose.ray_executor import RayExecutor

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
MB = 1024 * 1024


def _ray_env(tmp: str) -> dict[str, str]:
    """A private Ray: loopback only, no token file in ~/.ray, quiet, temporary files in
    ``tmp`` (short: Ray's socket paths must fit 107 bytes); workers import this checkout and
    the tests' tiny models."""
    env = {"RAY_TMPDIR": tmp, "TMPDIR": tmp, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_DATA_DISABLE_PROGRESS_BARS": "1", "RAY_DATA_LOG_LEVEL": "ERROR",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), str(TESTS), os.environ.get("PYTHONPATH")]))}  # fmt: skip
    if "ray" not in sys.modules:  # read when Ray is imported: both sides must agree
        env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    return env


@pytest.fixture(scope="module")
def cluster():
    """Two nodes of one CPU each on this machine, with this process connected as the driver."""
    tmp = tempfile.mkdtemp(prefix="avs-rt-", dir="/tmp")
    env = _ray_env(tmp)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    import ray
    from ray.cluster_utils import Cluster

    c = None
    try:
        # A lost node is noticed in about 3 s rather than Ray's 15-20 s (health checks).
        health = {"health_check_period_ms": 1000, "health_check_timeout_ms": 2000,
                  "health_check_failure_threshold": 3}  # fmt: skip
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 120 * MB,
                                                          "include_dashboard": False, "_system_config": health})  # fmt: skip
        c.add_node(num_cpus=1, object_store_memory=120 * MB)
        c.wait_for_nodes()
        ray.init(address=c.address, log_to_driver=False, configure_logging=True, logging_level=logging.ERROR)
        yield c
    finally:
        ray.shutdown()
        if c is not None:
            c.shutdown()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def local_run(demo_root, tmp_path_factory):
    """The local executor's outputs for an input and options, made once: ``local_run(src, **kw)``."""
    base = tmp_path_factory.mktemp("local")
    made: dict = {}

    def run(src: Path, setting: str = "s4", **kw) -> Path:
        key = (str(src), setting, tuple(sorted(kw.items())))
        if key not in made:
            out = base / f"run{len(made)}"
            propose(src, tiny_system(setting), out, workers=0, **kw)  # decoding here: quicker
            made[key] = out
        return made[key]

    return run


def assert_same_outputs(out: Path, expected: Path, *, resumed: bool = False) -> None:
    """The same files, byte for byte (masks, scores, COCO, manifests), and the same report
    rows (a resumed run reports the clips of earlier runs as skipped)."""
    a, b = files_under(out), files_under(expected)
    assert sorted(a) == sorted(b)
    for rel, p in a.items():
        assert p.read_bytes() == b[rel].read_bytes(), rel
    ours, theirs = _report_rows(out), _report_rows(expected)
    if resumed:
        ours = {(c, "done" if s == "skipped" else s) for c, s in ours}
    assert ours == theirs


def _report_rows(out: Path) -> set[tuple[str, str]]:
    rows = (out / "report.csv").read_text().splitlines()[1:]
    return {(r.split(",")[0], r.split(",")[1].split(" ")[0]) for r in rows}


def _no_partial_outputs(out: Path) -> None:
    for p in out.rglob("*"):
        if p.is_file() and not is_temporary(p):
            _complete(p)
    for d in (out / "pred_masks").glob("*/*"):
        assert len(list(d.iterdir())) == 5  # a clip's folder appears whole or not at all


# --------------------------------------------------------------------------- same outputs


def test_on_two_nodes_the_outputs_are_the_bytes_of_the_local_run(cluster, demo_root, local_run, tmp_path):
    """S4 official masks and scores, the driver writing (the cluster writes in the node-loss
    story)."""
    root = demo_root("s4", 6, 0)
    out = tmp_path / "s4"
    report = propose(root, tiny_system("s4"), out, probs=True, executor=RayExecutor())
    assert len(report.done) == 6 and not report.failures
    assert any("2 node(s)" in n and "1 model actor" in n and "the driver writes" in n for n in report.notes)
    assert report.timings["model_s"] > 0 and report.timings["frames_s"] > 0
    assert_same_outputs(out, local_run(root, probs=True))


def test_avss_scores_travel_small_and_write_the_same_bytes(demo_root, tmp_path):
    """An AVSS clip's logits (142 MB) stay on the actor: what travels to the driver (labels
    and the winning probability) writes every format as the full scores do."""
    from avs_studio.core.datasets import open_dataset
    from avs_studio.model.inputs import prepare_clip
    from avs_studio.model.propose.discover import discover
    from avs_studio.model.propose.ray_stages import portable_scores
    from avs_studio.model.propose.write import write_clip

    root = demo_root("avss", 2, 0)
    clip = open_dataset(root).clips()[0]
    task = next(t for t in discover(root).tasks if t.clip_id == clip.clip_id)
    full = Engine(tiny_system("avss"), device="cpu").run([prepare_clip(clip)])[0]
    kinds = ["avsbench", "scores"]
    small = pickle.loads(pickle.dumps(portable_scores(copy.deepcopy(full), kinds + ["png"])))
    assert len(pickle.dumps(small)) < len(pickle.dumps(full)) / 20
    for fmt in ("avsbench", "png", "coco"):
        a, b = tmp_path / f"full-{fmt}", tmp_path / f"small-{fmt}"
        for out, scores in ((a, full), (b, small)):
            (out / STATE_DIR / "done").mkdir(parents=True)
            write_clip(out, scores, [fmt, "scores"], task)
        assert sorted(files_under(a)) == sorted(files_under(b)) and files_under(a)
        for rel, p in files_under(a).items():
            assert p.read_bytes() == files_under(b)[rel].read_bytes(), rel
        marker = Path(STATE_DIR, "done", f"{clip.clip_id}.json")
        assert (a / marker).read_bytes() == (b / marker).read_bytes()


def test_bad_clips_are_reported_as_in_the_local_run(cluster, demo_root, local_run, tmp_path, monkeypatch):
    """Given by a relative path (the workers do not run in this folder): the same clips done,
    the same failures with the same reasons (files named by absolute path, as the local run
    given the absolute path names them)."""
    src = tmp_path / "videos"
    src.mkdir()
    videos = sorted(demo_root("s4", 6, 0).rglob("raw_videos/**/*.mp4"))[:2]
    for v in videos:
        shutil.copy(v, src / v.name)
    (src / "garbage.mp4").write_bytes(os.urandom(20000))
    (src / "truncated.mp4").write_bytes(videos[0].read_bytes()[:20000])
    (src / "silent_movie.mkv").write_bytes(b"")
    seen: list[tuple[int, str]] = []
    monkeypatch.chdir(tmp_path)
    report = propose("videos", tiny_system("s4"), tmp_path / "ray", setting="s4", executor=RayExecutor(),
                     progress=lambda done, total, message="": seen.append((done, message)))  # fmt: skip
    assert sorted(report.done) == sorted(v.stem for v in videos)
    assert seen[-1][0] == 5 and seen[-1][1].endswith(", 3 failed")  # the bar shows failures so far
    local = json.loads((local_run(src, setting="s4") / "report.json").read_text())
    assert {f.item: f.error for f in report.failures} == {f["clip_id"]: f["reason"] for f in local["failures"]}
    assert len(report.failures) == 3
    assert_same_outputs(tmp_path / "ray", local_run(src, setting="s4"))


# --------------------------------------------------------------------------- faults


def _run_in_thread(**kw) -> tuple[threading.Thread, dict]:
    """``propose`` in a thread (the cluster's nodes are added and removed from the main one)."""
    box: dict = {}

    def target() -> None:
        try:
            box["report"] = propose(**kw)
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


def _wait_for_markers(out: Path, n: int, thread: threading.Thread, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(_markers(out / STATE_DIR / "done")) < n:
        assert thread.is_alive(), "the run ended before the node could be removed"
        assert time.monotonic() < deadline, "no clip finished in time"
        time.sleep(0.05)


def test_a_lost_node_is_retried_then_reported_and_a_rerun_finishes(cluster, demo_root, local_run, tmp_path):
    """The model actor's node dies: Ray restarts the actor on the node that replaces it and
    the run goes on. That node dies too, beyond the one restart allowed: the run stops, the
    clips without a result are reported as failed, nothing is half-written, and the same
    command again does just those. (The cluster writes, so OUT is shared here.)"""
    root = demo_root("s4", 8, 0)
    out = tmp_path / "props"
    slot = {"num_cpus": 1, "object_store_memory": 100 * MB, "resources": {"model_slot": 1}}
    node = cluster.add_node(**slot)
    ex = RayExecutor(write_on="workers", actor_options={"resources": {"model_slot": 1}}, max_retries=1,
                     no_progress_timeout_s=120)  # fmt: skip
    thread, box = _run_in_thread(source=root, model=tiny_system("s4", delay=0.3), out=out, probs=True, executor=ex)
    _wait_for_markers(out, 2, thread)
    cluster.remove_node(node, allow_graceful=False)
    at_loss = len(_markers(out / STATE_DIR / "done"))
    spare = cluster.add_node(**slot)
    _wait_for_markers(out, at_loss + 1, thread)  # the restarted actor carries on
    cluster.remove_node(spare, allow_graceful=False)
    thread.join(180)
    assert not thread.is_alive() and "error" not in box, box.get("error")
    report = box["report"]
    assert at_loss < len(report.done) < 8 and len(report.done) + len(report.failures) == 8
    assert all("the Ray run stopped" in f.error for f in report.failures)
    assert any("stopped early" in n for n in report.notes)
    assert any("CPU tasks on the cluster write" in n for n in report.notes)
    _no_partial_outputs(out)
    assert (out / "report.csv").read_text().count(",failed,") == len(report.failures)
    again = propose(root, tiny_system("s4"), out, probs=True, executor=RayExecutor())
    assert len(again.skipped) == len(report.done) and len(again.done) == 8 - len(report.done)
    assert_same_outputs(out, local_run(root, probs=True), resumed=True)


# --------------------------------------------------------------------------- the command


_CLI_SCRIPT = (
    "import sys; import test_propose as t;"
    "import avs_studio.model.model_files as s;"
    "s.load_system = lambda *a, **k: t.tiny_system('s4', delay=0.3);"
    "sys.exit(t._cli(sys.argv[1:]))"
)


@contextlib.contextmanager
def _cli_with_ray(argv: list[str]):
    """``avs-studio ARGV`` in its own session (as from a terminal), with a private temporary
    folder and this process's torch threads (CPU results move in the last bits with the
    thread count: the outputs are compared with a local run made here); afterwards every
    process it started (found by a mark in their environment) is gone, killed by process id
    if need be."""
    argv = [*argv, "--threads", str(torch.get_num_threads())]
    tmp = tempfile.mkdtemp(prefix="avs-cli-", dir="/tmp")
    mark = uuid.uuid4().hex
    env = {**os.environ, **_ray_env(tmp), "AVS_TEST_RUN": mark}
    env.pop("RAY_ADDRESS", None)
    env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # a fresh process: the loopback runtime
    proc = subprocess.Popen([sys.executable, "-c", _CLI_SCRIPT, *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        yield proc, mark
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the driver's group: Ray's GCS, raylet, agents
        proc.wait()
        deadline = time.monotonic() + 15
        while _marked(mark) and time.monotonic() < deadline:
            time.sleep(0.2)  # workers exit once their raylet is gone
        for pid in _marked(mark):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


def _marked(mark: str) -> list[int]:
    """Processes (still running, not zombies) whose environment holds ``AVS_TEST_RUN=mark``."""
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            marked = f"AVS_TEST_RUN={mark}".encode() in (d / "environ").read_bytes().split(b"\0")
            if marked and (d / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                pids.append(int(d.name))
        except OSError:
            continue
    return pids


def _wait_for_cli_markers(proc: subprocess.Popen, out: Path, n: int) -> None:
    deadline = time.monotonic() + 180
    while len(_markers(out / STATE_DIR / "done")) < n:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no clip finished in time"
        time.sleep(0.05)


def test_ctrl_c_on_the_command_stops_ray_cleanly_and_exits_130(cluster, demo_root, local_run, tmp_path):
    """Ctrl-C from a terminal reaches the whole foreground group (Ray's own processes too)."""
    root = demo_root("s4", 6, 0)
    out = tmp_path / "props"
    argv = ["propose", str(root), "--out", str(out), "--model", "m.pt", "--probs", "--ray"]
    with _cli_with_ray(argv) as (proc, mark):
        _wait_for_cli_markers(proc, out, 1)
        os.killpg(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, stderr
        assert not _gone_within(mark, 15), "Ray processes outlived the command"
    assert "stopping after the current batch" in stderr and "run the same command again" in stderr
    assert "Traceback" not in stderr
    assert "on Ray (a local runtime)" in stderr and "1 node(s)" in stderr
    report = json.loads((out / "report.json").read_text())
    assert report["cancelled"] and 1 <= report["done"] < 6
    _no_partial_outputs(out)
    again = propose(root, tiny_system("s4"), out, probs=True, executor=RayExecutor())
    assert len(again.skipped) == report["done"] and len(again.done) == 6 - report["done"]
    assert_same_outputs(out, local_run(root, probs=True), resumed=True)


def _gone_within(mark: str, seconds: float) -> list[int]:
    """The marked processes still running after ``seconds`` (none, when all went in time)."""
    deadline = time.monotonic() + seconds
    while (pids := _marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return pids


def test_a_killed_driver_leaves_whole_clips_and_a_rerun_finishes(cluster, demo_root, local_run, tmp_path):
    """The command joins the running cluster by its address; killing it leaves the cluster
    up and the folder whole."""
    root = demo_root("s4", 6, 0)
    out = tmp_path / "props"
    argv = ["propose", str(root), "--out", str(out), "--model", "m.pt", "--probs", "--ray", cluster.address]
    with _cli_with_ray(argv) as (proc, _):
        _wait_for_cli_markers(proc, out, 2)
        os.kill(proc.pid, signal.SIGKILL)  # the driver alone, as a crash would
        proc.wait()
    marked = len(_markers(out / STATE_DIR / "done"))
    assert 2 <= marked < 6
    _no_partial_outputs(out)
    again = propose(root, tiny_system("s4"), out, probs=True, executor=RayExecutor())
    assert len(again.skipped) == marked and len(again.done) == 6 - marked
    assert not [p for p in out.rglob("*") if is_temporary(p)]
    assert_same_outputs(out, local_run(root, probs=True), resumed=True)


def test_the_command_says_what_does_not_go_with_ray(demo_root, tmp_path, monkeypatch):
    from test_propose import _cli

    from avs_studio.core.errors import AVSError
    from avs_studio.model.propose.ray_executor import import_ray

    root = str(demo_root("s4", 6, 0))
    with pytest.raises(AVSError, match="--workers sets the local decoding processes"):
        _cli(["propose", root, "--out", str(tmp_path / "p"), "--ray", "--workers", "2"])
    with pytest.raises(AVSError, match="add --ray"):
        _cli(["propose", root, "--out", str(tmp_path / "p"), "--ray-writes", "workers"])
    with pytest.raises(AVSError, match="mps"):
        RayExecutor(device="mps")
    # An address nothing answers at is one clear line at once (ray.init waits minutes for it).
    import socket

    from avs_studio.model.propose.ray_executor import check_reachable

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    t0 = time.monotonic()
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(AVSError, match=f"--ray {address}: nothing answers at 127.0.0.1:{port}"):
            check_reachable(address)
    assert time.monotonic() - t0 < 10
    check_reachable("auto")  # left to Ray
    from avs_studio.model.propose.ray_stages import write_row

    # A node where OUT is another (or no) folder writes nothing there: the clip fails, saying why.
    row = write_row({"i": 0, "task": b"", "error": "", "scores": b"x", "write_s": 0.0},
                    str(tmp_path / "not-shared"), ["avsbench"])  # fmt: skip
    assert "every node sees at the same path" in row["error"] and row["scores"] == b""
    monkeypatch.setitem(sys.modules, "ray", None)  # as on an install without the extra
    with pytest.raises(AVSError, match=r"pip install 'avs-studio\[ray\]'"):
        import_ray()
    with pytest.raises(AVSError, match=r"--ray needs Ray Data.*pip install"):  # before the model loads
        _cli(["propose", root, "--out", str(tmp_path / "p"), "--model", "missing.pt", "--ray"])
