"""Each chapter-4 checker accepts the reference answer and names typical mistakes."""
import pytest

from perceiver_edu.model.blocks import CrossAttention, LatentTransformer
from perceiver_edu.exercises import run_checker
from perceiver_edu.model.perceiver import Perceiver


def hint(id, answer):
    passed, message = run_checker(id, answer)
    assert not passed, "the checker accepted a wrong answer"
    return message


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# 4.1 head -------------------------------------------------------------------------------------
def test_4_1_accepts_reference():
    assert run_checker("4.1", lambda latents, head: head(latents.mean(dim=1)))[0]


def test_4_1_accepts_a_sum_because_the_layernorm_removes_the_scale():
    assert run_checker("4.1", lambda latents, head: head(latents.sum(dim=1)))[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda latents, head: head(latents.mean(dim=0)), "averaged over the batch"),
    (lambda latents, head: head(latents[:, 0]), "only the first latent"),
    (lambda latents, head: head[1](latents.mean(dim=1)), "LayerNorm is missing"),
    (lambda latents, head: head(latents).mean(dim=1), "average the latents first"),
])
def test_4_1_names_the_mistake(wrong, expected):
    assert expected in hint("4.1", wrong)


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


def test_4_2_accepts_reference():
    assert run_checker("4.2", pre_ln)[0]


@pytest.mark.parametrize("wrong, expected", [
    (post_ln, "post-LN"),
    (no_mlp_residual, "residual around the MLP"),
    (residual_from_normed, "un-normalised"),
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


# 4.4 forward loop -----------------------------------------------------------------------------
def forward(model, x, pick=None, softmax=False):
    latents = model.latents.expand(x.shape[0], -1, -1)
    maps = []
    for i in range(model.config.num_cross_attends):
        j = min(i, len(model.cross_attends) - 1) if pick is None else pick
        latents, scores = model.cross_attends[j](latents, x, return_scores=True)
        maps.append(scores.softmax(-1).mean(1) if softmax else scores.mean(1))
        latents = model.latent_transformers[min(i, len(model.latent_transformers) - 1)](latents)
    return model.head(latents.mean(dim=1)), maps


def test_4_4_accepts_reference():
    assert run_checker("4.4", forward)[0]
    assert run_checker("4.4", lambda model, x: model(x, return_attention=True))[0]


@pytest.mark.parametrize("wrong, expected", [
    (lambda model, x: forward(model, x, pick=0), "reused the first one everywhere"),
    (lambda model, x: forward(model, x, softmax=True), "pre-softmax"),
    (lambda model, x: forward(model, x)[0], "return the pair"),
    (lambda model, x: (forward(model, x)[0], forward(model, x)[1][:1]), "one map per cross-attend"),
    (lambda model, x: (forward(model, x)[0] * 2, forward(model, x)[1]), "maps are right but the logits"),
])
def test_4_4_names_the_mistake(wrong, expected):
    assert expected in hint("4.4", wrong)
