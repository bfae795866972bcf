"""Killing a process that is writing edits never loses more than the edit in flight.

A child process applies a fixed, deterministic sequence of edits (strokes, erases,
polygons, undo, redo, status changes, deletions) and prints the index of each edit once it
is committed. It is killed with SIGKILL at random moments, many times. The reopened project
must pass SQLite's integrity check and equal, exactly, the state after the last printed
edit (or after the next one, when the kill fell between the commit and the print); the
expected states come from replaying the same sequence in this process.
"""

from __future__ import annotations

import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from avs_studio.core.project.edits import DeleteObject, SetStatus
from avs_studio.core.project.project import Project

TESTS = Path(__file__).resolve().parent
USER = "kill-test"
EDITS = 80
ROUNDS = 24


def apply_edit(session, i: int) -> None:
    """Edit number ``i`` of the sequence (a function of ``i`` and the project's state only)."""
    rng = np.random.default_rng([7, i])
    frame, inst = int(rng.integers(0, 5)), int(rng.integers(1, 4))
    kind = i % 10
    cmd = None
    if kind <= 5:
        stroke = session.stroke(frame, inst, radius=float(rng.uniform(3, 25)), erase=kind == 5)
        start = rng.uniform((0, 0), (224, 224))
        stroke.add_points(start + np.cumsum(rng.normal(0, 8, (30, 2)), axis=0))
        cmd = stroke.finish()
    elif kind == 6:
        session.undo()
    elif kind == 7:
        if session.can_redo:
            session.redo()
        else:
            cmd = session.polygon(frame, inst, rng.uniform((0, 0), (224, 224), (6, 2)))
    elif kind == 8:
        cmd = SetStatus(str(rng.choice(["in_progress", "done", "reviewed"])), comment=f"edit {i}")
    elif session.store.object(frame, inst) is not None:
        cmd = DeleteObject(inst, frame)
    if cmd is not None:
        session.apply(cmd)


def child_main(path: str, clip_id: str) -> None:
    """What the child process runs: open, then apply and report edit after edit."""
    with Project.open(path, user=USER) as project:
        session = project.session(clip_id)
        print("ready", flush=True)
        for i in range(EDITS):
            apply_edit(session, i)
            print(i, flush=True)


@pytest.fixture(scope="module")
def base(tmp_path_factory, demo_root):
    """The starting project (from the demo data), a clip, and the digest after each edit."""
    folder = tmp_path_factory.mktemp("kill")
    path = folder / "base.avsproj"
    with Project.create(path, "s4", user=USER) as project:
        project.add_clips_from_dataset(demo_root("s4", 6, 0))
        clip_id = project.clips(split="test")[0].clip_id
    replay = folder / "replay.avsproj"
    shutil.copyfile(path, replay)
    digests = {}
    with Project.open(replay, user=USER) as project:
        digests[-1] = project.state_digest()
        session = project.session(clip_id)
        for i in range(EDITS):
            apply_edit(session, i)
            digests[i] = project.state_digest()
    assert len(set(digests.values())) > EDITS // 2  # the sequence really changes things
    return path, clip_id, digests


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.strip())
    lines.put(None)


def test_killing_a_writer_at_random_moments_loses_at_most_the_edit_in_flight(base, tmp_path):
    path, clip_id, digests = base
    rng = np.random.default_rng(2024)
    code = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_project_kill as t; "
            "t.child_main(sys.argv[1], sys.argv[2])")
    outcomes = []
    for round_ in range(ROUNDS):
        target = tmp_path / f"round{round_}.avsproj"
        shutil.copyfile(path, target)
        child = subprocess.Popen([sys.executable, "-c", code, str(target), clip_id], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)  # fmt: skip
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_reader, args=(child.stdout, lines), daemon=True).start()
        # Kill after a random number of committed edits (sometimes before the first one),
        # plus a random fraction of an edit's time, so kills land inside transactions.
        wait_for = int(rng.integers(-1, EDITS))
        seen: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            if (line == "ready" and wait_for < 0) or (line.isdigit() and int(line) >= wait_for):
                break
        time.sleep(float(rng.uniform(0, 0.004)))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        while True:  # what the child managed to print before dying
            line = lines.get(timeout=30)
            if line is None:
                break
            seen.append(line)
        err = child.stderr.read()
        child.stdout.close()
        child.stderr.close()
        assert "Traceback" not in err, err
        printed = [int(x) for x in seen if x.isdigit()]
        last = max(printed, default=-1)
        with Project.open(target, user=USER) as project:  # writable: no stale lock
            assert project.check() == []
            digest = project.state_digest()
        assert digest in (digests[last], digests.get(last + 1)), f"round {round_}: last printed {last}"
        outcomes.append(last)
    # the kills landed all over the sequence, not always at the same point
    assert len(set(outcomes)) > ROUNDS // 3, outcomes
