"""``avs-studio propose``: masks proposed by a model for many clips, resumably.

    avs-studio propose DATA/Single-source --split test --out props/ --probs
    avs-studio propose videos/ --setting avss --out props/ --format coco
    avs-studio propose clips.txt --model s4_pvt_best.pth --vggish vggish-10086976.pth --out props/

A thin face on :func:`avs_studio.model.propose.run.propose`: it loads the model (the shipped
demo model of the setting when ``--model`` is omitted), shows a progress bar with clips/s
and the time left, and ends with a summary. The first Ctrl-C stops after the current batch
(finished clips stay complete; a re-run continues), a second one aborts at once.

``--ray [ADDRESS]`` runs the same job on Ray
(:class:`~avs_studio.model.propose.ray_executor.RayExecutor`): the same outputs, report,
progress and Ctrl-C. Ray prints a cluster's own troubles (a node lost) on stdout while it
runs; the summary line comes after Ray has stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from avs_studio.cli.common import EXIT_INTERRUPTED, EXIT_PARTIAL, stop_on_ctrl_c
from avs_studio.core.errors import AVSError
from avs_studio.core.jobs import CancelToken, Progress
from avs_studio.core.setting import Setting

_SHOWN_FAILURES = 5


def add_propose_parser(subparsers) -> None:
    """Register ``propose`` on the ``avs-studio`` subcommand parsers."""
    settings = [s.value for s in Setting]
    p = subparsers.add_parser(
        "propose", help="propose masks with a model for a dataset, a folder of videos or a list file",
        description="Run a model over many clips and write its predictions (resumable).")  # fmt: skip
    p.add_argument("input", help="an AVSBench dataset folder, a folder of videos, a list file "
                                 "(path[,start[,seconds]] per line) or a video")  # fmt: skip
    p.add_argument("--out", required=True, help="output folder (re-run with the same folder to resume)")
    p.add_argument("--model", help="model file: an AVS Studio model or an official checkpoint "
                                   "(default: the shipped demo model of the setting)")  # fmt: skip
    p.add_argument("--vggish", help="VGGish weights (vggish-10086976.pth), needed by official checkpoints")
    p.add_argument("--setting", choices=settings, help="setting of the clips (and of the demo model)")
    p.add_argument("--format", dest="fmt", choices=["avsbench", "png", "coco"], default="avsbench",
                   help="avsbench: the official pred_masks/ layout (224x224); png: AVS Studio PNG "
                        "masks at each frame's size; coco: a COCO instances file")  # fmt: skip
    p.add_argument("--probs", action="store_true",
                   help="also write score maps scores/<clip>.npz (what evaluate needs for the exact F-score)")
    p.add_argument("--split", choices=["train", "val", "test"], help="only this split of a dataset")
    p.add_argument("--seconds", type=int, choices=(5, 10), help="clip length for videos (default: "
                                                                "5; AVSS: 10 when long enough)")  # fmt: skip
    p.add_argument("--batch-clips", type=int, default=1, metavar="N", help="clips per forward (default 1)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="decoding processes (default: half the cores, 1-4; 0 decodes in the main process)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32",
                   help="fp32 (default); bf16/fp16 autocast on a GPU only")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="run on Ray (needs the 'ray' extra): alone, a local Ray runtime on this machine; "
                        "with an address (auto, ray://HOST:PORT, ...), that cluster. Put it after INPUT")  # fmt: skip
    p.add_argument("--ray-writes", choices=["driver", "workers"], default="driver",
                   help="with --ray, who writes the outputs: this process (default; OUT on this "
                        "machine's disk) or tasks on the cluster's nodes (OUT must be one folder "
                        "every node sees at the same path)")  # fmt: skip
    p.set_defaults(func=cmd_propose)


def cmd_propose(args: argparse.Namespace) -> int:
    """Load the model, run the propose job with a progress bar, print the summary."""
    from avs_studio.model.propose.run import propose

    quiet = bool(getattr(args, "quiet", False))
    clip_setting = _clip_setting(args)
    ray = getattr(args, "ray", None)
    if ray is None and getattr(args, "ray_writes", "driver") != "driver":
        raise AVSError("--ray-writes applies to a run on Ray: add --ray")
    if ray is not None and args.workers is not None:
        raise AVSError("--workers sets the local decoding processes; on Ray every free CPU prepares "
                       "clips: drop --workers or --ray")  # fmt: skip
    executor = None
    if ray is not None:
        from avs_studio.model.propose.ray_executor import RayExecutor

        executor = RayExecutor(ray or None, write_on=args.ray_writes, device=args.device,
                               precision=args.precision, threads=args.threads, fold_batchnorm=True)  # fmt: skip
    system = _load_model(args, clip_setting)
    if executor is None:
        engine = _engine(system, args.device, args.precision, args.batch_clips, args.threads, fold=True)
        if not quiet:
            print(f"model: {engine.describe()}", file=sys.stderr)
    else:
        # The driver keeps the system as loaded (the actors fold it on their own device, as a
        # local run does) and never runs it: a CPU engine gives the job the model's identity.
        engine = _engine(system, "cpu", "fp32", args.batch_clips, args.threads, fold=False)
        if not quiet:
            info = system.info
            print(f"model: {info.name} ({info.arch}, {system.setting.value.upper()}) on Ray "
                  f"({ray or 'a local runtime'}): device {args.device}, {args.precision}, "
                  f"{args.batch_clips} clip(s) per batch", file=sys.stderr)  # fmt: skip
    if system.info.extra.get("integrity") == "no digest":
        print(f"note: {system.info.source or 'the model'} carries no digest of its weights (written before "
              "AVS Studio wrote one): its integrity cannot be checked", file=sys.stderr)  # fmt: skip
    token = CancelToken()
    with stop_on_ctrl_c(token), _rate_bar("propose", quiet) as prog:
        report = propose(
            args.input, engine, args.out, setting=clip_setting or system.setting, fmt=args.fmt,
            probs=args.probs, split=args.split, seconds=args.seconds, workers=args.workers,
            executor=executor, progress=prog, cancel=token,
        )  # fmt: skip
    for note in report.notes[:10]:
        print(f"note: {note}", file=sys.stderr)
    for f in report.failures[:_SHOWN_FAILURES]:
        print(f"failed: {f.item}: {f.error}", file=sys.stderr)
    if len(report.failures) > _SHOWN_FAILURES:
        where = "" if report.out_removed else " (see report.csv)"
        print(f"... and {len(report.failures) - _SHOWN_FAILURES} more failures{where}", file=sys.stderr)
    t = report.timings
    if report.done and not quiet:
        if "idle_s" in t:  # on Ray: the actors' wait for prepared clips, summed over actors
            wait = f"model actors waiting for prepared clips {t['idle_s']:.1f} s, Ray start-up {t.get('ray_start_s', 0):.1f} s"
        else:
            wait = f"waiting for decoded clips {t.get('wait_s', 0):.1f} s"
        print(f"time: frames {t.get('frames_s', 0):.1f} s and log-mel {t.get('log_mel_s', 0):.1f} s "
              f"(decoding workers), audio encoder {t.get('audio_encoder_s', 0):.1f} s, model "
              f"{t.get('model_s', 0):.1f} s, writing {t.get('write_s', 0):.1f} s, {wait}", file=sys.stderr)  # fmt: skip
    if report.failures and not report.done and not report.skipped and not report.cancelled:
        raise AVSError(f"no clip could be proposed: {report.failures[0].item}: {report.failures[0].error}")
    where = "nothing written" if report.out_removed else f"outputs in {Path(args.out)}"
    print(f"{report.summary()}; {where}")
    if report.cancelled:
        print("stopped before the end: run the same command again to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    # A batch that skipped clips says so in its exit status (they are listed above and in report.csv).
    return EXIT_PARTIAL if report.failures else 0


def _engine(system, device: str, precision: str, batch_clips: int, threads: int | None, *, fold: bool):
    from avs_studio.model.engine import Engine

    # The system is loaded only to propose: it may be specialised for inference (``fold``).
    return Engine(system, device=device, precision=precision, batch_clips=batch_clips, threads=threads,
                  fold_batchnorm=fold)  # fmt: skip


def _clip_setting(args: argparse.Namespace) -> Setting | None:
    """The clips' setting: --setting, else the dataset's own (None for videos: the model's)."""
    if args.setting:
        return Setting.parse(args.setting)
    p = Path(args.input)
    if p.is_dir():
        from avs_studio.core.datasets import detect_setting

        found = detect_setting(p)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(s.value for s in found)
            raise AVSError(f"{p}: holds several settings ({names}); choose one with --setting")
    return None


def _load_model(args: argparse.Namespace, clip_setting: Setting | None):
    from avs_studio.model.model_files import demo_model_path, load_system

    if args.model is None:
        if clip_setting is None:
            raise AVSError("which model? pass --model PATH, or --setting s4|ms3|avss to use the "
                           "shipped demo model of that setting")  # fmt: skip
        path = demo_model_path(clip_setting)
        if not path.is_file():
            raise AVSError(
                f"no --model given, and the shipped {clip_setting.value.upper()} demo model "
                f"{path} is missing from this installation; pass --model PATH (an AVS Studio "
                "model, or an official checkpoint with --vggish PATH)"
            )
        return load_system(None, setting=clip_setting)
    # The setting is checked against the clips by the job (S4 and MS3 models are
    # interchangeable there; an official checkpoint alone cannot tell S4 from MS3).
    return load_system(args.model, vggish=args.vggish)


@contextlib.contextmanager
def _rate_bar(desc: str, quiet: bool) -> Iterator[Progress]:
    """A tqdm bar fed by increments, so that it shows clips/s and the time left."""
    if quiet:
        yield lambda done, total, message="": None
        return
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit="clip", file=sys.stderr, dynamic_ncols=True, leave=False)
    state = {"first": True}

    def update(done: int, total: int | None, message: str = "") -> None:
        if total is not None and bar.total != total:
            bar.total = total
        if state["first"]:
            # Clips done by an earlier run do not count towards the rate.
            state["first"] = False
            bar.n = bar.last_print_n = done
            bar.start_t = bar.last_print_t = time.time()
            bar.initial = done
        elif done > bar.n:
            bar.update(done - bar.n)
        if message:
            bar.set_postfix_str(message[-24:], refresh=False)
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
