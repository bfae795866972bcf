"""Audio: the VGGish log-mel front end (``logmel``) and the official log-mel pickles (``pickles``).

The public names of the front end are importable from here, as
``avs_studio.core.audio.log_mel_examples``.
"""

from avs_studio.core.audio.logmel import (
    EXAMPLE_FRAMES,
    EXAMPLE_HOP_SAMPLES,
    LOGMEL_PICKLE_SHAPE,
    MIN_SAMPLES,
    NUM_MEL_BANDS,
    SAMPLE_RATE,
    load_logmel_pickle,
    log_mel_examples,
    log_mel_from_wav,
    mel_weight_matrix,
    num_examples,
    periodic_hann,
    read_wav,
    read_wav_official,
    resample,
    to_16k_mono,
    to_mono,
    with_channel_axis,
    write_wav,
)

__all__ = [
    "EXAMPLE_FRAMES",
    "EXAMPLE_HOP_SAMPLES",
    "LOGMEL_PICKLE_SHAPE",
    "MIN_SAMPLES",
    "NUM_MEL_BANDS",
    "SAMPLE_RATE",
    "load_logmel_pickle",
    "log_mel_examples",
    "log_mel_from_wav",
    "mel_weight_matrix",
    "num_examples",
    "periodic_hann",
    "read_wav",
    "read_wav_official",
    "resample",
    "to_16k_mono",
    "to_mono",
    "with_channel_axis",
    "write_wav",
]
