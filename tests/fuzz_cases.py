"""The seeded corpus of the fuzz suite: healthy demo inputs (:class:`Base`) and, family by
family, a damaged copy and the command that reads it (:class:`CaseMaker`)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from fuzz_mutations import (
    HOSTILE_VALUES,
    byte_mutation,
    csv_mutation,
    flip_bits,
    jpeg_bytes,
    json_mutation,
    link_tree,
    png_bomb,
    replace_file,
    special,
    wav_header,
)
from fuzzing import REPO, Case

# =========================================================================== the base data


class Base:
    """The healthy inputs every mutation starts from, built once (seeded, small)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.s4 = self.data / "Single-source"
        self.ms3 = self.data / "Multi-sources"
        self.avss = self.data / "AVSS"
        self.project = root / "s4.avsproj"
        self.avss_project = root / "avss.avsproj"
        self.coco = root / "s4_coco.json"
        self.avss_coco = root / "avss_coco.json"
        self.png = root / "s4_png"
        self.pred_s4 = root / "pred_s4"
        self.pred_avss = root / "pred_avss"
        self.model = root / "demo_s4.pt"
        self.listfile = root / "clips.txt"

    def build(self, *, propose: bool = True) -> Base:
        """Write everything (seconds). The prediction folders are ``propose --probs`` outputs of
        the shipped demo models, or (``propose=False``, faster) the ground truth written in the
        same layout (score maps and official PNGs), which is all the readers look at."""
        from avs_studio.cli.parser import main
        from avs_studio.core.demo.dataset import write_demo_dataset
        from avs_studio.core.project.project import Project

        if (self.root / "ready").is_file():
            return self
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        from avs_studio.model.official_io import save_logmel_pickle

        write_demo_dataset(self.data, "s4", 3, 0, size=(64, 48), log_mel_writer=save_logmel_pickle)
        write_demo_dataset(self.data, "ms3", 2, 0, size=(64, 48), log_mel_writer=save_logmel_pickle)
        write_demo_dataset(self.data, "avss", 2, 0, size=(64, 48))
        with Project.create(self.project, "s4", user="fuzz") as project:
            project.add_clips_from_dataset(self.s4)
        with Project.create(self.avss_project, "avss", user="fuzz") as project:
            project.add_clips_from_dataset(self.avss)
        quiet = io.StringIO()
        with contextlib.redirect_stderr(quiet), contextlib.redirect_stdout(quiet):
            for argv in (
                ["export", str(self.s4), "--to", "coco", str(self.coco)],
                ["export", str(self.avss), "--to", "coco", str(self.avss_coco)],
                ["export", str(self.s4), "--to", "png", str(self.png)],
                *([["propose", str(self.s4), "--out", str(self.pred_s4), "--probs", "--workers", "0"],
                   ["propose", str(self.avss), "--out", str(self.pred_avss), "--probs", "--workers", "0"]]
                  if propose else []),
            ):
                code = main(["-q", *argv])
                if code != 0:
                    raise RuntimeError(f"building the fuzz base: {argv} exited {code}: {quiet.getvalue()}")
        if not propose:
            _predictions_from_ground_truth(self.s4, self.pred_s4)
            _predictions_from_ground_truth(self.avss, self.pred_avss)
        shutil.copyfile(REPO / "models" / "demo_s4.pt", self.model)
        videos = sorted(self.s4.rglob("*.mp4"))
        self.listfile.write_text("".join(f"{v}\n" for v in videos[:2]))
        (self.root / "ready").write_text("ok")
        return self



def _predictions_from_ground_truth(root: Path, out: Path) -> None:
    """A prediction folder as ``propose --probs --format avsbench`` lays it out, holding the
    ground truth: ``scores/<clip>.npz`` and ``pred_masks/`` PNGs at 224 x 224."""
    import numpy as np

    from avs_studio.core.datasets import open_dataset
    from avs_studio.core.masks.files import write_colour_mask, write_prediction_mask
    from avs_studio.core.metrics.scores import write_binary_scores, write_score_file

    ds = open_dataset(root)
    for clip in ds.clips():
        if ds.setting.is_binary and len(clip.annotated) < clip.num_frames:
            continue  # evaluate takes clips with every mask (S4 test)
        steps = ds.setting.frames_per_clip
        gt = np.zeros((steps, 224, 224), np.uint8)
        for k in clip.annotated:
            gt[k] = clip.mask(k)
        if ds.setting.is_binary:
            write_binary_scores(out / "scores" / f"{clip.clip_id}.npz", np.where(gt > 0, 5.0, -5.0))
            folder = out / "pred_masks" / clip.category / clip.clip_id
            for k in range(steps):
                write_prediction_mask(folder / f"{clip.clip_id}_{k}.png", gt[k])
        else:
            write_score_file(out / "scores" / f"{clip.clip_id}.npz",
                             {"labels": gt, "confidence": np.full_like(gt, 255)}, "semantic-labels")
            for k in range(steps):
                write_colour_mask(out / "pred_masks" / clip.clip_id / f"{clip.clip_id}_{k}.png", gt[k])
    (out / ".propose").mkdir(parents=True, exist_ok=True)
    (out / ".propose" / "run.json").write_text(json.dumps({"format": "avs-studio-propose", "version": 1}))


class CaseMaker:
    """Makes case ``i`` of a family in its own folder under ``work`` (seeded by ``seed``, ``i``)."""

    def __init__(self, base: Base, work: Path, seed: int) -> None:
        self.base = base
        self.work = work
        self.seed = seed
        self.makers: dict[str, Callable[[Path, random.Random], Case]] = {
            "video": self.video, "wav": self.wav, "mask": self.mask, "csv": self.csv,
            "coco": self.coco, "label2idx": self.label2idx, "pickle": self.pickle,
            "checkpoint": self.checkpoint, "listfile": self.listfile, "path": self.path,
            "project": self.project, "prediction": self.prediction,
        }  # fmt: skip

    def make(self, family: str, i: int, *, slow: bool = True) -> Case:
        """Case ``i`` of ``family`` (``slow=False`` avoids the commands that load a model)."""
        rng = random.Random(f"{self.seed}/{family}/{i}")
        folder = self.work / f"{family}-{i:05d}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        self.slow = slow
        case = self.makers[family](folder, rng)
        case.cwd = folder
        return case

    # ------------------------------------------------------------------ helpers
    def _project_copy(self, folder: Path, src: Path | None = None) -> Path:
        dest = folder / "p.avsproj"
        shutil.copyfile(src or self.base.project, dest)
        return dest

    def _dataset(self, folder: Path, which: str = "s4") -> Path:
        src = {"s4": self.base.s4, "ms3": self.base.ms3, "avss": self.base.avss}[which]
        return link_tree(src, folder / "data" / src.name)

    def _dataset_command(self, rng: random.Random, ds: Path, folder: Path, setting: str,
                         reads_audio: bool = False) -> tuple[list[str], list[Path], Path | None]:  # fmt: skip
        """A command that reads a dataset: argv, outputs, project changed on success."""
        out = folder / "out"
        choices = ["export_coco", "export_png", "export_layout", "evaluate", "project_add", "check"]
        if setting == "s4":
            choices.append("report")
        if self.slow and (reads_audio or rng.random() < 0.1):
            choices += ["propose"] * (4 if reads_audio else 1)
            if reads_audio and rng.random() < 0.3:
                choices.append("train")
        kind = rng.choice(choices)
        pred = self.base.pred_s4 if setting == "s4" else self.base.pred_avss
        if kind == "export_coco":
            return ["export", str(ds), "--to", "coco", str(folder / "out.json")], [folder / "out.json"], None
        if kind == "export_png":
            return ["export", str(ds), "--to", "png", str(out)], [out], None
        if kind == "check":
            return ["check", str(ds)], [], None
        if kind == "export_layout":
            return ["export", str(ds), "--to", f"avsbench-{setting}", str(out)], [out], None
        if kind == "evaluate":
            if setting == "ms3":
                return ["export", str(ds), "--to", "png", str(out)], [out], None
            return ["evaluate", str(pred), str(ds), "--setting", setting, "--split", "all" if setting == "avss" else "test"], [], None
        if kind == "report":
            return (["report", str(pred), str(ds), "--setting", setting, "--split", "all" if setting == "avss" else "test", "--out", str(out)],
                    [out], None)  # fmt: skip
        if kind == "propose":
            return ["propose", str(ds), "--out", str(out), "--workers", "0", "--setting", setting], [out], None
        if kind == "train":
            model = folder / "m.pt"
            return (["train", str(ds), "--setting", setting, "--out", str(model), "--epochs", "1",
                     "--max-clips", "2", "--val-split", "none", "--train-split", "train,test"],
                    [model], None)  # fmt: skip
        project = self._project_copy(folder, self.base.project if setting != "avss" else self.base.avss_project)
        if setting == "ms3":
            from avs_studio.core.project.project import Project

            project.unlink()
            with Project.create(project, "ms3", user="fuzz"):
                pass
        return ["project", "add", str(project), str(ds)], [], project

    # ------------------------------------------------------------------ families
    def video(self, folder: Path, rng: random.Random) -> Case:
        src = sorted(self.base.s4.rglob("*.mp4"))[0]
        video = folder / "clip.mp4"
        data = src.read_bytes()
        kind, damaged = byte_mutation(data, rng)
        if rng.random() < 0.1:
            kind, damaged = "jpeg_as_mp4", jpeg_bytes(rng)
        video.write_bytes(damaged)
        commands = ["info", "info", "project_add", "project_add_segments"]
        if self.slow:
            commands.append("propose")
        cmd = rng.choice(commands)
        if cmd == "info":
            return Case("video", f"{kind}/info", ["info", str(video)], [video])
        if cmd == "propose":
            out = folder / "out"
            return Case("video", f"{kind}/propose", ["propose", str(video), "--out", str(out), "--setting", "s4",
                                                    "--workers", "0"], [video], [out])  # fmt: skip
        project = self._project_copy(folder)
        extra = ["--segments"] if cmd == "project_add_segments" else []
        return Case("video", f"{kind}/{cmd}", ["project", "add", str(project), str(video), *extra], [video],
                    project=project)  # fmt: skip

    def wav(self, folder: Path, rng: random.Random) -> Case:
        setting = rng.choice(["s4", "s4", "avss"])
        ds = self._dataset(folder, setting)
        wav = rng.choice(sorted(ds.rglob("*.wav")))
        data = wav.read_bytes()
        if rng.random() < 0.25:
            kind = "header"
            rate, ch, bits = rng.choice([(0, 1, 16), (16000, 0, 16), (16000, 1, 0), (16000, 1, 7),
                                         (2**31 - 1, 1, 16), (16000, 65535, 16), (16000, 1, 64)])  # fmt: skip
            damaged = wav_header(rate, ch, bits, rng.choice([0, 10, 2**31, 2**32 - 1])) + data[44:]
        else:
            kind, damaged = byte_mutation(data, rng)
        replace_file(wav, damaged)
        choice = rng.random()
        if choice < 0.3:  # the probe reads any media file
            return Case("wav", f"{kind}/info", ["info", str(wav)], [ds])
        if choice < 0.65 or not self.slow:
            # a project of the dataset exported with its media: the WAVs are read for the log-mel
            from avs_studio.core.project.project import Project

            project = folder / "p.avsproj"
            with Project.create(project, setting, user="fuzz") as p:
                p.add_clips_from_dataset(ds)
            out = folder / "out"
            argv = ["project", "export", str(project), "--to", f"avsbench-{setting}", str(out)]
            return Case("wav", f"{kind}/project_export", argv, [ds, project], [out])
        argv, outputs, project = self._dataset_command(rng, ds, folder, setting, reads_audio=True)
        return Case("wav", f"{kind}/{argv[0]}", argv, [ds], outputs, project)

    def mask(self, folder: Path, rng: random.Random) -> Case:
        setting = rng.choice(["s4", "ms3", "avss"])
        ds = self._dataset(folder, setting)
        pattern = "labels_rgb/*.png" if setting == "avss" else "gt_masks/**/*.png"
        masks = sorted(ds.glob(f"**/{pattern}")) or sorted(ds.rglob("*.png"))
        target = rng.choice(masks)
        data = target.read_bytes()
        kind = rng.choice(["bytes", "bytes", "bomb", "jpeg", "mode", "size", "offpalette", "special"])
        if kind == "bytes":
            kind, damaged = byte_mutation(data, rng)
            replace_file(target, damaged)
        elif kind == "bomb":
            replace_file(target, png_bomb(rng.choice([100_000, 20000, 1]), rng.choice([100_000, 20000, 1])))
        elif kind == "jpeg":
            replace_file(target, jpeg_bytes(rng))
        elif kind == "special":
            kind = special(target, rng)
        else:
            from PIL import Image

            img = Image.open(io.BytesIO(data))
            img.load()
            if kind == "mode":
                img = img.convert(rng.choice(["RGBA", "I;16", "F", "CMYK", "1", "LA"]))
            elif kind == "size":
                img = img.resize((rng.choice([1, 7, 300]), rng.choice([1, 5, 200])))
            else:
                import numpy as np

                arr = np.array(img.convert("RGB"))
                arr[: arr.shape[0] // 3] = (rng.randrange(256), 3, 7)
                img = Image.fromarray(arr)
            buf = io.BytesIO()
            img.save(buf, format="TIFF" if img.mode in ("F", "CMYK") else "PNG")
            replace_file(target, buf.getvalue())
        argv, outputs, project = self._dataset_command(rng, ds, folder, setting)
        return Case("mask", f"{kind}/{argv[0]}", argv, [ds], outputs, project)

    def csv(self, folder: Path, rng: random.Random) -> Case:
        setting = rng.choice(["s4", "ms3", "avss"])
        ds = self._dataset(folder, setting)
        meta = sorted(ds.glob("*.csv"))[0]
        kind, damaged = csv_mutation(meta.read_text(encoding="utf-8"), rng)
        replace_file(meta, damaged)
        argv, outputs, project = self._dataset_command(rng, ds, folder, setting)
        return Case("csv", f"{kind}/{argv[0]}", argv, [ds], outputs, project)

    def coco(self, folder: Path, rng: random.Random) -> Case:
        setting = rng.choice(["s4", "s4", "avss"])
        src = self.base.coco if setting == "s4" else self.base.avss_coco
        path = folder / "in.json"
        text = src.read_text(encoding="utf-8")
        kind = rng.choice(["json", "json", "json", "geometry", "geometry", "frame", "size", "rle"])
        if kind == "json":
            kind, damaged = json_mutation(text, rng)
        else:
            doc = json.loads(text)
            anns, images = doc["annotations"], doc["images"]
            if kind == "geometry" and anns:
                ann = rng.choice(anns)
                big = rng.choice([1e30, -1e30, 1e9, 2**31, float("nan"), float("inf"), 65, -3])
                ann["segmentation"] = rng.choice([
                    [[big, 0, 5, big, 7, 9]], [[0, 0, 5, 5]], [[1, 2, 3, "x", 5, 6]], 5, [5, 6, 7, 8, 9, 10],
                    [[big] * 8], [[0, 0, 60, 0, 60, 40, 0, 40]] * 3, [], [[]], "polygon",
                ])  # fmt: skip
            elif kind == "frame" and images:
                img = rng.choice(images)
                img["frame_index"] = rng.choice([-1, 10**9, "3", 2.5, None, [1], 2**64])
                if rng.random() < 0.3:
                    img["video"] = rng.choice(["../../x", "", "/abs", "a/b", 5, None])
            elif kind == "size" and images:
                img = rng.choice(images)
                img["width"], img["height"] = rng.choice([(100_000, 100_000), (0, 5), (-1, 48), (64.5, 48),
                                                          ("64", "48"), (2**40, 1)])  # fmt: skip
            elif kind == "rle" and anns:
                ann = rng.choice(anns)
                size = [48, 64]
                ann["segmentation"] = rng.choice([
                    {"size": size, "counts": [1, 2, "x"]}, {"size": size, "counts": [-5, 3077]},
                    {"size": size, "counts": "!!!!"}, {"size": [1e30, 5], "counts": "0"},
                    {"size": size, "counts": [3072]}, {"size": size}, {"counts": "0"},
                    {"size": size, "counts": 7}, {"size": "48x64", "counts": "0"},
                    {"size": size, "counts": [3072.5]}, {"size": [48, 64, 3], "counts": "0"},
                ])  # fmt: skip
            if rng.random() < 0.2 and anns:
                rng.choice(anns)[rng.choice(["id", "image_id", "category_id"])] = rng.choice([[1], "1", None, 1.5, {}])
            damaged = json.dumps(doc, allow_nan=True).encode()
        path.write_bytes(damaged)
        out = folder / "out"
        cmd = rng.choice(["export_png", "import", "project_import", "export_coco"])
        extra = ["--setting", setting]
        if cmd == "export_png":
            return Case("coco", f"{kind}/{cmd}", ["export", str(path), "--to", "png", str(out), *extra], [path], [out])
        if cmd == "export_coco":
            dest = folder / "out.json"
            return Case("coco", f"{kind}/{cmd}", ["export", str(path), "--to", "coco", str(dest), *extra], [path],
                        [dest])  # fmt: skip
        if cmd == "import":
            return Case("coco", f"{kind}/{cmd}", ["import", str(path), str(out), *extra], [path], [out])
        project = self._project_copy(folder, self.base.project if setting == "s4" else self.base.avss_project)
        return Case("coco", f"{kind}/{cmd}", ["project", "import", str(project), str(path), *extra], [path],
                    project=project)  # fmt: skip

    def label2idx(self, folder: Path, rng: random.Random) -> Case:
        ds = self._dataset(folder, "avss")
        target = ds / "label2idx.json"
        if rng.random() < 0.15:
            kind = special(target, rng)
        else:
            kind, damaged = json_mutation(target.read_text(encoding="utf-8"), rng)
            replace_file(target, damaged)
        argv, outputs, project = self._dataset_command(rng, ds, folder, "avss")
        return Case("label2idx", f"{kind}/{argv[0]}", argv, [ds], outputs, project)

    def pickle(self, folder: Path, rng: random.Random) -> Case:
        import pickle as pkl

        ds = self._dataset(folder, rng.choice(["s4", "ms3"]))
        setting = "s4" if ds.name == "Single-source" else "ms3"
        for wav in ds.rglob("*.wav"):  # the log-mel pickles are read only when the WAV is gone
            wav.unlink()
        target = rng.choice(sorted(ds.rglob("*.pkl")))
        data = target.read_bytes()
        kind = rng.choice(["bytes", "bytes", "hostile", "hostile", "wrong_object", "special"])
        if kind == "bytes":
            kind, damaged = byte_mutation(data, rng)
            replace_file(target, damaged)
        elif kind == "hostile":
            marker = folder / "PWNED"
            payload = rng.choice([
                b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.",
                b"cbuiltins\nexec\n(S'open(\"" + str(marker).encode() + b"\", \"w\")'\ntR.",
                b"c__builtin__\neval\n(S'1'\ntR.",
            ])  # fmt: skip
            replace_file(target, payload)
        elif kind == "wrong_object":
            replace_file(target, pkl.dumps(rng.choice([{"a": 1}, [1, 2, 3], "text", None, 1e30, [[1.0] * 64] * 96])))
        else:
            kind = special(target, rng)
        # propose reads the pickles (the WAVs are gone); only the damaged clip's split, so that
        # the run costs little when the pickle is refused before any inference
        cmd = rng.choice(["export_layout", "project_add", "propose", "propose", "propose"])
        out = folder / "out"
        if cmd == "propose":
            split = target.relative_to(ds).parts[2]  # <data>/audio_log_mel/<split>/...
            return Case("pickle", f"{kind}/propose", ["propose", str(ds), "--out", str(out), "--workers", "0",
                                                     "--setting", setting, "--split", split], [ds], [out])  # fmt: skip
        if cmd == "export_layout":
            return Case("pickle", f"{kind}/export", ["export", str(ds), "--to", f"avsbench-{setting}", str(out)],
                        [ds], [out])  # fmt: skip
        project = self._project_copy(folder)
        if setting == "ms3":
            from avs_studio.core.project.project import Project

            project.unlink()
            with Project.create(project, "ms3", user="fuzz"):
                pass
        return Case("pickle", f"{kind}/project_add", ["project", "add", str(project), str(ds)], [ds], project=project)

    def checkpoint(self, folder: Path, rng: random.Random) -> Case:
        import pickle as pkl

        model = folder / "model.pt"
        data = self.base.model.read_bytes()
        kind = rng.choice(["flip", "flip", "flip", "bytes", "csv", "hostile", "text", "special"])
        if kind == "flip":
            damaged = flip_bits(data, rng, rng.choice([1, 1, 3, 10]))
        elif kind == "bytes":
            kind, damaged = byte_mutation(data, rng)
        elif kind == "csv":
            damaged = (self.base.s4 / "s4_meta_data.csv").read_bytes()
        elif kind == "hostile":
            damaged = b"cos\nsystem\n(S'touch " + str(folder / "PWNED").encode() + b"'\ntR."
        elif kind == "text":
            damaged = pkl.dumps(rng.choice([{"format": "avs-studio-model"}, {"state_dict": {"a": 1}}, [1, 2]]))
        else:
            damaged = b""
        model.write_bytes(damaged)
        if kind == "special":
            kind = special(model, rng)
        ds = self._dataset(folder, "s4")
        out = folder / "out"
        if rng.random() < 0.7:
            argv = ["propose", str(ds), "--out", str(out), "--model", str(model), "--workers", "0"]
            outputs = [out]
        else:
            dest = folder / "trained.pt"
            argv = ["train", str(ds), "--setting", "s4", "--out", str(dest), "--init", str(model), "--epochs", "1",
                    "--max-clips", "1", "--val-split", "none"]  # fmt: skip
            outputs = [dest]
        return Case("checkpoint", f"{kind}/{argv[0]}", argv, [ds, model], outputs)

    def listfile(self, folder: Path, rng: random.Random) -> Case:
        ds = self._dataset(folder, "s4")
        videos = sorted(ds.rglob("*.mp4"))
        lines = [f"{v}" for v in videos]
        kind = rng.choice(["line", "line", "line", "bytes", "special", "relative"])
        listing = folder / "clips.txt"
        if kind == "line":
            hostile = rng.choice(["../../../../etc/passwd", "/dev/zero", "", ",,,", f"{videos[0]},-5",
                                  f"{videos[0]},1e309", f"{videos[0]},2,99", f"{videos[0]},nan,5",
                                  f"{videos[0]},0,5,holiday", "x" * 5000, str(folder), "\x00",
                                  f"{videos[0]},0,5,train,a/b", str(listing)])  # fmt: skip
            lines.insert(rng.randrange(len(lines) + 1), hostile)
            listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
        elif kind == "relative":
            listing.write_text("\n".join(os.path.relpath(v, folder) for v in videos) + "\n")
        elif kind == "bytes":
            kind, damaged = byte_mutation(("\n".join(lines) + "\n").encode(), rng)
            listing.write_bytes(damaged)
        else:
            kind = special(listing, rng)
        if self.slow and rng.random() < 0.15:
            out = folder / "out"
            return Case("listfile", f"{kind}/propose", ["propose", str(listing), "--out", str(out), "--setting",
                                                       "s4", "--workers", "0"], [ds, listing], [out])  # fmt: skip
        project = self._project_copy(folder)
        return Case("listfile", f"{kind}/project_add", ["project", "add", str(project), str(listing)], [ds, listing],
                    project=project)  # fmt: skip

    def path(self, folder: Path, rng: random.Random) -> Case:
        """Inputs and outputs that are the wrong kind of thing: FIFOs, folders, devices, missing."""
        kind = rng.choice(["project", "coco", "dataset_file", "video", "out_exists", "out_in_input",
                           "model", "pred"])  # fmt: skip
        if kind == "project":
            target = folder / "p.avsproj"
            what = special(target, rng)
            cmd = rng.choice([["project", "status", str(target)], ["project", "export", str(target), "--to", "png",
                              str(folder / "out")], ["project", "add", str(target), str(self.base.s4)],
                              ["project", "merge", str(target), str(self.base.project), str(folder / "m.avsproj")]])
            return Case("path", f"project_{what}/{cmd[1]}", cmd, [target, self.base.s4], [folder / "out",
                        folder / "m.avsproj"])  # fmt: skip
        if kind == "coco":
            target = folder / "in.json"
            what = special(target, rng)
            return Case("path", f"coco_{what}/export", ["export", str(target), "--to", "png", str(folder / "out"),
                        "--setting", "s4"], [target], [folder / "out"])  # fmt: skip
        if kind == "video":
            target = folder / "v.mp4"
            what = special(target, rng)
            return Case("path", f"video_{what}/info", ["info", str(target)], [target])
        if kind == "model":
            target = folder / "m.pt"
            what = special(target, rng)
            return Case("path", f"model_{what}/propose", ["propose", str(self.base.s4), "--out", str(folder / "out"),
                        "--model", str(target), "--workers", "0"], [target], [folder / "out"])  # fmt: skip
        if kind == "pred":
            pred = link_tree(self.base.pred_s4, folder / "pred")
            target = rng.choice(sorted(p for p in pred.rglob("*") if p.is_file()))
            what = special(target, rng)
            return Case("path", f"pred_{what}/evaluate", ["evaluate", str(pred), str(self.base.s4), "--setting", "s4",
                        "--split", "test"], [pred])  # fmt: skip
        ds = self._dataset(folder, rng.choice(["s4", "avss"]))
        setting = "s4" if ds.name == "Single-source" else "avss"
        if kind == "dataset_file":
            target = rng.choice(sorted(p for p in ds.rglob("*") if p.is_file()))
            what = special(target, rng)
            argv, outputs, project = self._dataset_command(rng, ds, folder, setting)
            return Case("path", f"dataset_{what}/{argv[0]}", argv, [ds], outputs, project)
        if kind == "out_exists":
            out = folder / "out"
            what = rng.choice(["file", "dir", "fifo"])
            # (a COCO export into an existing folder writes its annotations.json there, by design;
            # ``out.json`` below is the existing thing when the target is coco)
            if what == "file":
                out.write_text("keep me")
            elif what == "dir":
                out.mkdir()
                (out / "keep.txt").write_text("keep me")
            else:
                os.mkfifo(out)
            argv = rng.choice([["export", str(ds), "--to", "png", str(out)],
                               ["export", str(ds), "--to", "coco", str(out) + ".json"],
                               ["project", "export", str(self.base.project), "--to", "png", str(out)],
                               ["report", str(self.base.pred_s4), str(self.base.s4), "--setting", "s4", "--split",
                                "all", "--out", str(out)]])  # fmt: skip
            if argv[3] == "coco":
                out.rename(folder / "out.json") if what != "fifo" else (out.unlink(), os.mkfifo(folder / "out.json"))
                out = folder / "out.json"
            # an existing regular .json is replaced by a COCO export (atomically): not an input then
            inputs = [ds] if argv[3] == "coco" and what == "file" else [ds, out]
            return Case("path", f"out_{what}/{argv[0]}_{argv[3]}", argv, inputs)
        out = ds / "inside"
        argv = ["export", str(ds), "--to", rng.choice(["png", f"avsbench-{setting}"]), str(out)]
        return Case("path", "out_inside_input/export", argv, [], [])

    def project(self, folder: Path, rng: random.Random) -> Case:
        project = self._project_copy(folder)
        kind = rng.choice(["sql", "sql", "sql", "bytes", "flip", "special"])
        if kind == "sql":
            conn = sqlite3.connect(project, isolation_level=None)
            statements = [
                "DROP TABLE objects", "DROP TABLE history", "DROP INDEX clips_status", "DELETE FROM meta",
                "UPDATE meta SET value = 'x' WHERE key = 'labels'", "UPDATE meta SET value = 'avss' WHERE key = 'setting'",
                "PRAGMA user_version = 99", "PRAGMA application_id = 7", "UPDATE objects SET rle = x'00ff00'",
                "UPDATE objects SET label = 99", "UPDATE objects SET frame = 1000", "UPDATE objects SET rle = NULL",
                "ALTER TABLE clips DROP COLUMN comment", "UPDATE history SET command = '{'",
            ]  # fmt: skip
            column = rng.choice(["frame_times", "annotated", "files", "ordinals", "width", "height", "num_frames",
                                 "start", "seconds", "duration", "root_abs", "root_rel", "uid", "split", "status"])
            value = rng.choice(HOSTILE_VALUES)
            value = json.dumps(value) if isinstance(value, (list, dict)) else value
            choice = rng.random()
            try:
                if choice < 0.5:
                    conn.execute("PRAGMA ignore_check_constraints = ON")
                    conn.execute(f"UPDATE clips SET {column} = ? WHERE id = (SELECT min(id) FROM clips)",
                                 (value if not isinstance(value, float) or value == value else None,))
                    kind = f"sql_{column}"
                else:
                    statement = rng.choice(statements)
                    conn.execute(statement)
                    kind = "sql_" + statement.split()[0].lower()
            except (sqlite3.Error, OverflowError):
                kind = "sql_refused"
            conn.close()
        elif kind == "bytes":
            kind, damaged = byte_mutation(project.read_bytes(), rng)
            replace_file(project, damaged)
        elif kind == "flip":
            replace_file(project, flip_bits(project.read_bytes(), rng, rng.choice([1, 4, 32, 200])))
        else:
            kind = special(project, rng)
        out = folder / "out"
        choices = [
            (["project", "status", str(project)], [], None),
            (["project", "status", str(project), "--check"], [], None),
            (["project", "export", str(project), "--to", rng.choice(["coco", "png", "avsbench-s4"]),
              str(out if rng.random() < 0.7 else folder / "out.json"), "--no-media"], [out, folder / "out.json"], None),
            (["project", "import", str(project), str(self.base.coco)], [], project),
            (["project", "merge", str(project), str(self.base.project), str(folder / "m.avsproj")],
             [folder / "m.avsproj"], None),
            (["project", "relink", str(project), str(self.base.s4), str(folder)], [], project),
            (["project", "add", str(project), str(sorted(self.base.s4.rglob("*.mp4"))[0])], [], project),
            (["report", str(self.base.pred_s4), str(project), "--setting", "s4", "--split", "test", "--out", str(out)],
             [out], None),
        ]  # fmt: skip
        argv, outputs, changed = rng.choice(choices)
        allow = (0, 1, 2, 3) if "--check" in argv else (0, 2, 3)
        inputs = [] if changed else [project]
        return Case("project", f"{kind}/{argv[0]}_{argv[1]}", argv, inputs, outputs, changed, allow)

    def prediction(self, folder: Path, rng: random.Random) -> Case:
        setting = rng.choice(["s4", "avss"])
        pred = link_tree(self.base.pred_s4 if setting == "s4" else self.base.pred_avss, folder / "pred")
        kind = rng.choice(["npz_bytes", "npz_shape", "npz_values", "png", "png_size", "marker"])
        import numpy as np

        scores = sorted(pred.glob("scores/*.npz"))
        if kind == "npz_bytes" and scores:
            target = rng.choice(scores)
            kind, damaged = byte_mutation(target.read_bytes(), rng)
            replace_file(target, damaged)
        elif kind in ("npz_shape", "npz_values") and scores:
            target = rng.choice(scores)
            with np.load(target, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            key = rng.choice(sorted(k for k, v in arrays.items() if v.dtype.kind in "biuf") or sorted(arrays))
            a = arrays[key]
            if kind == "npz_shape":
                shapes = [lambda: a[:1], lambda: a.reshape(-1), lambda: a[..., :7], lambda: a.T,
                          lambda: np.zeros((2, 3, 4, 5), a.dtype), lambda: np.zeros((10, 1, 1), np.uint8)]
                try:
                    arrays[key] = rng.choice(shapes)()
                except (IndexError, ValueError):
                    arrays[key] = np.zeros((2, 3, 4, 5), np.uint8)
            else:
                try:
                    arrays[key] = a.astype(rng.choice([np.float32, np.int64, np.int8])) if rng.random() < 0.5 \
                        else np.full_like(a, 255)
                except (ValueError, TypeError):
                    arrays[key] = np.zeros(3)
            buf = io.BytesIO()
            try:
                np.savez(buf, **arrays)
            except ValueError:
                np.savez(buf, junk=np.zeros(3))
            replace_file(target, buf.getvalue())
        elif kind == "marker":
            run = pred / ".propose" / "run.json"
            kind, damaged = json_mutation(run.read_text(encoding="utf-8"), rng)
            replace_file(run, damaged)
        else:
            pngs = sorted(pred.glob("pred_masks/**/*.png"))
            target = rng.choice(pngs)
            if kind == "png_size":
                from PIL import Image

                buf = io.BytesIO()
                Image.new("L", (rng.choice([1, 100, 3000]), 7)).save(buf, format="PNG")
                replace_file(target, buf.getvalue())
            else:
                kind, damaged = byte_mutation(target.read_bytes(), rng)
                replace_file(target, damaged)
            if rng.random() < 0.5:  # make the PNG masks the predictions evaluate reads
                shutil.rmtree(pred / "scores", ignore_errors=True)
        gt = self.base.s4 if setting == "s4" else self.base.avss
        out = folder / "out"
        if setting == "s4" and rng.random() < 0.4:
            argv = ["report", str(pred), str(gt), "--setting", setting, "--split", "all" if setting == "avss" else "test", "--out", str(out)]
        else:
            argv = ["evaluate", str(pred), str(gt), "--setting", setting, "--split", "all" if setting == "avss" else "test"]
        return Case("prediction", f"{kind}/{argv[0]}", argv, [pred], [out])


