"""Training and fine-tuning AVS models: the official losses and a cancellable training job.

Losses (model.md §10):

* S4: BCE on the first frame of each clip (:func:`bce_first_frame`; the general
  :func:`masked_bce` weights frames, and the S4 weights select frame 0 only);
* MS3: BCE over all five frames + ``0.5 *`` the audio-visual matching term
  (:func:`avm_kl_loss`, soft mask ``sigmoid(pool(logits))``);
* AVSS: per-pixel cross-entropy per frame weighted by ``gt_temporal_mask_flag``
  (:func:`masked_ce`) + ``0.5 *`` the AVM term with the hard foreground mask
  ``argmax != 0``, weighted by the same flag.

BCE is computed from the logits (``binary_cross_entropy_with_logits``), which equals the
official ``BCELoss(sigmoid(pred))`` except where the official clamps ``log`` at -100;
``log_softmax`` replaces the official ``softmax(...).log()`` likewise.

:func:`train` is a job (``progress(done, total, message)`` + :class:`CancelToken`): it trains
the ``demo-tpavi`` architecture from scratch (``init="demo"``) or fine-tunes an official
checkpoint (VGGish frozen, as upstream) or an AVS Studio model file, validates each epoch with
the official metric, keeps the best model on validation, writes a resumable state after every
epoch and a CSV + JSON log, all atomically.  A cancelled run keeps the files of its last
completed epoch.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from avs_studio.core.clip import Clip
from avs_studio.core.errors import AVSError
from avs_studio.core.fsutil import atomic_path, atomic_write_text
from avs_studio.core.jobs import CancelToken, Progress, no_progress
from avs_studio.core.setting import Setting
from avs_studio.core.text import plural
from avs_studio.model.model_files import save_system
from avs_studio.model.system import AVSSystem
from avs_studio.model.train.data import DEFAULT_CACHE_BYTES, Batch, ClipCache, make_batch

STATE_FORMAT = "avs-studio-train-state"
STATE_VERSION = 1
FINETUNE_LR = 1e-4  # the official recipe (Adam, lr 1e-4)
DEMO_LR = 1e-3


# --------------------------------------------------------------------------- losses

def masked_bce(logits: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel BCE over the frames with weight 1.

    ``logits [N, 1, H, W]``, ``gt [N, H, W]`` (0/1), ``weights [N]`` (0/1).  With weights
    selecting whole frames this is the official ``BCELoss(sigmoid(pred[sel]), gt[sel])``.
    """
    logits = logits.reshape(gt.shape)
    per_frame = F.binary_cross_entropy_with_logits(logits, gt.to(logits.dtype),
                                                   reduction="none").mean(dim=(1, 2))
    w = weights.to(per_frame.dtype)
    return (per_frame * w).sum() / w.sum().clamp_min(1.0)


def bce_first_frame(logits: torch.Tensor, gt: torch.Tensor, frames_per_clip: int = 5
                    ) -> torch.Tensor:
    """The official S4 loss: BCE on frames ``0, T, 2T, ...`` only (the annotated ones)."""
    weights = torch.zeros(logits.shape[0], device=logits.device)
    weights[::frames_per_clip] = 1.0
    return masked_bce(logits, gt, weights)


def masked_ce(logits: torch.Tensor, gt: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The official AVSS loss: per-pixel cross-entropy (no ignore index), averaged per frame,
    multiplied by ``gt_temporal_mask_flag`` and divided by the flag sum."""
    per_frame = F.cross_entropy(logits, gt.long(), reduction="none").mean(dim=(1, 2))
    w = weights.to(per_frame.dtype)
    return (per_frame * w).sum() / w.sum().clamp_min(1e-12)


def avm_kl_loss(pred_logits: torch.Tensor, feature_maps: Sequence[torch.Tensor],
                audio_features: Sequence[torch.Tensor], *, hard_mask: bool = False,
                weights: torch.Tensor | None = None) -> torch.Tensor:
    """The audio-visual matching term (KL form), mean over the stages.

    Per stage: ``msk = sigmoid(avg_pool(logits, (h, w)))`` (MS3) or
    ``avg_pool(argmax(logits) != 0)`` (AVSS, ``hard_mask``); ``vb = mean_hw(v * msk)``;
    ``KL(softmax(a) || softmax(vb))`` summed over channels.  Without ``weights`` the frames
    are summed (the MS3 ``reduction='sum'``); with ``weights`` (AVSS) each frame's KL is
    weighted and the sum divided by the weight sum.
    """
    n = pred_logits.shape[0]
    losses = []
    for v, a in zip(feature_maps, audio_features):
        if a is None:
            continue
        h, w = v.shape[-2:]
        if hard_mask:
            fg = (pred_logits.argmax(dim=1, keepdim=True) != 0).to(v.dtype)
            msk = F.adaptive_avg_pool2d(fg, (h, w))
        else:
            msk = torch.sigmoid(F.adaptive_avg_pool2d(pred_logits, (h, w)))
        vb = (v * msk).mean(dim=(2, 3))                       # [N, C]
        a = a.reshape(n, -1)
        log_p_v = F.log_softmax(vb, dim=1)
        p_a = F.softmax(a, dim=1)
        kl = (p_a * (F.log_softmax(a, dim=1) - log_p_v)).sum(dim=1)   # [N]
        if weights is None:
            losses.append(kl.sum())
        else:
            wt = weights.to(kl.dtype)
            losses.append((kl * wt).sum() / wt.sum().clamp_min(1e-12))
    if not losses:
        return pred_logits.new_zeros(())
    return torch.stack(losses).mean()


def setting_loss(setting: Setting, logits: torch.Tensor, feature_maps: Sequence[torch.Tensor],
                 audio_features: Sequence[torch.Tensor], gt: torch.Tensor,
                 gt_flags: torch.Tensor, *, lambda_avm: float = 0.5
                 ) -> tuple[torch.Tensor, dict[str, float]]:
    """The official loss of a setting on matching frames; returns ``(total, parts)``.

    All arguments cover the same frames (``logits [n, K, H, W]``, ``feature_maps`` ``[n, C,
    h, w]``, ``audio_features`` reshapeable to ``[n, C]``, ``gt [n, H, W]``, ``gt_flags
    [n]``).  S4 uses only the BCE (the official S4 script has the AVM term off).
    """
    if setting is Setting.AVSS:
        seg = masked_ce(logits, gt, gt_flags)
        avm = avm_kl_loss(logits, feature_maps, audio_features, hard_mask=True,
                          weights=gt_flags) if lambda_avm else logits.new_zeros(())
    else:
        seg = masked_bce(logits, gt, gt_flags)
        use_avm = setting is Setting.MS3 and lambda_avm
        avm = avm_kl_loss(logits, feature_maps, audio_features) if use_avm \
            else logits.new_zeros(())
    total = seg + lambda_avm * avm
    return total, {"seg": float(seg.detach()), "avm": float(avm.detach())}


# --------------------------------------------------------------------------- evaluation

def _forward_batch(system: AVSSystem, batch: Batch) -> torch.Tensor:
    flags = batch.vid_flags if system.setting is Setting.AVSS else None
    return system(batch.frames, batch.log_mel, flags)


def evaluate_system(system: AVSSystem, clips: Sequence[Clip], *, batch_clips: int = 4,
                    cache: ClipCache | None = None, progress: Progress = no_progress,
                    cancel: CancelToken | None = None) -> dict[str, Any]:
    """Official mIoU and F of ``system`` on ``clips`` (which need all their masks).

    S4/MS3: :func:`~avs_studio.core.metrics.binary_scores` on the logits (batches of 4 clips
    as the official test); AVSS: :func:`~avs_studio.core.metrics.semantic_scores_from_labels`
    on the argmax.  Returns ``{"miou", "fscore", "clips", "result"}``.
    """
    from avs_studio.core.metrics import binary_scores, semantic_scores_from_labels

    if not clips:
        raise AVSError("no clips to evaluate")
    setting = system.setting
    cache = cache or ClipCache()
    was_training = system.training
    system.eval()
    preds, gts = [], []
    step = max(1, batch_clips if setting.is_binary else min(batch_clips, 2))
    progress(0, len(clips), "")
    try:
        with torch.inference_mode():
            for i in range(0, len(clips), step):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                items = [cache.get(c) for c in clips[i:i + step]]
                batch = make_batch(items, setting)
                logits = _forward_batch(system, batch)
                t = setting.frames_per_clip
                if setting.is_binary:
                    preds.append(logits[:, 0].reshape(-1, t, *logits.shape[-2:]).numpy())
                else:
                    labels = logits.argmax(dim=1).to(torch.uint8)
                    preds.append(labels.reshape(-1, t, *labels.shape[-2:]).numpy())
                gts.append(np.stack([it.gt for it in items]))
                progress(min(i + step, len(clips)), len(clips), "")
    finally:
        system.train(was_training)
    pred, gt = np.concatenate(preds), np.concatenate(gts)
    ids = [c.clip_id for c in clips]
    if setting.is_binary:
        res = binary_scores(pred, gt, kind="logits", frames_per_clip=pred.shape[1], clip_ids=ids)
    else:
        res = semantic_scores_from_labels(pred.astype(np.int64), gt.astype(np.int64),
                                          num_classes=setting.num_classes,
                                          frames_per_clip=pred.shape[1], clip_ids=ids)
    return {"miou": float(res["miou"]), "fscore": float(res["fscore"]), "clips": len(clips),
            "result": res}


# --------------------------------------------------------------------------- the job

@dataclass
class TrainOptions:
    """What :func:`train` does.  ``lr=None`` picks 1e-3 for the demo from scratch and the
    official 1e-4 for fine-tuning; ``schedule`` ``"auto"`` is cosine decay for the demo and a
    constant rate (official) for fine-tuning."""

    setting: Setting
    init: str = "demo"
    vggish: str | None = None
    epochs: int = 10
    batch_clips: int = 4
    lr: float | None = None
    schedule: str = "auto"
    seed: int = 123
    train_split: str = "train"
    val_split: str | None = "val"
    lambda_avm: float = 0.5
    augment: bool = True
    max_clips: int | None = None
    demo_config: dict = field(default_factory=dict)
    cache_bytes: int = DEFAULT_CACHE_BYTES
    threads: int | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain dict (for logs, cards and the resume state)."""
        d = asdict(self)
        d["setting"] = self.setting.value
        return d


@dataclass
class TrainResult:
    """What a training run did."""

    out: Path
    epochs_done: int
    best_epoch: int
    best_miou: float | None
    history: list[dict]
    cancelled: bool
    wall_s: float
    cpu_s: float
    train_clips: int
    val_clips: int

    def summary(self) -> str:
        """One line for the end of a CLI command."""
        val = "no validation" if self.best_miou is None else \
            f"best val mIoU {self.best_miou:.4f} (epoch {self.best_epoch})"
        head = "stopped" if self.cancelled else "trained"
        return (f"{head} {plural(self.epochs_done, 'epoch')} on {plural(self.train_clips, 'clip')}, {val}; "
                f"{self.wall_s:.0f} s wall, {self.cpu_s:.0f} s CPU -> {self.out}")


def side_paths(out: str | os.PathLike[str]) -> dict[str, Path]:
    """Files written beside ``out``: the resume state and the logs."""
    out = Path(out)
    stem = out.name[:-len(out.suffix)] if out.suffix else out.name
    return {"state": out.with_name(f"{stem}.resume.pt"), "csv": out.with_name(f"{stem}.log.csv"),
            "json": out.with_name(f"{stem}.log.json")}


def _init_system(options: TrainOptions) -> tuple[AVSSystem, dict]:
    """Build or load the system to train and the config its model file records."""
    from avs_studio.model.checkpoint import read_checkpoint_object
    from avs_studio.model.model_files import is_studio_file, studio_system

    setting = options.setting
    if options.init == "demo":
        from avs_studio.model.demo_model import build_demo_system, full_config

        config = full_config(options.demo_config)
        return build_demo_system(setting, config), config
    path = Path(options.init)
    raw = read_checkpoint_object(path)
    if is_studio_file(raw):
        system = studio_system(path, raw)
        del raw
        config = dict(system.info.extra.get("config", {}))
        wanted = {**config, **options.demo_config}  # architecture options added for this run
        if system.setting is not setting or wanted != config:
            system, config, left = _switch_setting(system, wanted, setting)
            system.info.extra["fresh_tensors"] = left
        return system, config
    if options.vggish is None:
        raise AVSError(f"{path.name} is an official checkpoint: fine-tuning it needs the VGGish "
                       "weights of the official code (--vggish vggish-10086976.pth)")
    from avs_studio.model import backbone_of, variant_name
    from avs_studio.model.avs_model import AVSModel
    from avs_studio.model.checkpoint import (
        check_finite,
        detect_variant,
        load_into,
        load_vggish,
        state_dict_of,
    )
    from avs_studio.model.system import SystemInfo, file_hash

    sd = state_dict_of(raw, path)
    del raw
    check_finite(sd, path)  # official checkpoints carry no digest: a damaged one shows here
    variant = variant_name(setting, backbone_of(detect_variant(sd)))
    if (setting is Setting.AVSS) != variant.startswith("avss"):
        raise AVSError(f"{path.name} does not hold a {setting.value.upper()} model")
    avs = load_into(AVSModel(variant), sd, source=str(path))
    del sd
    audio = load_vggish(options.vggish)
    info = SystemInfo(setting, "official", variant, file_hash(path), str(path))
    return AVSSystem(audio, avs, info), {"variant": variant}


def _switch_setting(system: AVSSystem, config: dict, setting: Setting
                    ) -> tuple[AVSSystem, dict, list[str]]:
    """Start training of ``setting`` from a model of another setting (the official MS3
    script's ``--load_s4_params`` generalised), or with architecture options added to the
    demo model's ``config``: a fresh system for ``setting`` and ``config`` receives every
    weight whose name and shape match.  S4 and MS3 share all of
    them; towards or from AVSS the output layer (1 vs 71 classes) and the audio projection's
    bias (absent in AVSS) stay freshly initialised.  Returns the names left untransferred."""
    from avs_studio.model.system import SystemInfo

    if system.info.arch == "official":
        from avs_studio.model import backbone_of, build, build_vggish, variant_name

        config = {**config, "variant": variant_name(setting, backbone_of(config["variant"]))}
        fresh = AVSSystem(build_vggish(), build(config["variant"]),
                          SystemInfo(setting, "official", config["variant"]))
    else:
        from avs_studio.model.demo_model import build_demo_system

        fresh = build_demo_system(setting, config)
    left: list[str] = []
    for part in ("audio_encoder", "avs"):
        source = getattr(system, part).state_dict()
        target = getattr(fresh, part).state_dict()
        for key, value in target.items():
            if key in source and source[key].shape == value.shape:
                value.copy_(source[key])
            else:
                left.append(f"{part}.{key}")
    return fresh, config, left


def _lr_at(options: TrainOptions, base: float, step: int, total: int, arch: str) -> float:
    schedule = options.schedule
    if schedule == "auto":
        schedule = "constant" if arch == "official" else "cosine"
    if schedule == "constant" or total <= 0:
        return base
    warm = min(100, total // 20)
    if step < warm:
        return base * (step + 1) / warm
    return base * 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


def _check_outputs(out: Path, paths: dict[str, Path], resume: bool, overwrite: bool) -> None:
    exists = [p for p in (out, paths["state"]) if p.exists()]
    if resume:
        if not paths["state"].exists():
            if out.exists():
                raise AVSError(f"{out} is a finished training run: nothing to resume (use "
                               "--overwrite to train again, or --init to fine-tune from it)")
            raise AVSError(f"nothing to resume: {paths['state']} does not exist")
        return
    if exists and not overwrite:
        raise AVSError(f"{exists[0]} already exists; use --resume to continue an interrupted "
                       "run or --overwrite to start again")
    if overwrite:
        for p in paths.values():
            if p.exists():
                p.unlink()
        if out.exists():
            out.unlink()


def _load_state(path: Path) -> dict:
    from avs_studio.model.checkpoint import read_checkpoint_object

    state = read_checkpoint_object(path)
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise AVSError(f"{path} is not an AVS Studio training state")
    if state.get("version") != STATE_VERSION:
        raise AVSError(f"{path}: training state version {state.get('version')} is not supported")
    return state


def _write_logs(paths: dict[str, Path], history: list[dict], meta: dict) -> None:
    cols = ["epoch", "loss", "seg", "avm", "lr", "val_miou", "val_fscore", "best", "wall_s",
            "cpu_s"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in cols})
    atomic_write_text(paths["csv"], buf.getvalue())
    atomic_write_text(paths["json"], json.dumps({**meta, "epochs": history}, indent=1) + "\n")


def _open_clips(dataset: str | os.PathLike[str], options: TrainOptions
                ) -> tuple[list[Clip], list[Clip]]:
    from avs_studio.core.datasets import open_dataset

    ds = open_dataset(dataset, options.setting)
    splits = [s.strip() for s in options.train_split.split(",") if s.strip()]
    train_clips = [c for s in splits for c in ds.clips(s) if c.annotated]
    if options.max_clips is not None:
        train_clips = train_clips[:options.max_clips]
    if not train_clips:
        raise AVSError(f"{dataset}: no annotated {options.setting.value.upper()} clips in split(s) "
                       f"{', '.join(splits)}")
    val_clips: list[Clip] = []
    if options.val_split and options.val_split != "none":
        t = options.setting.frames_per_clip
        val_clips = [c for c in ds.clips(options.val_split)
                     if len(c.annotated) >= min(c.num_frames, t)]
    return train_clips, val_clips


def train(dataset: str | os.PathLike[str], out: str | os.PathLike[str], options: TrainOptions,
          *, resume: bool = False, overwrite: bool = False, progress: Progress = no_progress,
          cancel: CancelToken | None = None, log: Callable[[str], None] | None = None,
          command: str = "") -> TrainResult:
    """Train (or fine-tune) on the ``train_split`` clips of ``dataset``; write ``out``.

    ``out`` is an AVS Studio model file (the best epoch on ``val_split``, or the last epoch
    without validation clips) that :func:`~avs_studio.model.model_files.load_system` reads.
    Beside it: ``<stem>.resume.pt`` (the last completed epoch: weights, optimizer, history;
    removed when the run finishes) and ``<stem>.log.csv`` / ``<stem>.log.json``.  ``out``
    must not exist unless ``resume`` (continue from the state file, up to ``epochs``) or
    ``overwrite``.  A cancel request stops within one batch; the files of the last
    completed epoch stay.  Deterministic per ``seed`` for a given thread count.
    """
    out = Path(out)
    options.setting = Setting.parse(options.setting)
    if options.epochs < 1 or options.batch_clips < 1:
        raise AVSError("--epochs and --batch-clips must be at least 1")
    paths = side_paths(out)
    _check_outputs(out, paths, resume, overwrite)
    if not out.parent.is_dir():
        raise AVSError(f"{out.parent} is not a folder")
    old_threads = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(int(options.threads))
    try:
        return _train(dataset, out, paths, options, resume, progress, cancel, log, command)
    finally:
        torch.set_num_threads(old_threads)


def _train(dataset, out: Path, paths: dict[str, Path], options: TrainOptions, resume: bool,
           progress: Progress, cancel: CancelToken | None, log, command: str) -> TrainResult:
    from avs_studio.model.demo_model import DemoAVSModel, count_parameters

    say = log or (lambda _msg: None)
    setting = options.setting
    wall0, cpu0 = time.perf_counter(), time.process_time()
    state = _load_state(paths["state"]) if resume else None
    if state is not None:
        if state.get("setting") != setting.value:
            raise AVSError(f"{paths['state']} is a {state.get('setting')} run, not {setting.value}")
        saved = state.get("options", {})
        options.init = saved.get("init", options.init)
        options.vggish = options.vggish or saved.get("vggish")
        options.demo_config = saved.get("demo_config", options.demo_config)
        options.seed = saved.get("seed", options.seed)

    train_clips, val_clips = _open_clips(dataset, options)
    torch.manual_seed(options.seed)
    system, config = _init_system(options)
    # Fine-tuning an AVS Studio model: its card goes into the new one (the model's lineage).
    init_card = copy.deepcopy(system.info.extra.get("card")) or None
    arch = system.info.arch
    fresh = system.info.extra.get("fresh_tensors")
    if fresh and state is None:
        say(f"initialised from {options.init}; {len(fresh)} tensors of the "
            f"{setting.value.upper()} model start fresh: {', '.join(fresh[:4])}")
    frozen_audio = arch == "official"
    if frozen_audio:
        system.audio_encoder.requires_grad_(False)
    params = [p for p in system.parameters() if p.requires_grad]
    base_lr = options.lr or (FINETUNE_LR if arch == "official" else DEMO_LR)
    optimizer = torch.optim.Adam(params, lr=base_lr)
    history: list[dict] = []
    best_miou: float | None = None
    best_epoch = 0
    start_epoch = 0
    prior_wall = prior_cpu = 0.0
    if state is not None:
        system.audio_encoder.load_state_dict(state["audio_encoder"])
        system.avs.load_state_dict(state["avs"])
        optimizer.load_state_dict(state["optimizer"])
        history = list(state.get("history", []))
        best_miou = state.get("best_miou")
        best_epoch = int(state.get("best_epoch", 0))
        start_epoch = int(state["epoch"])
        prior_wall, prior_cpu = float(state.get("wall_s", 0)), float(state.get("cpu_s", 0))
        say(f"resuming after epoch {start_epoch} of {options.epochs}")
    cache = ClipCache(options.cache_bytes)
    decode_subset = isinstance(system.avs, DemoAVSModel)
    n_batches = math.ceil(len(train_clips) / options.batch_clips)
    n_val = math.ceil(len(val_clips) / options.batch_clips)
    total_steps = options.epochs * n_batches
    done_units = 0
    units = (options.epochs - start_epoch) * (n_batches + n_val)
    params_count = count_parameters(system)
    meta = {"dataset": str(dataset), "out": str(out), "command": command,
            "options": options.to_json(), "arch": arch, "config": config,
            "parameters": params_count, "train_clips": len(train_clips),
            "val_clips": len(val_clips), "init_card": init_card}
    cancelled = False
    epochs_done = start_epoch
    progress(0, units, "")

    def elapsed() -> tuple[float, float]:
        return (prior_wall + time.perf_counter() - wall0, prior_cpu + time.process_time() - cpu0)

    for epoch in range(start_epoch, options.epochs):
        system.train()
        if frozen_audio:
            system.audio_encoder.eval()
        rng = np.random.default_rng([options.seed, epoch])
        order = rng.permutation(len(train_clips))
        flips = rng.random(len(train_clips)) < 0.5
        run_loss = run_seg = run_avm = 0.0
        seen = 0
        for b in range(n_batches):
            if cancel is not None and cancel.cancelled:
                cancelled = True
                break
            idx = order[b * options.batch_clips:(b + 1) * options.batch_clips]
            items = [cache.get(train_clips[i]) for i in idx]
            batch = make_batch(items, setting, [bool(flips[i]) for i in idx]
                               if options.augment else None)
            lr = _lr_at(options, base_lr, epoch * n_batches + b, total_steps, arch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, parts = _train_step(system, batch, setting, options, decode_subset,
                                      frozen_audio)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            run_loss += float(loss.detach()) * len(idx)
            run_seg += parts["seg"] * len(idx)
            run_avm += parts["avm"] * len(idx)
            seen += len(idx)
            done_units += 1
            progress(done_units, units, f"ep {epoch + 1}/{options.epochs} loss {run_loss / seen:.4f}")
        if cancelled:
            break
        row: dict[str, Any] = {"epoch": epoch + 1, "loss": run_loss / max(seen, 1),
                               "seg": run_seg / max(seen, 1), "avm": run_avm / max(seen, 1),
                               "lr": lr, "val_miou": None, "val_fscore": None}
        if val_clips:
            base_units = done_units

            def val_progress(done, total, message="", _base=base_units, _e=epoch):
                progress(_base + math.ceil(done / options.batch_clips), units,
                         f"ep {_e + 1}/{options.epochs} validating")
            try:
                ev = evaluate_system(system, val_clips, batch_clips=options.batch_clips,
                                     cache=cache, progress=val_progress, cancel=cancel)
            except AVSError:
                if cancel is not None and cancel.cancelled:
                    cancelled = True
                    break
                raise
            done_units = base_units + n_val
            row["val_miou"], row["val_fscore"] = ev["miou"], ev["fscore"]
        improved = not val_clips or best_miou is None or row["val_miou"] > best_miou
        if improved:
            best_miou, best_epoch = row["val_miou"], epoch + 1
        row["best"] = improved
        wall, cpu = elapsed()
        row["wall_s"], row["cpu_s"] = round(wall, 1), round(cpu, 1)
        history.append(row)
        epochs_done = epoch + 1
        if improved:
            card = _card(meta, history, best_epoch, best_miou, wall, cpu, options)
            save_system(out, system, config=config, card=card)
        _save_state(paths["state"], system, optimizer, epochs_done, best_miou, best_epoch,
                    history, options, setting, arch, config, wall, cpu)
        _write_logs(paths, history, {**meta, "best_epoch": best_epoch, "best_val_miou": best_miou})
        val = "" if row["val_miou"] is None else \
            f", val mIoU {row['val_miou']:.4f} F {row['val_fscore']:.4f}"
        say(f"epoch {epoch + 1}/{options.epochs}: loss {row['loss']:.4f} (seg {row['seg']:.4f}, "
            f"avm {row['avm']:.4f}){val}{' *' if improved else ''} [{wall:.0f} s]")
    wall, cpu = elapsed()
    if not cancelled and epochs_done == options.epochs:
        _write_logs(paths, history, {**meta, "best_epoch": best_epoch, "best_val_miou": best_miou,
                                     "wall_s": round(wall, 1), "cpu_s": round(cpu, 1)})
        # the card of the kept model gets the whole run's time
        if out.exists():
            update_card(out, {"train_wall_s": round(wall, 1), "train_cpu_s": round(cpu, 1),
                              "epochs_run": epochs_done})
        if paths["state"].exists():
            paths["state"].unlink()
    return TrainResult(out, epochs_done, best_epoch, best_miou, history, cancelled, wall, cpu,
                       len(train_clips), len(val_clips))


def _train_step(system: AVSSystem, batch: Batch, setting: Setting, options: TrainOptions,
                decode_subset: bool, frozen_audio: bool) -> tuple[torch.Tensor, dict]:
    """One forward pass and the loss (the caller steps the optimizer)."""
    if frozen_audio:
        with torch.no_grad():
            audio = system.encode_audio(batch.log_mel)
    else:
        audio = system.encode_audio(batch.log_mel)
    avss = setting is Setting.AVSS
    if avss:
        audio = audio * batch.vid_flags.view(-1, 1)  # the official loop zeroes padded audio
    args = (batch.frames, audio, batch.vid_flags) if avss else (batch.frames, audio)
    gt, gt_flags = batch.gt, batch.gt_flags
    if decode_subset and (setting is Setting.S4 or avss):
        # Only frames the loss reads need the decoder (S4: frame 0; AVSS: flagged frames).
        keep = gt_flags.nonzero().flatten()
        logits, feats, a_feas = system.avs(*args, decode=keep)
        c = feats[0].shape[1]
        feats = [f.index_select(0, keep) for f in feats]
        a_feas = [a.reshape(-1, c).index_select(0, keep) for a in a_feas]
        gt, gt_flags = gt.index_select(0, keep), gt_flags.index_select(0, keep)
    else:
        logits, feats, a_feas = system.avs(*args)
    return setting_loss(setting, logits, feats, a_feas, gt, gt_flags,
                        lambda_avm=options.lambda_avm)


def _card(meta: dict, history: list[dict], best_epoch: int, best_miou: float | None,
          wall: float, cpu: float, options: TrainOptions) -> dict:
    last = history[-1]
    return {
        "trained_with": "avs-studio train",
        "command": meta["command"],
        "dataset": meta["dataset"],
        "train_clips": meta["train_clips"],
        "val_clips": meta["val_clips"],
        "init": options.init,
        "seed": options.seed,
        "epochs_planned": options.epochs,
        "epoch": best_epoch,
        "val_miou": best_miou,
        "val_fscore": last.get("val_fscore"),
        "parameters": meta["parameters"],
        "train_wall_s": round(wall, 1),
        "train_cpu_s": round(cpu, 1),
        **({"init_card": meta["init_card"]} if meta.get("init_card") else {}),
    }


def _save_state(path: Path, system: AVSSystem, optimizer, epoch: int, best_miou, best_epoch,
                history, options: TrainOptions, setting: Setting, arch: str, config: dict,
                wall: float, cpu: float) -> None:
    payload = {
        "format": STATE_FORMAT, "version": STATE_VERSION, "setting": setting.value, "arch": arch,
        "config": config, "epoch": epoch, "best_miou": best_miou, "best_epoch": best_epoch,
        "history": history, "options": options.to_json(), "wall_s": wall, "cpu_s": cpu,
        "audio_encoder": {k: v.detach().cpu() for k, v in system.audio_encoder.state_dict().items()},
        "avs": {k: v.detach().cpu() for k, v in system.avs.state_dict().items()},
        "optimizer": optimizer.state_dict(),
    }
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)


def update_card(path: str | os.PathLike[str], updates: dict) -> None:
    """Merge ``updates`` into the ``card`` of an AVS Studio model file (rewritten atomically)."""
    from avs_studio.model.checkpoint import read_checkpoint_object
    from avs_studio.model.model_files import is_studio_file

    path = Path(path)
    raw = read_checkpoint_object(path)
    if not is_studio_file(raw):
        raise AVSError(f"{path} is not an AVS Studio model file")
    raw["card"] = {**raw.get("card", {}), **updates}
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(raw, tmp)
