"""Training (chapter 5; chapters 7-10 use ``fit``).

    config.py       TrainConfig and the "cpu" / "gpu" recipes
    schedule.py     the learning rate, batch order and augmentation of a step (functions of seed and step)
    evaluation.py   batched logits, accuracy, test loss: one loop for the trainer and fit
    trainer.py      train(config): the image trainer and its loop
    metrics_log.py  the run's metrics.jsonl
    resume.py       saving and resuming a run exactly
    checkpoint.py   safetensors + JSON checkpoints, never pickle
    distributed.py  data-parallel training in several processes
    launch.py       train(config, nproc=N): the processes started from here
    cli.py          the ``train`` command
    fit.py          a model-agnostic loop for any classifier on in-memory tensors
    ablations.py    the paper's design choices tested by training: one variant, its accuracy and noise
"""
