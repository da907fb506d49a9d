"""Turning data into byte arrays (B, M, C): values concatenated with position features.

The Perceiver only ever sees a byte array ``(B, M, C)``.  Each adapter lists the elements of
one modality (samples, time-frequency cells, points), keeps their values as channels and
concatenates (not adds) Fourier features of where they are (paper §3.2):

=====================  =====================  ===========================  ====================
input                   elements M             position x in [-1, 1]^d      channels C
=====================  =====================  ===========================  ====================
waveforms (B, T)        T samples              time, d = 1                  1 + (2K+1)
spectrogram (B, F, T)   F*T cells              (frequency, time), d = 2     1 + 2(2K+1)
points (B, P, 3)        P points               the point itself, d = 3      3(2K+1) (+1)
=====================  =====================  ===========================  ====================

    byte_array.py  the one builder: values (B, M, Cv) + positions -> (B, M, Cv + P)
    images.py      images -> byte arrays, ImagePerceiver                    (chapters 4, 5)
    permuted.py    permuted pixels, learned-position image model            (chapter 7)
    audio.py       waveforms and log-mel spectrograms                       (chapter 8)
    points.py      point sets                                               (chapter 9)
    multimodal.py  several modalities in one byte array                     (chapter 10)
"""
