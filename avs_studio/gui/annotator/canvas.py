"""The frame view: a frame, its objects' overlays, tools, zoom and pan.

Layers, bottom to top: the frame; the fills of all visible objects but the selected one
(one premultiplied image); the selected object's fill (its own image, which the brush and
the eraser paint into while a stroke is in progress, so a mouse move repaints only the
stroke's dirty rectangle); vector outlines (dashed for proposals, thick for the selected
object) and tags with the label and a proposal's confidence; the tool's own items.

Scene coordinates are image pixels: pixel (row r, column c) covers ``[c, c+1) x [r, r+1)``,
so its centre, which the core calls ``(x, y) = (c, r)``, is at scene ``(c + 0.5, r + 0.5)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QStyleOptionGraphicsItem,
)

from avs_studio.gui.common.qimage import (
    FillLayer,
    mask_box,
    mask_contours,
    mask_rgba,
    paint_fills,
    qcolor,
    rgb_to_qimage,
    rgba_to_qimage,
)

BACKGROUND = QColor(30, 31, 34)
SELECTED_OUTLINE = QColor(255, 214, 10)
SILENT_OUTLINE = QColor(190, 190, 200, 230)
MIN_ZOOM, MAX_ZOOM = 0.05, 40.0


@dataclass
class CanvasObject:
    """What the canvas needs to draw one object of the current frame."""

    instance_id: int
    label: int
    name: str
    mask: np.ndarray
    colour: tuple[int, int, int]
    proposal: bool = False
    confidence: float | None = None
    visible: bool = True
    box: tuple[int, int, int, int] | None = field(default=None, repr=False)
    sounding: bool = True  # False: silent in this frame, drawn dimmed with a dotted outline
    locked: bool = False  # the tools leave its pixels alone

    def bounds(self) -> tuple[int, int, int, int] | None:
        """``(top, left, bottom, right)`` of the mask (cached)."""
        if self.box is None:
            self.box = mask_box(self.mask) or (0, 0, 0, 0)
        return None if self.box == (0, 0, 0, 0) else self.box


class ImageItem(QGraphicsItem):
    """Draws a QImage at scene scale, repainting only the exposed part."""

    def __init__(self, z: float = 0.0) -> None:
        super().__init__()
        self._image = QImage()
        self._buffer: np.ndarray | None = None
        self.smooth = False
        self.setZValue(z)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        # Rendered once per zoom level at screen resolution: a repaint (a brush move) then
        # copies pixels instead of rescaling a 1080p image; update(rect) refreshes only rect.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def set_image(self, image: QImage, buffer: np.ndarray | None = None) -> None:
        """Show ``image``; ``buffer`` is the numpy array it wraps (kept alive with it)."""
        if image.size() != self._image.size():
            self.prepareGeometryChange()
        self._image, self._buffer = image, buffer
        self.update()

    @property
    def image(self) -> QImage:
        """The image shown (paint into it, then call :meth:`update` with the dirty rect)."""
        return self._image

    @property
    def buffer(self) -> np.ndarray | None:
        """The numpy array behind :attr:`image`, when it wraps one."""
        return self._buffer

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._image.width(), self._image.height())

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        if self._image.isNull():
            return
        r = option.exposedRect.intersected(self.boundingRect())
        if r.isEmpty():
            return
        if self.smooth:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(r, self._image, r)


class TagItem(QGraphicsItem):
    """A small label (class name, proposal confidence) that keeps its size when zooming."""

    def __init__(self, text: str, colour: QColor, *, dashed: bool = False) -> None:
        super().__init__()
        self.text, self.colour, self.dashed = text, colour, dashed
        self.font = QFont()
        self.font.setPointSizeF(8.5)
        self.font.setBold(True)
        fm = QFontMetricsF(self.font)
        self._rect = QRectF(0, -fm.height() - 4, fm.horizontalAdvance(text) + 10, fm.height() + 4)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setZValue(6)

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        fill = QColor(self.colour)
        fill.setAlpha(215)
        pen = QPen(QColor(255, 255, 255, 220), 1, Qt.PenStyle.DashLine if self.dashed else Qt.PenStyle.SolidLine)
        painter.setPen(pen)
        painter.setBrush(QColor(20, 20, 24, 200) if self.dashed else fill)
        painter.drawRoundedRect(self._rect, 3, 3)
        light = (fill.red() * 299 + fill.green() * 587 + fill.blue() * 114) / 1000 > 150
        painter.setPen(Qt.GlobalColor.white if self.dashed or not light else Qt.GlobalColor.black)
        painter.setFont(self.font)
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self.text)


def base_layer_key(shape: tuple[int, int], layers: list[FillLayer], alpha: int) -> tuple:
    """What a base layer's pixels depend on (the masks by identity: cached masks are shared)."""
    return (shape[1], shape[0], alpha, tuple((id(f.mask), f.colour, f.hatched, f.dimmed) for f in layers))


def render_base_layer(shape: tuple[int, int], layers: list[FillLayer], alpha: int) -> tuple:
    """``(BGRA buffer, masks)`` of a base layer; the masks are kept so their ids stay theirs."""
    h, w = shape
    return paint_fills(np.zeros((h, w, 4), dtype=np.uint8), layers, alpha), [f.mask for f in layers]


def outline_path(mask: np.ndarray, box: tuple[int, int, int, int] | None) -> QPainterPath:
    """A mask's outer and hole boundaries as one path through pixel centres."""
    path = QPainterPath()
    for contour in mask_contours(mask, box):
        if len(contour) < 2:
            continue
        pts = contour + 0.5
        path.moveTo(QPointF(*pts[0]))
        for x, y in pts[1:]:
            path.lineTo(QPointF(x, y))
        path.closeSubpath()
    return path


@dataclass
class Prerendered:
    """Base layers and outlines drawn ahead of time for a clip's frames (see ``adopt``)."""

    layers: list[tuple[tuple, tuple]] = field(default_factory=list)
    paths: list[tuple[np.ndarray, QPainterPath]] = field(default_factory=list)


class _LRU:
    """A small least-recently-used cache."""

    def __init__(self, size: int) -> None:
        from collections import OrderedDict

        self.size = size
        self._items: OrderedDict = OrderedDict()

    def get(self, key):
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key, value) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


class FrameCanvas(QGraphicsView):
    """Shows one frame with its objects; routes pointer input to the current tool."""

    #: Pointer position in image pixels (x, y) as it moves.
    cursorMoved = Signal(float, float)
    #: The zoom factor (view pixels per image pixel) after it changed.
    zoomChanged = Signal(float)
    #: Space was pressed and released without panning (the window toggles playback).
    spaceTapped = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(BACKGROUND)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._frame_item = ImageItem(0)
        self._base_item = ImageItem(1)
        self._active_item = ImageItem(2)
        for item in (self._frame_item, self._base_item, self._active_item):
            self.scene().addItem(item)
        self._cursor_item = QGraphicsEllipseItem()
        pen = QPen(QColor(255, 255, 255), 1.5)
        pen.setCosmetic(True)
        self._cursor_item.setPen(pen)
        self._cursor_item.setZValue(20)
        self._cursor_item.setVisible(False)
        self.scene().addItem(self._cursor_item)
        self._cursor_shadow = QGraphicsEllipseItem(self._cursor_item)
        shadow = QPen(QColor(0, 0, 0, 160), 3)
        shadow.setCosmetic(True)
        self._cursor_shadow.setPen(shadow)
        self._cursor_shadow.setFlag(QGraphicsItem.GraphicsItemFlag.ItemStacksBehindParent, True)
        self._outline_items: list[QGraphicsItem] = []
        self._objects: list[CanvasObject] = []
        self._selected: int | None = None
        self._opacity = 0.5
        self._show_objects = True
        self._binary = True
        self._fit = True
        self._tool = None
        self._brush_radius: float | None = None
        self._pan_from: QPointF | None = None
        self._space_down = False
        self._space_used = False
        self._painter: QPainter | None = None
        self._paint_erase = False
        self._mask: np.ndarray | None = None  # the dataset browser's single mask
        self._base_cache = _LRU(10)
        self._path_cache = _LRU(64)
        self.pan_with_left = False  # the dataset browser pans with the left button
        self.wheel_zooms = False  # without Ctrl; the annotator scrolls, the browser zooms

    # ------------------------------------------------------------------ the frame
    def set_image(self, image: QImage | np.ndarray | None) -> None:
        """Show a frame (a QImage, or an RGB array)."""
        if image is None:
            self._frame_item.set_image(QImage())
            return
        if isinstance(image, np.ndarray):
            image = rgb_to_qimage(image)
        size_changed = image.size() != self._frame_item.image.size()
        self._frame_item.set_image(image)
        if size_changed:
            self.scene().setSceneRect(QRectF(0, 0, image.width(), image.height()))
            if self._fit:
                self.fit()
        self._update_smoothing()

    @property
    def image_size(self) -> tuple[int, int]:
        """``(width, height)`` of the frame shown."""
        return self._frame_item.image.width(), self._frame_item.image.height()

    def frame_image(self) -> QImage:
        """The frame shown."""
        return self._frame_item.image

    def overlay_images(self) -> list[QImage]:
        """The fill layers shown over the frame (for the minimap), bottom first."""
        if not self._show_objects:
            return []
        return [i.image for i in (self._base_item, self._active_item) if not i.image.isNull()]

    # ------------------------------------------------------------------ objects
    def set_objects(self, objects: list[CanvasObject], selected: int | None = None, *, binary: bool = True) -> None:
        """Draw these objects (masks at the frame's size); ``selected`` is highlighted."""
        self._objects = list(objects)
        self._selected = selected
        self._binary = binary
        self._render()

    @property
    def objects(self) -> list[CanvasObject]:
        """The objects drawn."""
        return list(self._objects)

    @property
    def selected(self) -> int | None:
        """Instance id of the highlighted object."""
        return self._selected

    def set_selected(self, instance_id: int | None) -> None:
        """Highlight one object (or none)."""
        if instance_id != self._selected:
            self._selected = instance_id
            self._render()

    def preview_mask(self, instance_id: int, mask: np.ndarray) -> None:
        """Show ``mask`` for one object without changing the project (threshold preview)."""
        for obj in self._objects:
            if obj.instance_id == instance_id:
                obj.mask, obj.box = mask, None
        self._render()

    def object_at(self, x: float, y: float) -> int | None:
        """The topmost visible object covering image pixel centre ``(x, y)``."""
        c, r = int(round(x)), int(round(y))
        for obj in reversed(self._objects):
            if not obj.visible:
                continue
            h, w = obj.mask.shape[:2]
            if 0 <= r < h and 0 <= c < w and obj.mask[r, c]:
                return obj.instance_id
        return None

    @property
    def opacity(self) -> float:
        """Fill opacity of the overlays."""
        return self._opacity

    def set_opacity(self, value: float) -> None:
        """Fill opacity in [0, 1] (outlines stay opaque)."""
        self._opacity = min(1.0, max(0.0, float(value)))
        if self._mask is not None:
            self._render_mask()
        else:
            self._render()

    def set_objects_visible(self, visible: bool) -> None:
        """Show or hide every overlay (objects, outlines, tags)."""
        self._show_objects = bool(visible)
        for item in (self._base_item, self._active_item, *self._outline_items):
            item.setVisible(visible)

    set_mask_visible = set_objects_visible  # the dataset browser's name

    @property
    def objects_visible(self) -> bool:
        """False while overlays are hidden."""
        return self._show_objects

    def _alpha(self) -> int:
        return int(round(255 * self._opacity))

    @property
    def layer_alpha(self) -> int:
        """The fill alpha (0-255) of unselected objects at the current opacity."""
        return self._alpha()

    def _render(self) -> None:
        """Rebuild both fill layers and the outlines from :attr:`_objects`."""
        self._end_paint()
        w, h = self.image_size
        if w == 0 or h == 0:
            return
        alpha = self._alpha()
        layers, chosen = [], []
        for obj in self._objects:
            if not obj.visible or obj.mask.shape[:2] != (h, w):
                continue
            layer = FillLayer(obj.mask, obj.colour, obj.proposal, obj.bounds(), dimmed=not obj.sounding)
            (chosen if obj.instance_id == self._selected else layers).append(layer)
        # An empty layer costs nothing to draw: it gets a buffer only when it has content
        # (or when a stroke starts on it, see begin_paint). The base layer, which strokes
        # never touch, is kept for a few object sets, so stepping back to a frame is free.
        if layers:
            key = base_layer_key((h, w), layers, alpha)
            cached = self._base_cache.get(key)
            if cached is None:
                cached = render_base_layer((h, w), layers, alpha)
            self._base_cache.put(key, cached)
            self._set_layer(self._base_item, cached[0])
        else:
            self._base_item.set_image(QImage())
        if chosen:
            self._set_layer(self._active_item, paint_fills(np.zeros((h, w, 4), dtype=np.uint8), chosen,
                                                           min(255, alpha + 40)))  # fmt: skip
        else:
            self._active_item.set_image(QImage())
        self._render_outlines()

    @staticmethod
    def _set_layer(item: ImageItem, buffer: np.ndarray) -> None:
        h, w = buffer.shape[:2]
        img = QImage(buffer.data, w, h, 4 * w, QImage.Format.Format_ARGB32_Premultiplied)
        item.set_image(img, buffer)

    def _render_outlines(self) -> None:
        for item in self._outline_items:
            self.scene().removeItem(item)
        self._outline_items = []
        for obj in self._objects:
            if not obj.visible or obj.bounds() is None:
                continue
            selected = obj.instance_id == self._selected
            path = self._outline_path(obj)
            colour = SELECTED_OUTLINE if selected else QColor(255, 255, 255, 230) if obj.sounding else SILENT_OUTLINE
            pen = QPen(colour, 2.5 if selected else 1.3)
            pen.setCosmetic(True)
            if obj.proposal:
                pen.setStyle(Qt.PenStyle.DashLine)
            elif not obj.sounding:
                pen.setStyle(Qt.PenStyle.DotLine)
            item = QGraphicsPathItem(path)
            item.setPen(pen)
            item.setZValue(5 if selected else 4)
            self.scene().addItem(item)
            self._outline_items.append(item)
            tag = self._tag_text(obj)
            if tag:
                top, left, _, _ = obj.bounds()
                t = TagItem(tag, qcolor(obj.colour), dashed=obj.proposal)
                t.setPos(left, top)
                self.scene().addItem(t)
                self._outline_items.append(t)
        for item in self._outline_items:
            item.setVisible(self._show_objects)

    def _outline_path(self, obj: CanvasObject) -> QPainterPath:
        """The boundaries of an object's mask as a path through pixel centres (cached)."""
        key = id(obj.mask)
        found = self._path_cache.get(key)
        if found is not None:
            return found[0]
        path = outline_path(obj.mask, obj.bounds())
        self._path_cache.put(key, (path, obj.mask))  # the mask is kept: its id stays its own
        return path

    def adopt(self, prerendered: Prerendered) -> None:
        """Take layers and outlines drawn ahead of time (by the clip loader, in a worker)."""
        for key, value in prerendered.layers:
            self._base_cache.put(key, value)
        for mask, path in prerendered.paths:
            self._path_cache.put(id(mask), (path, mask))

    def _tag_text(self, obj: CanvasObject) -> str:
        if obj.proposal:
            conf = "" if obj.confidence is None else f" {obj.confidence:.0%}"
            text = f"proposal{conf}" if self._binary else f"{obj.name}?{conf}"
        else:
            text = "" if self._binary else obj.name
        notes = [n for n, on in (("silent", not obj.sounding), ("locked", obj.locked)) if on]
        return " · ".join([t for t in (text, *notes) if t])

    # ------------------------------------------------------------------ the dataset browser
    def set_frame(self, rgb: np.ndarray | None, mask: np.ndarray | None, *, binary: bool) -> None:
        """Show ``rgb`` with one label/binary ``mask`` (the read-only dataset browser)."""
        self._objects, self._binary = [], binary
        self._render_outlines()
        self.set_image(rgb)
        self._mask = mask
        self._render_mask()

    def _render_mask(self) -> None:
        from avs_studio.core.masks.resize import resize_nearest

        w, h = self.image_size
        self._active_item.set_image(QImage())
        if self._mask is None or w == 0:
            self._base_item.set_image(QImage())
            return
        m = self._mask
        if m.shape[:2] != (h, w):
            m = resize_nearest(m, (w, h))
        rgba = mask_rgba(m, binary=self._binary, alpha=self._alpha())
        self._base_item.set_image(rgba_to_qimage(rgba))

    @property
    def _mask_item(self) -> ImageItem:
        return self._base_item

    # ------------------------------------------------------------------ live painting (brush, eraser)
    def begin_paint(self, colour: tuple[int, int, int], *, erase: bool) -> None:
        """Start drawing a stroke preview into the selected object's layer."""
        self._end_paint()
        w, h = self.image_size
        if w == 0 or h == 0:
            return
        if self._active_item.image.isNull():
            self._set_layer(self._active_item, np.zeros((h, w, 4), dtype=np.uint8))
        self._painter = QPainter(self._active_item.image)
        self._paint_erase = erase
        if erase:
            self._painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Clear)
            ink = QColor(0, 0, 0, 0)
        else:
            self._painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
            # QColor takes straight alpha; Qt premultiplies it as the fills are.
            ink = QColor(colour[0], colour[1], colour[2], min(255, self._alpha() + 40))
        self._ink = ink

    def paint_segment(self, p0: QPointF, p1: QPointF, radius: float) -> QRectF:
        """Draw one segment of the stroke preview (scene coordinates); return its dirty rect."""
        if self._painter is None:
            return QRectF()
        p = self._painter
        if p0 == p1:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(self._ink)
            p.drawEllipse(p0, radius, radius)
        else:
            pen = QPen(self._ink, 2 * radius, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                       Qt.PenJoinStyle.RoundJoin)  # fmt: skip
            p.setPen(pen)
            p.drawLine(p0, p1)
        pad = radius + 2
        dirty = QRectF(p0, p1).normalized().adjusted(-pad, -pad, pad, pad)
        self._active_item.update(dirty)
        return dirty

    def end_paint(self) -> None:
        """Finish the preview (the committed edit re-renders the layers)."""
        self._end_paint()

    def _end_paint(self) -> None:
        if self._painter is not None:
            self._painter.end()
            self._painter = None

    # ------------------------------------------------------------------ tools and cursor
    def set_tool(self, tool) -> None:
        """Route pointer input to ``tool`` (None: the pointer only pans)."""
        if self._tool is not None:
            self._tool.deactivate()
        self._tool = tool
        self.set_brush_cursor(None)
        if tool is not None:
            tool.activate()
            self.viewport().setCursor(tool.cursor)
        else:
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)

    @property
    def tool(self):
        """The current tool (or None)."""
        return self._tool

    def set_brush_cursor(self, radius: float | None) -> None:
        """Show a footprint circle of ``radius`` image pixels under the pointer (None hides it)."""
        self._brush_radius = radius
        if radius is None:
            self._cursor_item.setVisible(False)
            return
        rect = QRectF(-radius, -radius, 2 * radius, 2 * radius)
        self._cursor_item.setRect(rect)
        self._cursor_shadow.setRect(rect)  # shown where the pointer moves (see _move_cursor)

    def _move_cursor(self, scene_pos: QPointF) -> None:
        if self._brush_radius is not None:
            self._cursor_item.setPos(scene_pos)
            self._cursor_item.setVisible(True)

    # ------------------------------------------------------------------ zoom and pan
    def fit(self) -> None:
        """Zoom so the whole frame is visible."""
        self._fit = True
        rect = self.sceneRect()
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._update_smoothing()
        self.zoomChanged.emit(self.zoom_factor)

    @property
    def zoom_factor(self) -> float:
        """View pixels per image pixel."""
        return float(self.transform().m11())

    def zoom(self, factor: float) -> None:
        """Zoom by ``factor`` around the pointer."""
        new = self.zoom_factor * factor
        if not MIN_ZOOM <= new <= MAX_ZOOM:
            return
        self._fit = False
        self.scale(factor, factor)
        self._update_smoothing()
        self.zoomChanged.emit(self.zoom_factor)

    def actual_size(self) -> None:
        """One image pixel per screen pixel."""
        self._fit = False
        self.resetTransform()
        self._update_smoothing()
        self.zoomChanged.emit(1.0)

    def _update_smoothing(self) -> None:
        # Zoomed out, a smooth downscale reads better; zoomed in, annotators want to see pixels.
        self._frame_item.smooth = self.zoom_factor < 1.0

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.wheel_zooms or event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(1.25 if event.angleDelta().y() > 0 else 0.8)
            event.accept()
        else:
            super().wheelEvent(event)

    def _pan_by(self, pos: QPointF) -> None:
        delta = pos - self._pan_from
        self._pan_from = pos
        self.horizontalScrollBar().setValue(int(self.horizontalScrollBar().value() - delta.x()))
        self.verticalScrollBar().setValue(int(self.verticalScrollBar().value() - delta.y()))

    # ------------------------------------------------------------------ events
    def _scene_pos(self, event: QMouseEvent) -> QPointF:
        # Map the float position: sub-pixel view positions matter when zoomed in.
        return self.viewportTransform().inverted()[0].map(event.position())

    def _wants_pan(self, event: QMouseEvent) -> bool:
        b = event.button()
        if b == Qt.MouseButton.MiddleButton:
            return True
        return b == Qt.MouseButton.LeftButton and (self._space_down or self.pan_with_left or self._tool is None)

    def _tool_button(self, event: QMouseEvent) -> bool:
        """The left button goes to the tool; the right one too for tools that want it."""
        b = event.button()
        return b == Qt.MouseButton.LeftButton or (
            b == Qt.MouseButton.RightButton and getattr(self._tool, "takes_right_button", False))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if self._wants_pan(event):
            self._pan_from = event.position()
            self._space_used = True
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        left = self._tool_button(event)
        if left and self._tool is not None and self._tool.press(self._scene_pos(event), event):
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_by(event.position())
            event.accept()
            return
        scene = self._scene_pos(event)
        self._move_cursor(scene)
        self.cursorMoved.emit(scene.x() - 0.5, scene.y() - 0.5)
        if self._tool is not None and self._tool.move(scene, event):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            self.viewport().setCursor(self._tool.cursor if self._tool is not None else Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        left = self._tool_button(event)
        if left and self._tool is not None and self._tool.release(self._scene_pos(event), event):
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        left = event.button() == Qt.MouseButton.LeftButton
        if left and self._tool is not None:
            pos = self._scene_pos(event)
            # Tools without a double-click meaning take it as a second press (a quick dab).
            if self._tool.double_click(pos, event) or self._tool.press(pos, event):
                event.accept()
                return
        super().mouseDoubleClickEvent(event)


    def leaveEvent(self, event) -> None:
        self._cursor_item.setVisible(False)
        super().leaveEvent(event)

    def event(self, event: QEvent) -> bool:
        # Space pans while held; a tap toggles playback. Claim it before the window's
        # Space shortcut does, but only while the canvas has the focus.
        if event.type() == QEvent.Type.ShortcutOverride:
            key = event.key()
            if key == Qt.Key.Key_Space and not event.modifiers():
                event.accept()
                return True
            if self._tool is not None and self._tool.wants_key(event):
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.modifiers():
            if not event.isAutoRepeat():
                self._space_down, self._space_used = True, False
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if self._tool is not None and self._tool.key(event):
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            was_used = self._space_used
            self._space_down = False
            self.viewport().setCursor(self._tool.cursor if self._tool is not None else Qt.CursorShape.ArrowCursor)
            if not was_used:
                self.spaceTapped.emit()
            event.accept()
            return
        super().keyReleaseEvent(event)
