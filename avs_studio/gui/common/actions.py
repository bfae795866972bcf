"""What the annotator and the review window share: actions bound from a shortcut table, their
shortcut sheet, and errors a user can cause shown as messages while the window carries on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QMessageBox, QTextBrowser, QVBoxLayout

from avs_studio.core.errors import AVSError
from avs_studio.gui.common.shortcuts import Shortcut


class ActionsMixin:
    """For a ``QMainWindow``: ``shortcuts_by_id`` names its commands, ``error_title`` titles
    its error messages."""

    shortcuts_by_id: dict[str, Shortcut] = {}
    error_title = "AVS Studio"

    def show_error(self, message: str, title: str | None = None) -> None:
        """Tell the user what went wrong; the window carries on as it was."""
        title = title or self.error_title
        self.statusBar().showMessage(message.splitlines()[0] if message else title, 10000)
        QMessageBox.warning(self, title, message)

    def _guarded(self, fn: Callable[[], Any]) -> Any:
        """Run a user action; an AVSError or OSError becomes a message, never a dead window."""
        try:
            return fn()
        except AVSError as exc:
            self.show_error(str(exc))
        except OSError as exc:
            self.show_error(f"{exc.filename or ''}: {exc.strerror or exc}".strip(": "))
        return None

    def _show_sheet(self, title: str, html: str, size: tuple[int, int]) -> None:
        """Show a shortcut sheet in a non-modal dialog (kept as ``shortcuts_view``)."""
        dlg = QDialog(self)
        dlg.setWindowTitle(title)
        dlg.resize(*size)
        view = QTextBrowser(dlg)
        view.setHtml(html)
        lay = QVBoxLayout(dlg)
        lay.addWidget(view)
        dlg.show()
        self._shortcuts_dialog, self.shortcuts_view = dlg, view

    def _action(self, sid: str, slot: Callable[..., Any], *, icon_name: str = "",
                checkable: bool = False) -> QAction:
        """Bind command ``sid``: ``slot()`` when triggered (guarded), or ``slot(checked)``
        when a checkable action is toggled. Kept in ``actions_by_id``."""
        act = self.shortcuts_by_id[sid].action(self, icon_name=icon_name, checkable=checkable)
        if checkable:
            act.toggled.connect(slot)
        else:
            act.triggered.connect(lambda _=False: self._guarded(slot))
        self.addAction(act)
        self.actions_by_id[sid] = act
        return act
