"""Turning data into byte arrays (B, M, C): values concatenated with position features.

    images.py      images -> byte arrays, ImagePerceiver                    (chapters 4, 5)
    permuted.py    permuted pixels, learned-position image model            (chapter 7)
    modalities.py  audio waveforms, spectrograms and point sets             (chapters 8, 9)
    multimodal.py  several modalities in one byte array                     (chapter 10)
"""
