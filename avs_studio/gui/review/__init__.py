"""The review window: table worst first, frame views, plots, the open dialog."""
