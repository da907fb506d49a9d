"""The model the chapters teach, in paper order.

    position.py      Fourier position features, learned positions          (chapter 3, paper §3.2)
    attention.py     attention from scratch, multi-head attention           (chapter 1, §3.1)
    blocks.py        the reference cross-attention and latent self-attention (chapters 2, 4)
    perceiver.py     PerceiverConfig, Perceiver                             (chapter 4, Fig. 1)
    fast.py          faster cross-attention paths, tested equal to blocks.py (chapter 13)
    perceiver_io.py  Perceiver IO: a query decoder                          (chapter 11)
    resampler.py     the Flamingo / IDEFICS2 Perceiver resampler            (chapter 12)
    baselines.py     a small CNN and an MLP to compare against              (chapter 7)
"""
