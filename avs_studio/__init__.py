"""AVS Studio: build and review audio-visual segmentation (AVSBench) data."""

__version__ = "0.1.0"
