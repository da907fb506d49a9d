"""Each chapter-4 checker accepts the reference answer and names typical mistakes."""
import pytest
import torch

from perceiver_edu.model.blocks import CrossAttention, LatentTransformer
from perceiver_edu.exercises import run_checker
from perceiver_edu.exercises.ch04 import PAPER_SIZES
from perceiver_edu.model.perceiver import Perceiver, PerceiverConfig


def hint(id, answer):
    passed, message = run_checker(id, answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# 4.1 project, then average ----------------------------------------------------------------------
def test_4_1_accepts_reference():
    assert run_checker("4.1", lambda latents, head: head(latents).mean(dim=1))[0]


def test_4_1_accepts_an_explicit_loop_over_the_latents():
    def looped(latents, head):
        return sum(head(latents[:, i]) for i in range(latents.shape[1])) / latents.shape[1]
    assert run_checker("4.1", looped)[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda latents, head: head(latents.mean(dim=1)), "you averaged first"),
    (lambda latents, head: head(latents).mean(dim=0), "averaged over the batch"),
    (lambda latents, head: head(latents), "did not average"),
    (lambda latents, head: head(latents).sum(dim=1), "you summed"),
    (lambda latents, head: head(latents[:, 0]), "only the first latent"),
    (lambda latents, head: head[1](latents).mean(dim=1), "LayerNorm is missing"),
    (lambda latents, head: head(latents).mean(dim=1) + 0.1, "logits differ"),
])
def test_4_1_names_the_mistake(wrong, expected):
    assert expected in hint("4.1", wrong)


def test_4_1_the_two_orders_agree_for_a_linear_head_only():
    # The fact the exercise's measurement shows, computed naively: a Linear layer commutes with the mean.
    torch.manual_seed(0)
    linear, norm = torch.nn.Linear(6, 3), torch.nn.LayerNorm(6)
    latents = torch.randn(2, 5, 6) * 2 + 1
    w, b = linear.weight, linear.bias
    by_hand = torch.stack([torch.stack([w @ latents[i, j] + b for j in range(5)]).mean(dim=0) for i in range(2)])
    assert torch.allclose(linear(latents.mean(dim=1)), by_hand, atol=1e-6)
    assert not torch.allclose(linear(norm(latents.mean(dim=1))), linear(norm(latents)).mean(dim=1), atol=1e-2)


# 4.2 self-attention layer ---------------------------------------------------------------------
def pre_ln(layer, latents):
    x = layer.norm(latents)
    latents = latents + layer.attn(x, x)
    return latents + layer.mlp(latents)


def post_ln(layer, latents):
    h = layer.norm(latents + layer.attn(latents, latents))
    return h + layer.mlp(h)


def no_mlp_residual(layer, latents):
    x = layer.norm(latents)
    return layer.mlp(latents + layer.attn(x, x))


def residual_from_normed(layer, latents):
    x = layer.norm(latents)
    h = x + layer.attn(x, x)
    return h + layer.mlp(h)


def norm_before_mlp(layer, latents):
    x = layer.norm(latents)
    latents = latents + layer.attn(x, x)
    return latents + layer.mlp(layer.norm(latents))


def test_4_2_accepts_reference():
    assert run_checker("4.2", pre_ln)[0]


@pytest.mark.parametrize("wrong, expected", [
    (post_ln, "post-LN"),
    (no_mlp_residual, "residual around the MLP"),
    (residual_from_normed, "un-normalised"),
    (norm_before_mlp, "its own LayerNorm"),
    (lambda layer, latents: pre_ln(layer, latents)[:, :1], "keeps the latent shape"),
])
def test_4_2_names_the_mistake(wrong, expected):
    assert expected in hint("4.2", wrong)


# 4.3 parameter count --------------------------------------------------------------------------
def blocks(c):
    cross = n_params(CrossAttention(c.latent_dim, c.input_channels, c.cross_heads, c.widening))
    latent = n_params(LatentTransformer(c.latent_dim, c.self_attends_per_block, c.self_heads, c.widening))
    head = 2 * c.latent_dim + (c.latent_dim + 1) * c.num_classes
    return cross, latent, c.num_latents * c.latent_dim, head


def reference_count(c):
    cross, latent, latents, head = blocks(c)
    r = c.num_cross_attends
    n_cross, n_latent = (min(r, 2), 1) if c.share_weights else (r, r)
    return latents + head + n_cross * cross + n_latent * latent


def every_repeat_counted(c):
    cross, latent, latents, head = blocks(c)
    return latents + head + c.num_cross_attends * (cross + latent)


def one_shared_cross_attend(c):
    cross, latent, latents, head = blocks(c)
    r = c.num_cross_attends
    return latents + head + (cross + latent if c.share_weights else r * (cross + latent))


def test_4_3_accepts_reference_and_the_built_model():
    assert run_checker("4.3", reference_count)[0]
    assert run_checker("4.3", lambda c: n_params(Perceiver(c)))[0]


@pytest.mark.parametrize("wrong, expected", [
    (every_repeat_counted, "reuse blocks"),
    (one_shared_cross_attend, "*two* cross-attention blocks"),
    (lambda c: reference_count(c) - c.num_latents * c.latent_dim, "latent array itself"),
    (lambda c: reference_count(c) - 2 * c.latent_dim - (c.latent_dim + 1) * c.num_classes, "head is missing"),
])
def test_4_3_names_the_mistake(wrong, expected):
    assert expected in hint("4.3", wrong)


# 4.4 logits after every repeat ---------------------------------------------------------------
def per_repeat(model, x, pick=None, latent_transformer=True, restart=False, no_mean=False):
    latents = model.latents.expand(x.shape[0], -1, -1)
    out = []
    for i in range(model.config.num_cross_attends):
        j = min(i, len(model.cross_attends) - 1) if pick is None else pick
        latents = model.cross_attends[j](latents, x)
        if latent_transformer:
            latents = model.latent_transformers[min(i, len(model.latent_transformers) - 1)](latents)
        out.append(model.head(latents) if no_mean else model.head(latents.mean(dim=1)))
        if restart:
            latents = model.latents.expand(x.shape[0], -1, -1)
    return out


def test_4_4_accepts_reference():
    assert run_checker("4.4", per_repeat)[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda model, x: per_repeat(model, x, pick=0), "reused the first one everywhere"),
    (lambda model, x: per_repeat(model, x, pick=-1), "has its own cross-attention block"),
    (lambda model, x: per_repeat(model, x, latent_transformer=False), "followed by the latent transformer"),
    (lambda model, x: per_repeat(model, x, restart=True), "continues from the latents"),
    (lambda model, x: per_repeat(model, x, no_mean=True), "average the latents"),
    (lambda model, x: per_repeat(model, x)[-1], "one (B, classes) tensor of logits per repeat"),
    (lambda model, x: per_repeat(model, x)[-1:], "one logits tensor per repeat"),
])
def test_4_4_names_the_mistake(wrong, expected):
    assert expected in hint("4.4", wrong)


# 4.5 the count at another widening, predicted -----------------------------------------------
def paper_count(widening, *, cross_widening=None, n_latent=1, head=True):
    """The formula of the notebook's solution, with switches for the typical slips."""
    d, c, w, depth, classes = 1024, 261, widening, 6, 1000
    cw = widening if cross_widening is None else cross_widening
    self_attend = (4 + 2 * w) * d * d + (9 + w) * d
    cross = (2 + 2 * cw) * d * d + 2 * c * d + (9 + cw) * d + 2 * c
    return 512 * d + 2 * cross + n_latent * depth * self_attend + (2 * d + d * classes + classes if head else 0)


def test_4_5_accepts_the_formula_and_the_count():
    assert run_checker("4.5", paper_count)[0]
    with torch.device("meta"):
        assert run_checker("4.5", lambda w: n_params(Perceiver(PerceiverConfig(widening=w, **PAPER_SIZES))))[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda w: paper_count(w, cross_widening=4), "cross-attend's MLP widens too"),
    (lambda w: paper_count(w, n_latent=8), "one* latent transformer"),
    (lambda w: paper_count(w, head=False), "head is missing"),
    (lambda w: paper_count(4), "count at widening 4"),
    (lambda w: paper_count(w) + 1000, "within 1 %"),
    (lambda w: "lots", "return the number"),
])
def test_4_5_names_the_mistake(wrong, expected):
    assert expected in hint("4.5", wrong)
