"""Assisted annotation: click-to-mask segmenters and mask propagation across frames."""
