"""Media: everything that reads or writes audio and video files.

* ``decode``: PyAV decoding with seeking (``open_media``, ``MediaFile``), sampled frames, PCM;
* ``probe``: what a file holds (streams, durations, rotation, frame tables);
* ``official``: the official AVSBench preprocessing emulated (frame sampling, the WAV);
* ``writer``: encoding and trimming videos (demo data, exported segments);
* ``wavio``: WAV files as the official reader reads them;
* ``video_clip``: ``VideoClip``, a segment of any video as a ``Clip``;
* ``playback``: Qt-free playback pieces (audio clock, frame prefetching, display spectrogram).
"""
