"""The model the chapters teach, in chapter order (paper sections in brackets).

    attention.py     attention from scratch, multi-head attention           (chapter 1, §3.1)
    blocks.py        the reference cross-attention and latent self-attention (chapters 2, 4; §3.1)
    position.py      Fourier position features, learned positions          (chapter 3, §3.2)
    perceiver.py     PerceiverConfig, Perceiver                             (chapter 4, Fig. 1)
    params.py        count_parameters                                       (chapters 4, 7)
    checks.py        cheap checks on tensors at the boundary (finite, autocast)
    baselines.py     a small CNN and an MLP to compare against              (chapter 7)
    perceiver_io.py  Perceiver IO: a query decoder                          (chapter 11)
    resampler.py     the Flamingo / IDEFICS2 Perceiver resampler            (chapter 12)
    fast.py          faster cross-attention paths, tested equal to blocks.py (chapter 13)
"""
