"""Pieces both windows share: timeline, player, audio output, workers, settings, shortcuts,
actions and QImage conversions.
"""
