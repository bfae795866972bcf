"""Masks: binary and label masks as the official loaders decode them, the AVSS palette,
Pillow-exact resizing, RLE and polygons.
"""
