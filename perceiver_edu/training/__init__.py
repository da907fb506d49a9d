"""Training: the image trainer and ``train`` command, a model-agnostic loop, checkpoints,
data-parallel launch (chapter 5; chapters 7-10 use ``fit``)."""
