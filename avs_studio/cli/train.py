"""``avs-studio train``: train the demo architecture or fine-tune an official model.

    avs-studio train DATA --setting s4 --out s4.pt                       # demo-tpavi from scratch
    avs-studio train DATA --setting ms3 --out ms3.pt --init ms3_pvt_best.pth --vggish vggish.pth
    avs-studio train DATA --setting ms3 --out ms3.pt --resume --epochs 30  # continue a run

The first Ctrl-C stops after the current batch and keeps the files of the last completed
epoch (the model file, ``<stem>.resume.pt`` and the logs); a second one aborts at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

from avs_studio.cli.common import EXIT_INTERRUPTED, progress_bar, stop_on_ctrl_c
from avs_studio.core.jobs import CancelToken
from avs_studio.core.setting import Setting


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _arch_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with a JSON value (``frame_gate=false``, ``channels=48``)."""
    import json

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"{key}: {value!r} is not a JSON value "
                                         "(true, false, a number, a list)") from None


def cmd_train(args: argparse.Namespace) -> int:
    """Run a training job with a progress bar; Ctrl-C stops cleanly after the current batch."""
    # Idle OpenMP threads sleep instead of spinning: on a shared or busy CPU spinning threads
    # burn several times the useful CPU time (measured 4.8 s vs 0.55 s per demo step).  It
    # only takes effect if torch is not loaded yet, which is the case for the CLI.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from avs_studio.model.train.loop import TrainOptions, train

    options = TrainOptions(
        setting=Setting.parse(args.setting), init=args.init, vggish=args.vggish,
        epochs=args.epochs, batch_clips=args.batch_clips, lr=args.lr, seed=args.seed,
        train_split=args.train_split, val_split=None if args.val_split == "none" else args.val_split,
        lambda_avm=args.lambda_avm, augment=not args.no_augment, max_clips=args.max_clips,
        threads=args.threads, schedule=args.schedule, demo_config=dict(args.arch or []),
    )  # fmt: skip
    token = CancelToken()
    quiet = bool(getattr(args, "quiet", False))
    command = _command_line(args)
    with stop_on_ctrl_c(token), progress_bar(f"train {options.setting.value}", "batch", quiet=quiet) as prog:
        result = train(args.dataset, args.out, options, resume=args.resume,
                       overwrite=args.overwrite, progress=prog, cancel=token,
                       log=_logger(quiet), command=command)
    print(result.summary())
    if result.cancelled:
        if result.epochs_done:
            print(f"interrupted: {args.out} holds the best of the {result.epochs_done} completed "
                  "epoch(s); continue with --resume", file=sys.stderr)
        else:
            print("interrupted before the first epoch completed: nothing was written",
                  file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _command_line(args: argparse.Namespace) -> str:
    """The command as it would be typed (recorded in the model card and the log)."""
    words = ["avs-studio", "train", args.dataset, "--setting", args.setting, "--out", args.out]
    for flag, value in (("--init", args.init), ("--vggish", args.vggish),
                        ("--epochs", args.epochs), ("--batch-clips", args.batch_clips),
                        ("--lr", args.lr), ("--schedule", args.schedule), ("--seed", args.seed),
                        ("--train-split", args.train_split), ("--val-split", args.val_split),
                        ("--lambda-avm", args.lambda_avm), ("--max-clips", args.max_clips),
                        ("--threads", args.threads)):
        if value is not None:
            words += [flag, str(value)]
    for key, value in args.arch or []:
        words += ["--arch", f"{key}={json.dumps(value)}"]
    words += [flag for flag, on in (("--no-augment", args.no_augment), ("--resume", args.resume),
                                    ("--overwrite", args.overwrite)) if on]
    return " ".join(shlex.quote(str(w)) for w in words)


def _logger(quiet: bool):
    def log(message: str) -> None:
        if quiet:
            return
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)

    return log


def add_train_parser(subparsers) -> None:
    """Register ``train`` on an ``argparse`` subparsers object."""
    t = subparsers.add_parser(
        "train", help="train the demo model, or fine-tune an official model, on a dataset",
        description="Train the demo-tpavi architecture from scratch (--init demo) or fine-tune "
                    "an official TPAVI checkpoint (VGGish frozen) or an AVS Studio model file, "
                    "with the official losses; validates each epoch with the official metric "
                    "and keeps the best epoch.")  # fmt: skip
    t.add_argument("dataset", help="an AVSBench dataset folder (S4, MS3 or AVSS layout)")
    t.add_argument("--setting", choices=[s.value for s in Setting], required=True)
    t.add_argument("--out", required=True, metavar="MODEL.pt",
                   help="the model file to write (logs and a resume state go beside it)")
    t.add_argument("--init", default="demo", metavar="demo|PATH",
                   help="'demo' (default): the demo architecture from scratch; or an official "
                        "checkpoint (needs --vggish) or an AVS Studio model file to fine-tune")
    t.add_argument("--arch", type=_arch_option, action="append", metavar="KEY=VALUE",
                   help="an option of the demo architecture (repeatable), e.g. frame_gate=true; "
                        "with --init MODEL.pt, new layers start fresh and the rest is kept")
    t.add_argument("--vggish", metavar="PATH", help="VGGish weights (vggish-10086976.pth) for "
                                                    "an official checkpoint")
    t.add_argument("--epochs", type=_positive_int, default=10)
    t.add_argument("--batch-clips", type=_positive_int, default=4, help="clips per batch (official: 4)")
    t.add_argument("--lr", type=_positive_float,
                   help="learning rate (default: 1e-3 demo from scratch, 1e-4 fine-tuning)")
    t.add_argument("--schedule", choices=["auto", "cosine", "constant"], default="auto",
                   help="learning-rate schedule (auto: cosine for the demo, constant for "
                        "fine-tuning as the official recipe)")
    t.add_argument("--seed", type=int, default=123)
    t.add_argument("--train-split", default="train",
                   help="split(s) to train on, comma-separated (default: train)")
    t.add_argument("--val-split", default="val", help="split for validation, or 'none'")
    t.add_argument("--lambda-avm", type=float, default=0.5,
                   help="weight of the audio-visual matching term (MS3/AVSS; official 0.5)")
    t.add_argument("--no-augment", action="store_true", help="no horizontal flips")
    t.add_argument("--max-clips", type=_positive_int, help="use only the first N training clips")
    t.add_argument("--threads", type=_positive_int, help="CPU threads for torch")
    t.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its <stem>.resume.pt")
    t.add_argument("--overwrite", action="store_true", help="replace an existing model file")
    t.set_defaults(func=cmd_train)
