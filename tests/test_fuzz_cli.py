"""The fuzz suite in CI: a few hundred damaged inputs, every family, through the CLI commands
that read them (``tests/fuzzing.py`` runs them in a worker process, so a segfault or a hang
is caught, not suffered).

Each run must end in success (0), one ``error:`` line with exit 2, or a batch with skips (3);
within the time limit; leaving no output when it fails and its inputs unchanged; and no
hostile pickle may run code. The commands that load a model for inference (propose and
train on good data) are left to the bigger seeded run, ``bench/fuzz_inputs.py``; damaged
checkpoints are here (they are refused before any inference). About a minute on 2 cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import fuzz_cases
import fuzzing

SEED = 20240601
PLAN = {"video": 12, "wav": 10, "mask": 20, "csv": 20, "coco": 36, "label2idx": 8, "pickle": 6,
        "checkpoint": 8, "listfile": 12, "path": 20, "project": 26, "prediction": 12}  # fmt: skip


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory) -> list[fuzzing.Outcome]:
    root = tmp_path_factory.mktemp("fuzz")
    base = fuzz_cases.Base(root / "base").build(propose=False)
    return fuzzing.run_corpus(base, root / "cases", PLAN, seed=SEED, slow=False, timeout=60)


@pytest.mark.parametrize("family", list(PLAN))
def test_damaged_inputs_end_in_success_or_one_clear_error(outcomes, family):
    mine = [o for o in outcomes if o.case.family == family]
    assert len(mine) == PLAN[family]
    bad = [o for o in mine if o.status != "ok"]
    detail = "\n\n".join(f"[{o.status}] {o.case.name} exit {o.code}\n  avs-studio {' '.join(o.case.argv)}\n  "
                         f"{o.detail[-600:]}" for o in bad[:5])  # fmt: skip
    assert not bad, f"{len(bad)} of {len(mine)} {family} cases went wrong:\n{detail}"


def test_the_corpus_exercises_refusals_and_successes(outcomes):
    """The corpus is not trivially good or bad: every outcome the rules allow occurs."""
    codes = {o.code for o in outcomes}
    assert {0, 2, 3} <= codes
    table = fuzzing.summarise(outcomes)
    # (a damaged label2idx.json falls back to the official mapping, with a note: exit 0)
    refusing = {fam for fam, row in table.items() if row["exit2"] + row["exit3"] > 0}
    assert set(PLAN) - {"label2idx"} <= refusing, table
