"""Ablations of the paper's design choices, trained for real (chapter 5).

The paper's image model rests on three choices (§3, §4.1): Fourier position features, several
cross-attends, and weight sharing between the repeats.  Each ablation changes one of them in a small
image Perceiver and measures test accuracy::

    result = train_variant(Variant("learned positions", positions="learned"), train_set, test_set, seed=0)
    result.accuracy, result.standard_error          # fraction correct, its binomial standard error

* ``positions``: ``"fourier"`` (the paper's), ``"learned"`` (one learned vector per pixel, as wide as
  the Fourier features) or ``"none"``: every pixel carries the *same* position vector (the Fourier
  features of the top-left pixel), so the byte array is a set of pixel values and the model cannot
  tell where a pixel was.  (Dropping the position channels instead would leave one channel per
  pixel, which the cross-attend's input LayerNorm maps to the same value for every pixel: a blind
  model by accident, not the ablation.)
* ``num_cross_attends`` and ``share_weights``: those of :class:`~perceiver_edu.model.perceiver.PerceiverConfig`.

Every variant has the same sizes, data, optimiser and number of steps (:class:`AblationBudget`), so
differences come from the one choice changed and from noise, which :func:`summarise` estimates
from the seeds and from the size of the test set.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import torch

from ..data.mnist import ImageDataset
from ..inputs.images import ImagePerceiver, ImagePreprocess
from ..inputs.permuted import LearnedPositionImagePerceiver
from ..model.perceiver import PerceiverConfig
from .fit import evaluate_accuracy, fit

POSITIONS = ("none", "fourier", "learned")


@dataclass(frozen=True)
class Variant:
    """One model of an ablation: the paper's choice, or one of them changed."""
    name: str
    positions: str = "fourier"  # "none" | "fourier" | "learned"
    num_cross_attends: int = 2
    share_weights: bool = True

    def __post_init__(self):
        if self.positions not in POSITIONS:
            raise ValueError(f"Variant.positions must be one of {POSITIONS}, got {self.positions!r}")
        if int(self.num_cross_attends) < 1:
            raise ValueError(f"Variant.num_cross_attends must be >= 1, got {self.num_cross_attends}")


@dataclass(frozen=True)
class AblationBudget:
    """The model sizes and the training budget shared by every variant."""
    num_latents: int = 16  # N
    latent_dim: int = 32  # D
    self_attends_per_block: int = 1
    self_heads: int = 4
    num_bands: int = 4  # K Fourier bands per axis
    max_freq: float = 28.0  # μ
    steps: int = 200
    batch_size: int = 64
    lr: float = 3e-3
    warmup: int = 20

    def scaled(self, **changes) -> "AblationBudget":
        return replace(self, **changes)


# quick: 4-9 s per variant and seed on one idle CPU core; full: the same ablations with a model four
# times larger and 7.5 times the steps (about 1.6 passes over the 60,000 training images), 2-5 minutes
# per variant and seed on one CPU core
BUDGETS = {"quick": AblationBudget(),
           "full": AblationBudget(num_latents=32, latent_dim=64, self_attends_per_block=1, num_bands=6,
                                  steps=1500, batch_size=64, lr=2e-3, warmup=100)}


def ablation_variants(reference: Variant | None = None) -> dict[str, list[Variant]]:
    """The three ablations, each a list of variants that differ from ``reference`` in one choice.

    The reference (Fourier positions, 2 cross-attends, shared) appears in the first two lists;
    weight sharing is compared at 4 cross-attends, where sharing changes which blocks exist
    (at 2 the cross-attends are two blocks either way)."""
    r = reference or Variant("Fourier, 2 cross-attends, shared")
    four = Variant("4 cross-attends, shared", r.positions, 4, True)
    return {
        "positions": [Variant("no positions", "none", r.num_cross_attends, r.share_weights), r,
                      Variant("learned positions", "learned", r.num_cross_attends, r.share_weights)],
        "cross-attends": [Variant("1 cross-attend", r.positions, 1, r.share_weights), r, four],
        "weight sharing": [four, Variant("4 cross-attends, not shared", r.positions, 4, False)],
    }


def build_variant(variant: Variant, budget: AblationBudget, image_shape=(1, 28, 28), *, num_classes: int = 10,
                  mean: float = 0.0, std: float = 1.0) -> torch.nn.Module:
    """The image Perceiver of ``variant`` (weights from the current torch seed): images -> logits."""
    pre = ImagePreprocess(image_shape=tuple(image_shape), num_bands=budget.num_bands, max_freq=budget.max_freq,
                          mean=mean, std=std)
    config = PerceiverConfig(input_channels=pre.byte_channels, num_classes=num_classes,
                             num_latents=budget.num_latents, latent_dim=budget.latent_dim,
                             num_cross_attends=variant.num_cross_attends,
                             self_attends_per_block=budget.self_attends_per_block, self_heads=budget.self_heads,
                             share_weights=variant.share_weights)
    if variant.positions == "learned":  # as many learned channels as there are Fourier ones
        return LearnedPositionImagePerceiver(config, image_shape, position_dim=pre.byte_channels - image_shape[0],
                                             mean=mean, std=std)
    model = ImagePerceiver(config, pre)
    if variant.positions == "none":  # every pixel gets the top-left pixel's features: (1, M, P)
        model.positions = model.positions[:, :1].expand_as(model.positions).contiguous()
    return model


@dataclass
class VariantResult:
    """Test accuracy of one trained variant and its binomial standard error."""
    variant: Variant
    seed: int
    accuracy: float  # fraction of the test set classified correctly
    standard_error: float  # sqrt(p (1 - p) / n_test): the noise of measuring p on n_test images
    n_test: int
    parameters: int
    seconds: float  # training and evaluation


def binomial_standard_error(p: float, n: int) -> float:
    """Standard error of an accuracy ``p`` measured on ``n`` independent test examples."""
    if n < 1 or not 0 <= p <= 1:
        raise ValueError(f"need n >= 1 and 0 <= p <= 1, got n={n}, p={p}")
    return math.sqrt(p * (1 - p) / n)


def train_variant(variant: Variant, train_set: ImageDataset, test_set: ImageDataset, *, seed: int = 0,
                  budget: AblationBudget | None = None, device=None) -> VariantResult:
    """Build ``variant`` with ``seed``, train it for ``budget.steps`` steps, score it on ``test_set``."""
    budget = budget or BUDGETS["quick"]
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = build_variant(variant, budget, tuple(train_set.images.shape[1:]), num_classes=len(train_set.classes),
                          mean=round(train_set.images.float().mean().item(), 4),
                          std=round(train_set.images.float().std().item(), 4))
    fit(model, train_set.images, train_set.labels, steps=budget.steps, batch_size=budget.batch_size,
        lr=budget.lr, warmup=budget.warmup, seed=seed, device=device, progress=False)
    acc = evaluate_accuracy(model, test_set.images, test_set.labels)
    n = len(test_set)
    return VariantResult(variant, seed, acc, binomial_standard_error(acc, n), n,
                         sum(p.numel() for p in model.parameters()), time.perf_counter() - start)


@dataclass
class Summary:
    """A variant's accuracy over several seeds, with its noise."""
    variant: Variant
    accuracies: list  # one per seed
    mean: float
    seed_se: float  # sample std over seeds / sqrt(seeds); from two seeds a rough estimate
    binomial_se: float  # of the mean, from the total number of test predictions
    parameters: int

    @property
    def se(self) -> float:
        """The error bar used: the larger of the two estimates."""
        return max(self.seed_se, self.binomial_se)


def summarise(results: list[VariantResult]) -> list[Summary]:
    """Group ``results`` by variant (first-seen order): mean accuracy over seeds and its standard error."""
    groups: dict[Variant, list[VariantResult]] = {}
    for r in results:
        groups.setdefault(r.variant, []).append(r)
    out = []
    for variant, rs in groups.items():
        accs = [r.accuracy for r in rs]
        k, mean = len(accs), sum(accs) / len(accs)
        seed_se = math.sqrt(sum((a - mean) ** 2 for a in accs) / (k - 1) / k) if k > 1 else 0.0
        out.append(Summary(variant, accs, mean, seed_se, binomial_standard_error(mean, sum(r.n_test for r in rs)),
                           rs[0].parameters))
    return out


def compare(a: Summary, b: Summary) -> tuple[float, float]:
    """``(b.mean - a.mean, that difference in units of its standard error)``."""
    diff = b.mean - a.mean
    return diff, diff / math.hypot(a.se, b.se) if a.se or b.se else math.inf


@dataclass
class AblationRun:
    """Every variant of :func:`ablation_variants` trained with every seed, and their summaries."""
    ablations: dict  # {ablation: [Variant, ...]}
    summary: dict  # {Variant: Summary}
    results: list  # the VariantResults, one per variant and seed
    budget: AblationBudget
    seconds: float


def run_ablations(train_set: ImageDataset, test_set: ImageDataset, *, budget: AblationBudget | None = None,
                  seeds=(0, 1), progress: bool = True, device=None) -> AblationRun:
    """Train each variant of the three ablations once per seed (a variant in two ablations only once)."""
    from tqdm.auto import tqdm

    budget = budget or BUDGETS["quick"]
    ablations = ablation_variants()
    variants = list(dict.fromkeys(v for group in ablations.values() for v in group))
    start = time.perf_counter()
    results = [train_variant(v, train_set, test_set, seed=seed, budget=budget, device=device)
               for v in tqdm(variants, desc="ablations", disable=not progress) for seed in seeds]
    return AblationRun(ablations, {s.variant: s for s in summarise(results)}, results, budget,
                       time.perf_counter() - start)


def ablation_table(run: AblationRun, chance: float = 0.1) -> str:
    """The results as a Markdown table: each variant's accuracy per seed, mean ± SE, distance from chance."""
    lines = ["| ablation | variant | parameters | accuracy per seed (%) | mean ± SE (%) | mean - chance (SE) |",
             "|---|---|---:|---|---:|---:|"]
    for name, group in run.ablations.items():
        for v in group:
            s = run.summary[v]
            lines.append(f"| {name} | {v.name} | {s.parameters:,} | {', '.join(f'{100 * a:.1f}' for a in s.accuracies)}"
                         f" | {100 * s.mean:.1f} ± {100 * s.se:.1f} | {(s.mean - chance) / s.se:.0f} |")
    return "\n".join(lines)


def comparisons(ablations: dict) -> dict[str, tuple[Variant, Variant]]:
    """The five comparisons the ablations answer, ``{name: (baseline, changed)}``: each change against
    the reference (Fourier, 2 cross-attends, shared), and not shared against shared at 4 cross-attends."""
    positions, cross, sharing = (ablations[k] for k in ("positions", "cross-attends", "weight sharing"))
    ref, four = positions[1], sharing[0]
    return {"no positions": (ref, positions[0]), "learned positions": (ref, positions[2]),
            "one cross-attend": (ref, cross[0]), "four cross-attends": (ref, four), "not shared": (four, sharing[1])}


def verdicts(run: AblationRun) -> list[str]:
    """Each comparison in points and SE, with a verdict: clear (>= 3 SE), suggestive (>= 2 SE) or inconclusive."""
    lines = []
    for a, b in comparisons(run.ablations).values():
        diff, z = compare(run.summary[a], run.summary[b])
        word = "clear" if abs(z) >= 3 else "suggestive, not conclusive" if abs(z) >= 2 else "inconclusive (within the noise)"
        lines.append(f"{b.name} vs {a.name}: {100 * diff:+.1f} points = {z:+.1f} SE: {word}")
    return lines


__all__ = ["AblationBudget", "AblationRun", "BUDGETS", "POSITIONS", "Summary", "Variant", "VariantResult",
           "ablation_table", "ablation_variants", "comparisons", "binomial_standard_error", "build_variant", "compare",
           "run_ablations", "summarise", "train_variant", "verdicts"]
