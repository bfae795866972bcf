"""The annotator's files: projects, adding clips (videos, datasets, segments), export, import,
and the model checkpoint. Each long step runs in the window's workers.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QMessageBox,
)

from avs_studio.core.errors import AVSError
from avs_studio.core.project.project import PROJECT_SUFFIX, Project
from avs_studio.core.project.records import ClipRecord
from avs_studio.gui import windows

VIDEO_FILTER = "Videos (*.mp4 *.mkv *.mov *.avi *.webm *.m4v *.mpg *.mpeg *.flv *.wmv);;All files (*)"


class FilesMixin:
    """Project files, clips to add, exports and imports (mixed into the annotator window)."""

    def new_project_dialog(self) -> None:
        """File > New Project: choose a setting and a file."""
        from PySide6.QtWidgets import QInputDialog

        setting, ok = QInputDialog.getItem(self, "New project", "Setting of the new project:",
                                           ["S4 (single source)", "MS3 (multiple sources)", "AVSS (71 classes)"],
                                           0, False)  # fmt: skip
        if not ok:
            return
        path, _ = QFileDialog.getSaveFileName(self, "New project", str(Path(self.prefs.last_folder) / f"project{PROJECT_SUFFIX}"),
                                              f"AVS Studio projects (*{PROJECT_SUFFIX})")  # fmt: skip
        if not path:
            return
        path = Path(path)
        if path.suffix != PROJECT_SUFFIX:
            path = path.with_suffix(PROJECT_SUFFIX)
        self.prefs.last_folder = str(path.parent)
        project = Project.create(path, setting.split()[0].lower(), user=self.prefs.annotator)
        self._set_project(project)

    def open_project_dialog(self) -> None:
        """File > Open Project."""
        path, _ = QFileDialog.getOpenFileName(self, "Open project", self.prefs.last_folder,
                                              f"AVS Studio projects (*{PROJECT_SUFFIX});;All files (*)")  # fmt: skip
        if path:
            self.prefs.last_folder = str(Path(path).parent)
            self.open_project(path)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.prefs.recent()
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for p in recent:
            act = self.recent_menu.addAction(Path(p).name)
            act.setToolTip(p)
            act.triggered.connect(lambda _=False, p=p: self.open_project(p))

    def open_demo(self, setting: str = "s4") -> None:
        """Build (first time only) the demo dataset and project of ``setting`` and open it."""
        from avs_studio.gui.common.demo import ensure_demo_project

        def done(path: Path) -> None:
            self.open_project(path)

        self.run_job("demo", lambda p, c: ensure_demo_project(setting, p, c), done,
                     f"Preparing the {setting.upper()} demo…")  # fmt: skip

    def create_project_from_dataset(self, folder: str | Path, *, setting=None, select: str | None = None) -> None:
        """Create a project next to an AVSBench dataset, add its clips (worker), open it.

        ``setting`` picks one of a folder holding several (no question asked); ``select``
        opens that clip once the project is open (the review's "Fix Ground Truth").
        """
        from avs_studio.core.datasets import detect_setting

        folder = Path(folder)
        found = detect_setting(folder)
        if setting is not None:  # review: the setting under review
            from avs_studio.core.setting import Setting

            found = [s for s in found if s is Setting.parse(setting)]
        if not found:
            raise AVSError(f"{folder}: not an AVSBench dataset folder")
        setting = found[0]
        if len(found) > 1:  # a folder holding several settings, like the official avsbench_data
            from PySide6.QtWidgets import QInputDialog

            names = [s.value.upper() for s in found]
            chosen, ok = QInputDialog.getItem(self, "Which setting?", f"{folder.name} holds several settings:",
                                              names, 0, False)  # fmt: skip
            if not ok:
                return
            setting = found[names.index(chosen)]
        default = folder.parent / f"{folder.name}-{setting.value}{PROJECT_SUFFIX}"
        path, _ = QFileDialog.getSaveFileName(self, "Create a project for this dataset", str(default),
                                              f"AVS Studio projects (*{PROJECT_SUFFIX})")  # fmt: skip
        if not path:
            return
        path = Path(path)

        def job(progress, cancel):
            from avs_studio.core.datasets import open_dataset

            with Project.create(path, setting, user=self.prefs.annotator) as project:
                report = project.add_clips_from_dataset(open_dataset(folder, setting), progress=progress,
                                                        cancel=cancel)  # fmt: skip
                note = leave_partial_clips_in_progress(project)
                if note:
                    report.notes.append(note)
            return report

        def done(report) -> None:
            self.open_project(path)
            self._report_adds(report)
            if select is not None and self.project is not None:  # review: the clip to fix
                self.open_clip(select)

        self.run_job("add", job, done, f"Adding the clips of {folder.name}…")

    # ------------------------------------------------------------------ review (entry points)
    def review_predictions(self) -> None:
        """File > Review Predictions: the review window, beside this annotator (its project
        offered as the ground truth)."""
        win = windows.create("review", prefs=self.prefs, annotator=self, audio_output=self._audio_output)
        self.review_window = win
        win.show()
        win.open_dialog(gt=self.project.path if self.project is not None else None)

    def open_project_at_clip(self, path: str | Path, clip_id: str) -> bool:
        """Open ``clip_id`` of the project at ``path`` (opening that project first unless it is
        the one shown); False, after a message, when the project or the clip cannot be opened."""
        path = Path(path)
        shown = self.project is not None and self.project.path.resolve() == path.resolve()
        if not shown and not self.open_project(path):
            return False
        if clip_id not in self.project:  # one indexed lookup, not a listing of every clip
            self.show_error(f"{path.name} has no clip {clip_id}")
            return False
        self.open_clip(clip_id)
        return True

    # ================================================================== adding clips, export, import
    def _require_writable(self) -> bool:
        if self.project is None:
            self.show_error("Open or create a project first")
            return False
        if self.project.readonly:
            self.show_error("The project is open read-only")
            return False
        return True

    def add_videos_dialog(self) -> None:
        """File > Add Videos."""
        if not self._require_writable():
            return
        paths, _ = QFileDialog.getOpenFileNames(self, "Add videos", self.prefs.last_folder, VIDEO_FILTER)
        if paths:
            self.prefs.last_folder = str(Path(paths[0]).parent)
            self.add_sources([Path(p) for p in paths])

    def add_folder_dialog(self) -> None:
        """File > Add Folder or Dataset."""
        if not self._require_writable():
            return
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of videos or an AVSBench dataset",
                                                  self.prefs.last_folder)  # fmt: skip
        if folder:
            self.prefs.last_folder = folder
            self.add_sources([Path(folder)])

    def add_sources(self, sources: list[Path]) -> None:
        """Add videos, folders or datasets as clips (in the background)."""
        project = self.project

        def job(progress, cancel):
            return project.add(sources, progress=progress, cancel=cancel)

        self.run_job("add", job, self._report_adds, "Adding clips…")

    def _report_adds(self, report) -> None:
        self.refresh_clip_list()
        msg = f"{report.ok} clip(s) added"
        notes = "".join(f"\n• {n}" for n in getattr(report, "notes", []))
        if report.failures:
            lines = "\n".join(f"• {f.item}: {f.error}" for f in report.failures[:12])
            self.show_error(f"{msg}; {len(report.failures)} could not be added:\n{lines}{notes}", "Adding clips")
        else:
            self.statusBar().showMessage(msg, 6000)
            if notes:
                QMessageBox.information(self, "Adding clips", msg + notes)
        if self.loaded is None and report.results:
            first = report.results[0].clip_id
            self.clip_list.set_current(first, emit=False)
            self.open_clip(first)

    def add_segment_dialog(self) -> None:
        """File > Add Segment from Long Video: pick a 5 s / 10 s segment while listening."""
        if not self._require_writable():
            return
        try:
            from avs_studio.gui.annotator.segment_picker import SegmentPickerDialog
        except ImportError:
            self.show_error("The segment picker is not available in this installation")
            return
        seconds = (5,) if self.project.setting.is_binary else (10, 5)
        if self.player is not None:
            self.player.pause()
        chosen = SegmentPickerDialog.get_segment(self, seconds=seconds, folder=self.prefs.last_folder,
                                                 output=self._audio_output)  # fmt: skip
        if chosen is None:
            return
        path, start, secs = chosen
        self.prefs.last_folder = str(Path(path).parent)
        self.add_segment(Path(path), float(start), int(secs))

    def add_segment(self, path: Path, start: float, seconds: int) -> None:
        """Add ``[start, start + seconds)`` of a video as a clip (worker) and open it."""
        project = self.project

        def job(progress, cancel):
            progress(0, 1, path.name)
            return project.add_video(path, start=start, seconds=seconds)

        def done(rec: ClipRecord) -> None:
            self.refresh_clip_list()
            self.clip_list.set_current(rec.clip_id, emit=False)
            self.open_clip(rec.clip_id)
            self.statusBar().showMessage(f"Added {rec.clip_id} ({seconds} s from {start:.2f} s)", 6000)

        self.run_job("add", job, done, f"Adding a {seconds} s segment of {path.name}…")

    def export_dialog(self) -> None:
        """File > Export: choose a format and where, then export in the background."""
        from avs_studio.gui.annotator.export_dialog import ExportDialog

        if self.project is None:
            return
        dialog = ExportDialog(self.project.setting, self.prefs.last_folder, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.export(dialog.options())

    def export(self, options) -> None:
        """Run an export (``ExportOptions``) in the background."""
        if self.jobs.busy("export"):
            self.statusBar().showMessage("An export is running already", 4000)
            return
        self.prefs.last_folder = str(options.out.parent)

        def done(summary) -> None:
            notes = "".join(f"\n• {n}" for n in summary.notes)
            self.statusBar().showMessage(summary.line(), 10000)
            if notes:  # what was left out, merged or changed; every item is named in the report
                QMessageBox.information(self, "Export", f"{summary.line()}{notes}\n\nReport: {summary.report}")

        self.run_job("export", options.job(self.project), done, f"Exporting ({options.target})…",
                     on_failed=lambda msg: self.show_error(msg, "Export failed"))  # fmt: skip

    def import_dialog(self) -> None:
        """File > Import Masks: a COCO JSON, a PNG mask folder or an AVSBench dataset."""
        if not self._require_writable():
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Import masks", "Import from a COCO JSON file or a folder "
                          "(PNG masks or an AVSBench dataset)?", parent=self)  # fmt: skip
        file_button = box.addButton("COCO JSON…", QMessageBox.ButtonRole.AcceptRole)
        folder_button = box.addButton("Folder…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        if box.clickedButton() is file_button:
            src, _ = QFileDialog.getOpenFileName(self, "Import COCO JSON", self.prefs.last_folder, "JSON (*.json)")
        elif box.clickedButton() is folder_button:
            src = QFileDialog.getExistingDirectory(self, "Import masks from", self.prefs.last_folder)
        else:
            return
        if src:
            self.import_masks(Path(src))

    def import_masks(self, src: Path) -> None:
        """Import masks (background job); each clip's import is one undoable command."""
        project = self.project
        self._finish_tools()

        def job(progress, cancel):
            return project.import_masks(src, user=self.prefs.annotator, progress=progress, cancel=cancel)

        def done(report) -> None:
            self.refresh_clip_list()
            if self.loaded is not None:
                self.selected = None
                self._after_edit(None)
            msg = report.line()
            if report.failures or report.unknown:
                extra = "".join(f"\n• {f.item}: {f.error}" for f in report.failures[:10])
                if report.unknown:
                    extra += f"\n• not in the project: {', '.join(report.unknown[:10])}"
                QMessageBox.information(self, "Import", msg + extra)
            self.statusBar().showMessage(msg, 10000)

        self.run_job("import", job, done, f"Importing {src.name}…",
                     on_failed=lambda msg: self.show_error(msg, "Import failed"))  # fmt: skip

    # ------------------------------------------------------------------ the model
    def choose_checkpoint(self) -> None:
        """Model > Choose Checkpoint: use a model file for this project's setting."""
        if self.project is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Model checkpoint", self.prefs.last_folder,
                                              "Model files (*.pt *.pth *.ckpt);;All files (*)")  # fmt: skip
        if not path:
            return
        st = self.project.setting

        def job(progress, cancel):
            from avs_studio.model.model_files import load_system

            progress(0, 0, "checking the model…")
            load_system(path, vggish=self.prefs.vggish() or None, setting=st)  # refuses a wrong variant
            return path

        def done(p: str) -> None:
            self.prefs.set_checkpoint(st.value, p)
            self.statusBar().showMessage(f"Proposals now use {Path(p).name}", 6000)

        self.run_job("model", job, done, f"Checking {Path(path).name}…",
                     on_failed=lambda msg: self.show_error(msg, "This model cannot be used"))  # fmt: skip

    def use_demo_model(self) -> None:
        """Model > Use the Demo Model: forget the configured checkpoint."""
        if self.project is not None:
            self.prefs.set_checkpoint(self.project.setting.value, "")
            self.statusBar().showMessage("Proposals use the shipped demo model", 5000)


def leave_partial_clips_in_progress(project: Project) -> str:
    """Clips made "done" from a dataset whose ground truth covers only some frames (the S4
    train clips: frame 1 of 5) go back to "in progress", with a comment saying why.

    A project made from a dataset marks the clips that carry ground truth done; a clip
    with masks in only some of its frames is not finished work, and marking it done would
    say it is. Returns a note for the user (empty when no clip was partial).
    """
    from avs_studio.core.project.edits import SetStatus

    partial = [r for r in project.clips(status="done") if len(set(r.annotated)) < r.num_frames]
    for rec in partial:
        comment = rec.comment or f"ground truth in {len(set(rec.annotated))} of {rec.num_frames} frames"
        project.session(rec.clip_id, auto_status=False).apply(SetStatus("in_progress", comment=comment))
    if not partial:
        return ""
    first = partial[0]
    return (f"{len(partial)} clip(s) have ground truth in only some of their frames (e.g. {first.clip_id}: "
            f"{len(set(first.annotated))} of {first.num_frames}, as S4 train clips): left in progress, not done")

