"""The annotator window: canvas, tools, panels, proposals, export dialog."""
