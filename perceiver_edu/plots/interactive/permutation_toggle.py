"""Chapter 7: the permutation toggle.

Scramble every image's pixels with one fixed permutation and choose what the Perceiver's position
features do: *follow the pixels* (each pixel keeps its own position code, as in the paper's permuted
setting, :func:`~perceiver_edu.inputs.permuted.permute_positions`) or *stay in place* (the codes
stay with the slots, so each pixel gets another pixel's position).  Following, the byte array is
the same set of rows in another order and the logits are those of the unpermuted image (up to
float rounding); staying, the model sees a new image.  A CNN, which reads neighbourhoods of the
grid, has no positions to move: its accuracy collapses on scrambled pixels.

    toggle = PermutationToggle(perceiver, images, labels, cnn=cnn)
    toggle.update(pixels="permuted", positions="follow")
    toggle.state["max_logit_change"]      # ~1e-6: the same logits
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from ...inputs.images import ImagePerceiver, check_images
from ...inputs.permuted import permute_pixels, permute_positions, random_permutation
from .toolkit import Interactive, choice, slider


@torch.no_grad()
def _logits(model, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.cat([model(images[i:i + batch_size].to(device)).float().cpu()
                      for i in range(0, len(images), batch_size)])  # (B, classes)


class PermutationToggle(Interactive):
    """Raw vs permuted pixels for a Fourier-feature Perceiver (and, if given, a CNN)."""

    css_name = "permutation-toggle"
    per_row = 2

    def __init__(self, perceiver: ImagePerceiver, images: torch.Tensor, labels: torch.Tensor, *, cnn=None,
                 seeds=(0,), classes=None):
        if not isinstance(perceiver, ImagePerceiver):
            raise TypeError(f"perceiver must be an ImagePerceiver (Fourier positions), got {type(perceiver).__name__}")
        check_images(images)
        if not isinstance(labels, torch.Tensor) or labels.shape != (len(images),):
            raise ValueError(f"labels must be a tensor ({len(images)},), one per image, got "
                             f"{tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__}")
        self.images, self.labels, self.classes = images.cpu(), labels.cpu(), classes
        self.perceiver, self.cnn = perceiver.eval(), None if cnn is None else cnn.eval()
        h, w = images.shape[-2:]
        # every (model, setting) over all images, once: a redraw only indexes these
        self.logits = {("perceiver", "raw", None): _logits(self.perceiver, self.images)}
        if self.cnn is not None:
            self.logits[("cnn", "raw", None)] = _logits(self.cnn, self.images)
        self.perms = {}
        for seed in seeds:
            perm = self.perms[seed] = random_permutation(h * w, seed=seed)
            scrambled = permute_pixels(self.images, perm)
            following = permute_positions(copy.deepcopy(self.perceiver), perm)  # positions follow the pixels
            self.logits[("perceiver", seed, "follow")] = _logits(following, scrambled)
            self.logits[("perceiver", seed, "stay")] = _logits(self.perceiver, scrambled)
            if self.cnn is not None:
                self.logits[("cnn", seed, None)] = _logits(self.cnn, scrambled)
        controls = {"image": slider("int", 0, 0, len(images) - 1, 1, "image")}
        if len(seeds) > 1:
            controls["seed"] = choice(list(seeds), seeds[0], "permutation seed")
        self._seed = seeds[0]
        self._build({
            **controls,
            "pixels": choice([("raw pixels", "raw"), ("permuted pixels", "permuted")], "raw", "pixels", buttons=True),
            "positions": choice([("follow the pixels", "follow"), ("stay in place", "stay")], "follow",
                                "Perceiver's positions", buttons=True),
        })

    def _key(self, model: str, pixels: str, seed, positions):
        if pixels == "raw":
            return (model, "raw", None)
        return (model, seed, positions if model == "perceiver" else None)

    def compute(self, *, image, pixels, positions, seed=None) -> dict:
        seed = self._seed if seed is None else seed
        def accuracy(logits):
            return (logits.argmax(-1) == self.labels).float().mean().item()

        now, raw = self.logits[self._key("perceiver", pixels, seed, positions)], self.logits[("perceiver", "raw", None)]
        shown = self.images[image:image + 1]
        if pixels == "permuted":
            shown = permute_pixels(shown, self.perms[seed])
        state = {"image": shown[0, 0].numpy(), "label": int(self.labels[image]),
                 "perceiver_logits": now[image].numpy(), "perceiver_raw_logits": raw[image].numpy(),
                 "max_logit_change": (now - raw).abs().max().item(),
                 "perceiver_accuracy": accuracy(now), "perceiver_raw_accuracy": accuracy(raw)}
        if self.cnn is not None:
            cnn_now, cnn_raw = self.logits[self._key("cnn", pixels, seed, positions)], self.logits[("cnn", "raw", None)]
            state.update(cnn_logits=cnn_now[image].numpy(), cnn_accuracy=accuracy(cnn_now),
                         cnn_raw_accuracy=accuracy(cnn_raw))
        return state

    def _name(self, k: int) -> str:
        return self.classes[k] if self.classes is not None else str(k)

    def draw(self, fig, state, *, image, pixels, positions, seed=None) -> None:
        seed = self._seed if seed is None else seed
        fig.set_size_inches(11, 3.4)
        img_ax, prob_ax, acc_ax = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1.6, 1.6]})
        img_ax.imshow(state["image"], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        img_ax.set_title(f"what the models get\n({'permuted, seed ' + str(seed) if pixels == 'permuted' else 'raw'}; "
                         f"label {self._name(state['label'])})", fontsize=9)
        img_ax.set_xlabel("column (pixels)")
        img_ax.set_ylabel("row (pixels)")
        classes = np.arange(len(state["perceiver_logits"]))
        softmax = lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum()  # noqa: E731
        prob_ax.bar(classes - 0.2, 100 * softmax(state["perceiver_raw_logits"]), 0.4, color="lightgrey",
                    label="Perceiver, raw image")
        prob_ax.bar(classes + 0.2, 100 * softmax(state["perceiver_logits"]), 0.4, color="tab:blue",
                    label="Perceiver, as shown")
        prob_ax.set_xticks(classes)
        prob_ax.set_xlabel("class")
        prob_ax.set_ylabel("probability (%)")
        prob_ax.set_ylim(0, 110)
        prob_ax.set_title(f"max |logit change| over all {len(self.labels)} images: {state['max_logit_change']:.1e}",
                          fontsize=9)
        prob_ax.legend(fontsize=7, loc="upper right")
        names = ["Perceiver\nraw", "Perceiver\nas shown"]
        values = [state["perceiver_raw_accuracy"], state["perceiver_accuracy"]]
        if "cnn_accuracy" in state:
            names += ["CNN\nraw", "CNN\nas shown"]
            values += [state["cnn_raw_accuracy"], state["cnn_accuracy"]]
        bars = acc_ax.bar(range(len(values)), [100 * v for v in values],
                          color=["lightgrey", "tab:blue", "lightgrey", "tab:orange"][:len(values)])
        acc_ax.bar_label(bars, fmt="%.1f", fontsize=8)
        acc_ax.axhline(100 / len(classes), color="grey", ls=":", label="chance")
        acc_ax.set_xticks(range(len(values)), names, fontsize=8)
        acc_ax.set_ylim(0, 110)
        acc_ax.set_ylabel("accuracy (%)")
        acc_ax.set_title(f"accuracy on {len(self.labels)} test images", fontsize=9)
        acc_ax.legend(fontsize=7, loc="upper right")
        moved = "follow the pixels" if positions == "follow" else "stay in place"
        where = "" if pixels == "raw" else f", positions {moved}"
        fig.suptitle(f"{pixels} pixels{where}", fontsize=10)
        fig.subplots_adjust(left=0.05, right=0.98, bottom=0.2, top=0.8, wspace=0.3)
