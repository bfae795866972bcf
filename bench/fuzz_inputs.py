"""The seeded fuzz run of the CLI's input boundary: damaged inputs of every family, counts per family.

    python bench/fuzz_inputs.py [--cases 1500] [--seed 1] [--work /tmp/avs-fuzz] [--fast]
                                [--family coco --family mask ...] [--show 5]

Builds small demo data (S4, MS3, AVSS datasets, projects, COCO and PNG exports, propose
outputs, a model file), then makes ``--cases`` damaged inputs spread over the families
(videos, WAVs, masks, CSVs, COCO JSON, label2idx.json, log-mel pickles, checkpoints, list
files, paths, project files, prediction folders) and runs each through the command that
reads it, in a worker process (a segfault or a hang costs the worker, not the run). Prints,
per family, the cases, the exit codes and the problems: crashes (tracebacks, signals, code
run by a hostile pickle), hangs, bad exits (a code other than 0/2/3 or a message that is not
one ``error:`` line), partial outputs (a failed command that left output behind) and changed
inputs. All problem columns must be 0; the cases behind them are listed (``--show``) and
kept under ``--work``. ``--fast`` leaves out the commands that load a model (propose, train).
The engine lives in ``tests/fuzzing.py``, the corpus in ``tests/fuzz_cases.py`` and
``tests/fuzz_mutations.py`` (shared with ``tests/test_fuzz_cli.py``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import fuzz_cases  # noqa: E402
import fuzzing  # noqa: E402

#: Relative weights of the families in a run (the cheap, varied ones get more cases).
WEIGHTS = {"video": 8, "wav": 6, "mask": 10, "csv": 10, "coco": 16, "label2idx": 6, "pickle": 5,
           "checkpoint": 8, "listfile": 7, "path": 10, "project": 12, "prediction": 7}  # fmt: skip


def plan_for(total: int, families: list[str]) -> dict[str, int]:
    """Split ``total`` cases over ``families`` by :data:`WEIGHTS`."""
    weights = {f: WEIGHTS[f] for f in families}
    scale = total / sum(weights.values())
    plan = {f: max(1, int(w * scale)) for f, w in weights.items()}
    short = total - sum(plan.values())
    for f in sorted(weights, key=weights.get, reverse=True)[: max(short, 0)]:
        plan[f] += 1
    return plan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", type=Path, help="work folder (default: a new temporary folder)")
    ap.add_argument("--family", action="append", choices=fuzzing.FAMILIES, help="only these families")
    ap.add_argument("--fast", action="store_true", help="leave out the commands that load a model")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds a case may take (a hang beyond)")
    ap.add_argument("--show", type=int, default=5, help="problem cases listed per family")
    args = ap.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="avs-fuzz-"))
    t0 = time.perf_counter()
    base = fuzz_cases.Base(work / "base").build()
    print(f"base data in {time.perf_counter() - t0:.1f} s under {work}", flush=True)
    plan = plan_for(args.cases, args.family or list(fuzzing.FAMILIES))
    done = {"n": 0}
    total = sum(plan.values())

    def tick(outcome: fuzzing.Outcome) -> None:
        done["n"] += 1
        if outcome.status != "ok":
            print(f"  {outcome.status}: {outcome.case.family} {outcome.case.name} ({outcome.case.cwd})", flush=True)
        if done["n"] % 100 == 0:
            print(f"{done['n']}/{total} cases, {time.perf_counter() - t0:.0f} s", flush=True)

    t1 = time.perf_counter()
    outcomes = fuzzing.run_corpus(base, work / "cases", plan, seed=args.seed, slow=not args.fast,
                                  timeout=args.timeout, on_outcome=tick)  # fmt: skip
    seconds = time.perf_counter() - t1
    table = fuzzing.summarise(outcomes)
    columns = ["cases", "exit0", "exit2", "exit3", *fuzzing.PROBLEMS]
    print(f"\n{len(outcomes)} cases in {seconds:.0f} s ({seconds / max(len(outcomes), 1):.2f} s a case), seed "
          f"{args.seed}")  # fmt: skip
    print(f"{'family':<12}" + "".join(f"{c:>15}" for c in columns))
    totals = {c: 0 for c in columns}
    for family in fuzzing.FAMILIES:
        if family in table:
            row = table[family]
            print(f"{family:<12}" + "".join(f"{row.get(c, 0):>15}" for c in columns))
            for c in columns:
                totals[c] += row.get(c, 0)
    print(f"{'all':<12}" + "".join(f"{totals[c]:>15}" for c in columns))
    bad = [o for o in outcomes if o.status != "ok"]
    shown: dict[str, int] = {}
    for o in bad:
        shown[o.case.family] = shown.get(o.case.family, 0) + 1
        if shown[o.case.family] <= args.show:
            print(f"\n[{o.status}] {o.case.family} {o.case.name} exit {o.code} in {o.case.cwd}\n"
                  f"  avs-studio {' '.join(o.case.argv)}\n  {o.detail.strip()[-800:]}")  # fmt: skip
    slowest = sorted(outcomes, key=lambda o: -o.seconds)[:3]
    print("\nslowest: " + "; ".join(f"{o.case.family} {o.case.name} {o.seconds:.1f} s" for o in slowest))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
