"""The app's look: a dark Fusion palette and one style sheet for every window."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication


def apply_theme(app: QApplication) -> None:
    """A dark Fusion theme, applied to every widget the same way."""
    app.setStyle("Fusion")
    pal = QPalette()
    base, window, text = QColor(37, 38, 42), QColor(45, 46, 51), QColor(226, 228, 232)
    for role, colour in (
        (QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, QColor(42, 43, 48)),
        (QPalette.ColorRole.ToolTipBase, QColor(30, 31, 34)), (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.Text, text), (QPalette.ColorRole.Button, QColor(54, 56, 62)),
        (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.BrightText, QColor(255, 90, 90)),
        (QPalette.ColorRole.Highlight, QColor(58, 120, 214)), (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
        (QPalette.ColorRole.Link, QColor(138, 180, 248)), (QPalette.ColorRole.PlaceholderText, QColor(130, 134, 142)),
    ):  # fmt: skip
        pal.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(110, 113, 120))
    app.setPalette(pal)
    app.setStyleSheet(STYLE)


STYLE = """
QMainWindow::separator { background: #232428; width: 3px; height: 3px; }
QDockWidget::title { background: #2a2b30; padding: 5px 8px; font-weight: 600; color: #c8cbd2; }
QToolBar { background: #2d2e33; border: none; border-bottom: 1px solid #232428; spacing: 3px; padding: 3px 6px; }
QToolBar QToolButton { border-radius: 5px; padding: 4px; }
QToolBar QToolButton:hover { background: #3a3c43; }
QToolBar QToolButton:checked { background: #3a5f9e; }
QGroupBox { border: 1px solid #3a3c43; border-radius: 6px; margin-top: 14px; padding-top: 6px; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; color: #aeb3bd; font-weight: 600; }
QTreeWidget, QListWidget, QTextBrowser { border: 1px solid #3a3c43; border-radius: 4px; }
QHeaderView::section { background: #2f3035; color: #aeb3bd; border: none; border-right: 1px solid #3a3c43; padding: 4px 6px; }
QLineEdit, QComboBox, QDoubleSpinBox { border: 1px solid #464951; border-radius: 4px; padding: 3px 6px; background: #25262a; }
QLineEdit:focus, QComboBox:focus, QDoubleSpinBox:focus { border-color: #3a78d6; }
QPushButton { border: 1px solid #50535c; border-radius: 5px; padding: 5px 12px; background: #3a3c43; }
QPushButton:hover { background: #454851; }
QPushButton:disabled { color: #6e7178; border-color: #3a3c43; }
QPushButton#primary { background: #2f7d4f; border-color: #3c9a63; color: white; font-weight: 600; }
QPushButton#primary:hover { background: #368f5a; }
QPushButton#accent { background: #3a5f9e; border-color: #4a74bb; color: white; font-weight: 600; }
QPushButton#accent:hover { background: #4270b8; }
QPushButton#primary:disabled, QPushButton#accent:disabled { background: #3a3c43; border-color: #3a3c43; color: #6e7178; }
QLabel#header { background: #26272b; color: #d5d8de; padding: 6px 10px; border-bottom: 1px solid #1e1f22; }
QLabel#muted { color: #9299a5; }
QLabel#placeholder { color: #9299a5; font-size: 14px; }
QStatusBar { background: #26272b; color: #aeb3bd; }
QSlider::groove:horizontal { height: 4px; background: #4a4d55; border-radius: 2px; }
QSlider::handle:horizontal { background: #8ab4f8; width: 12px; margin: -5px 0; border-radius: 6px; }
QSlider::sub-page:horizontal { background: #3a78d6; border-radius: 2px; }
QProgressBar { border: 1px solid #464951; border-radius: 4px; text-align: center; height: 14px; background: #25262a; }
QProgressBar::chunk { background: #3a78d6; border-radius: 3px; }
QToolTip { border: 1px solid #464951; padding: 4px; }
"""
