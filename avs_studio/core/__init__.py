"""The Qt-free, torch-free core: clips, media, audio, masks, datasets, metrics, exporters."""
