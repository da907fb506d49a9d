"""One process of a small data-parallel training run, for tests/test_distributed.py.

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/ddp_worker.py OUT [--stop-at N] [--resume]
                                                                                        [--no-callback]

Trains the tiny model of the tests on a fixed Fashion-MNIST subset through ``perceiver_edu.training.trainer``
(which joins the gloo process group torchrun describes), then writes this rank's final weights
(``rank<R>.safetensors``) and per-step global losses (``rank<R>.losses.json``) into ``OUT``.
"""
import argparse
import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file

from perceiver_edu.data import load_fashion_mnist
from perceiver_edu.training.distributed import exit_worker
from perceiver_edu.training.trainer import TrainConfig, train

DATA_SEED = 1


def tiny_config(**overrides) -> TrainConfig:
    base = dict(num_latents=4, latent_dim=16, num_cross_attends=2, self_attends_per_block=1, self_heads=2,
                num_bands=2, epochs=2, batch_size=32, lr=3e-3, warmup_steps=3, log_every=2, seed=3,
                device="cpu", num_threads=None, augment=True)
    return TrainConfig(**{**base, **overrides})


def tiny_data():
    return (load_fashion_mnist("train").subset(192, seed=DATA_SEED),  # 6 global batches of 32 per epoch
            load_fashion_mnist("test").subset(64, seed=DATA_SEED))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--stop-at", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--no-callback", action="store_true", help="train without on_step (as the command does)")
    args = parser.parse_args()
    out = Path(args.out)
    rank = int(os.environ.get("RANK", 0))
    losses = []
    result = train(tiny_config(), out_dir=out / "run", resume=args.resume, progress=False, data=tiny_data(),
                   stop_at_step=args.stop_at,
                   on_step=None if args.no_callback else lambda step, info: losses.append([step, info["loss"]]))
    state = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
    save_file(state, str(out / f"rank{rank}.safetensors"))
    (out / f"rank{rank}.losses.json").write_text(json.dumps(
        {"losses": losses, "step": result.step, "test_accuracy": result.test_accuracy,
         "threads": torch.get_num_threads()}))
    exit_worker(0)  # as the train command does under torchrun (see its docstring)


if __name__ == "__main__":
    main()
