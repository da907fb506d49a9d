"""The ``ablations`` command: chapter 5's ablations at a chosen budget, written to a folder.

    python -m perceiver_edu ablations --budget full --out docs/ablations-full

Writes ``table.md`` (the table and the verdicts), ``results.json`` (every run) and ``ablations.png``;
the data sets are the whole Fashion-MNIST training and test sets unless ``--train-subset`` /
``--test-subset`` ask for fewer.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from .ablations import BUDGETS, ablation_table, run_ablations, verdicts


def cmd_ablations(args) -> int:
    import matplotlib
    import torch

    matplotlib.use("Agg")
    from ..data import load_dataset
    from ..plots.ablations import plot_ablations
    from .cli import hardware

    if not args.seeds:
        raise SystemExit("--seeds: give at least one seed")
    if args.num_threads:
        torch.set_num_threads(args.num_threads)
    out = Path(args.out)
    train_set, test_set = load_dataset(args.dataset, "train"), load_dataset(args.dataset, "test")
    if args.train_subset:
        train_set = train_set.subset(args.train_subset, seed=0)
    if args.test_subset:
        test_set = test_set.subset(args.test_subset, seed=0)
    budget = BUDGETS[args.budget]
    run = run_ablations(train_set, test_set, budget=budget, seeds=tuple(args.seeds), progress=not args.no_progress)
    where = hardware()
    out.mkdir(parents=True, exist_ok=True)
    head = (f"{len(run.results)} runs ({len(run.summary)} variants x {len(args.seeds)} seeds) of {budget.steps} steps "
            f"x {budget.batch_size} images, N={budget.num_latents}, D={budget.latent_dim}, "
            f"{len(train_set):,} training / {len(test_set):,} test images of {args.dataset}: "
            f"{run.seconds:.0f} s on {where}")
    text = "\n\n".join([head, ablation_table(run), "\n".join(f"- {v}" for v in verdicts(run))])
    (out / "table.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps({
        "budget": asdict(budget), "budget_name": args.budget, "dataset": args.dataset, "seeds": list(args.seeds),
        "train_examples": len(train_set), "test_examples": len(test_set), "seconds": round(run.seconds, 1),
        "hardware": where, "torch": torch.__version__,
        "runs": [{"variant": asdict(r.variant), "seed": r.seed, "accuracy": r.accuracy, "n_test": r.n_test,
                  "parameters": r.parameters, "seconds": round(r.seconds, 1)} for r in run.results]}, indent=1))
    plot_ablations(run).savefig(out / "ablations.png", dpi=120)
    print(text)
    print(f"written to {out}/: table.md, results.json, ablations.png")
    return 0


def register_cli(subparsers) -> None:
    p = subparsers.add_parser("ablations", help="train chapter 5's ablations (positions, cross-attends, sharing)",
                              description="Train every ablation variant of chapter 5 with each seed and write the "
                                          "table, the verdicts, the runs and a figure to --out.")
    p.add_argument("--budget", choices=sorted(BUDGETS), default="full", help="model size and steps (default: full)")
    p.add_argument("--dataset", choices=("fashion-mnist", "mnist"), default="fashion-mnist")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--train-subset", type=int, default=None, metavar="N")
    p.add_argument("--test-subset", type=int, default=None, metavar="N")
    p.add_argument("--num-threads", type=int, default=None, metavar="N")
    p.add_argument("--out", required=True, help="folder for table.md, results.json and ablations.png")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_ablations)


__all__ = ["cmd_ablations", "register_cli"]
