"""The engine of the fuzz suite: damaged inputs for every CLI command that reads user files.

A seeded corpus of mutations of the demo data, family by family (videos, WAVs, masks, CSVs,
COCO JSON, ``label2idx.json``, log-mel pickles, checkpoints, list files, paths, project
files, prediction folders), each run through ``avs-studio`` *in a worker process* that runs
the CLI in-process case after case (fast), so that a segmentation fault or a hang costs the
worker, not the test run: the parent restarts it and records the case.

Every run must end in success (0), a one-line error (exit 2; ``error: ...`` as the last line
of stderr and no traceback) or a batch with skips (3), within the time limit, leave no
output behind when it fails, and leave its inputs unchanged (a project the command is meant
to change must be unchanged when the command is refused).

The corpus itself is in ``fuzz_cases.py`` (the base data and a case maker per family) and
``fuzz_mutations.py`` (how bytes, JSON, CSV and paths are damaged). Used by
``tests/test_fuzz_cli.py`` (a few hundred cases in CI) and ``bench/fuzz_inputs.py`` (the
larger seeded run, counts per family).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FAMILIES = ("video", "wav", "mask", "csv", "coco", "label2idx", "pickle", "checkpoint", "listfile",
            "path", "project", "prediction")  # fmt: skip

#: Outcomes other than "ok", as counted in reports.
PROBLEMS = ("crash", "hang", "bad_exit", "partial_output", "changed_input")


@dataclass
class Case:
    """One damaged input and the command that reads it."""

    family: str
    name: str
    argv: list[str]
    inputs: list[Path]
    outputs: list[Path] = field(default_factory=list)
    project: Path | None = None  # changed on success, unchanged when refused
    allow: tuple[int, ...] = (0, 2, 3)
    timeout: float = 60.0
    cwd: Path | None = None

    def __post_init__(self) -> None:
        if self.argv[:1] == ["check"]:  # a checker: 1 says it found problems (as linters do)
            self.allow = (0, 1, 2)


@dataclass
class Outcome:
    """What one case did."""

    case: Case
    status: str  # "ok" or one of PROBLEMS
    code: int | None = None
    detail: str = ""
    seconds: float = 0.0



# =========================================================================== cases


def _hash_tree(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for root in paths:
        items = [root] if not root.is_dir() or root.is_symlink() else sorted(root.rglob("*"))
        for p in items:
            h.update(str(p).encode())
            try:
                st = os.lstat(p)
            except OSError:
                h.update(b"missing")
                continue
            h.update(str(st.st_mode).encode())
            if p.is_file() and not p.is_symlink():
                h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def project_state(path: Path) -> str:
    """What a project holds (its digest when it opens, else its bytes)."""
    from avs_studio.core.errors import AVSError
    from avs_studio.core.project.project import Project

    try:
        with Project.open(path, readonly=True) as project:
            return project.state_digest()
    except (AVSError, sqlite3.Error, OSError, ValueError):
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "absent"
        except OSError:
            return "unreadable"


# =========================================================================== running


class Worker:
    """A process that runs CLI invocations in-process, one JSON request per line."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
               "AVS_STUDIO_AUDIO": "null", "QT_QPA_PLATFORM": "offscreen", "PYTHONFAULTHANDLER": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(Path(__file__).resolve()), "--worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        os.set_blocking(self.proc.stderr.fileno(), False)

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.kill()
            self.proc.wait(timeout=30)
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                with contextlib.suppress(OSError):
                    stream.close()
            self.proc = None

    def _drain_stderr(self) -> str:
        try:
            data = self.proc.stderr.read() or b""
        except (OSError, ValueError):
            data = b""
        return data.decode("utf-8", "replace")

    def run(self, argv: list[str], cwd: Path, timeout: float) -> dict:
        """``{"code", "out", "err", "exc"}``, or ``{"hang": True}`` / ``{"died": returncode}``."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self._drain_stderr()
        request = json.dumps({"argv": argv, "cwd": str(cwd)}) + "\n"
        try:
            self.proc.stdin.write(request.encode())
            self.proc.stdin.flush()
        except OSError:
            pass
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                return {"hang": True}
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    self.proc.wait(timeout=30)
                    died = self.proc.returncode
                    tail = self._drain_stderr()[-2000:]
                    self.stop()
                    return {"died": died, "err": tail}
                return json.loads(line)


def _traceback_summary(text: str) -> str:
    """The innermost frames and the exception line of a traceback, each line shortened."""
    lines = text.strip().splitlines()
    frames = [ln.strip()[:200] for ln in lines if ln.strip().startswith("File ")][-4:]
    return "\n  ".join([*frames, lines[-1][:300] if lines else ""])


def _one_line_error(err: str) -> bool:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    return len(errors) == 1 and lines[-1].startswith("error: ")


def run_case(worker: Worker, case: Case) -> Outcome:
    """Run one case and judge it (see the module docstring)."""
    before_inputs = _hash_tree(case.inputs)
    before_project = project_state(case.project) if case.project is not None else None
    existed = {p: p.exists() or p.is_symlink() for p in case.outputs}
    t0 = time.monotonic()
    result = worker.run(["-q", *case.argv], case.cwd or Path.cwd(), case.timeout)
    seconds = time.monotonic() - t0
    if result.get("hang"):
        return Outcome(case, "hang", None, f"no answer in {case.timeout:.0f} s", seconds)
    if "died" in result:
        return Outcome(case, "crash", None, f"the process died ({result['died']}): {result.get('err', '')[-300:]}",
                       seconds)  # fmt: skip
    code, err = result["code"], result["err"]
    if result.get("exc") or "Traceback (most recent call last)" in err:
        return Outcome(case, "crash", code, _traceback_summary(result.get("exc") or err), seconds)
    if code not in case.allow:
        return Outcome(case, "bad_exit", code, err[-500:], seconds)
    if code == 2 and not _one_line_error(err):
        return Outcome(case, "bad_exit", code, f"not a one-line error: {err[-500:]!r}", seconds)
    if (folder := case.cwd) is not None and (folder / "PWNED").exists():
        return Outcome(case, "crash", code, "a hostile pickle ran code", seconds)
    if code not in (0, 3):
        left = [str(p) for p, was in existed.items() if not was and (p.exists() or p.is_symlink())]
        if left:
            return Outcome(case, "partial_output", code, f"left behind: {left}; {err[-300:]}", seconds)
    if code == 3 and case.outputs and not any(p.exists() for p in case.outputs):
        return Outcome(case, "partial_output", code, "exit 3 without output", seconds)
    if _hash_tree(case.inputs) != before_inputs:
        return Outcome(case, "changed_input", code, err[-300:], seconds)
    if case.project is not None and code not in (0, 3) and project_state(case.project) != before_project:
        return Outcome(case, "changed_input", code, f"the project changed although refused: {err[-300:]}", seconds)
    return Outcome(case, "ok", code, err.strip().splitlines()[-1][:200] if err.strip() else "", seconds)


def run_corpus(base, work: Path, plan: dict[str, int], *, seed: int, slow: bool = True,
               timeout: float = 60.0, keep: bool = False,
               on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:  # fmt: skip
    """Make and run ``plan[family]`` cases of each family; return every outcome."""
    from fuzz_cases import CaseMaker  # the corpus (it imports this module)

    maker = CaseMaker(base, work, seed)
    worker = Worker()
    outcomes = []
    try:
        for family, n in plan.items():
            for i in range(n):
                case = maker.make(family, i, slow=slow)
                case.timeout = timeout
                outcome = run_case(worker, case)
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
                if outcome.status == "ok" and not keep:
                    shutil.rmtree(case.cwd, ignore_errors=True)
    finally:
        worker.stop()
    return outcomes


def summarise(outcomes: list[Outcome]) -> dict[str, dict[str, int]]:
    """Counts per family: cases, exit codes 0/2/3, and each problem."""
    table: dict[str, dict[str, int]] = {}
    for o in outcomes:
        row = table.setdefault(o.case.family, {"cases": 0, "exit0": 0, "exit2": 0, "exit3": 0,
                                               **{p: 0 for p in PROBLEMS}})  # fmt: skip
        row["cases"] += 1
        if o.status == "ok":
            row[f"exit{o.code}"] = row.get(f"exit{o.code}", 0) + 1
        else:
            row[o.status] += 1
    return table


# =========================================================================== the worker side


def _worker_main() -> None:  # pragma: no cover - runs in the worker process
    import faulthandler
    import traceback

    faulthandler.enable()
    from avs_studio.cli.parser import main

    home = os.getcwd()
    for line in sys.stdin:
        request = json.loads(line)
        out, err = io.StringIO(), io.StringIO()
        exc_text = None
        code = None
        try:
            os.chdir(request["cwd"])
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(request["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # anything uncaught is a crash: report it
            exc_text = traceback.format_exc()
        finally:
            os.chdir(home)
        sys.stdout.write(json.dumps({"code": code, "out": out.getvalue()[-4000:], "err": err.getvalue()[-200_000:],
                                     "exc": exc_text}) + "\n")  # fmt: skip
        sys.stdout.flush()


if __name__ == "__main__":  # pragma: no cover
    if "--worker" in sys.argv:
        _worker_main()
