"""Draw the README's figure: what the shipped Fashion-MNIST Perceiver's latents look at.

    python docs/make_figures.py            # writes docs/attention_maps.png

One test image and the pre-softmax cross-attention scores of six latents in both cross-attends of
the shipped model ``pretrained("fashion-mnist")`` (the paper's Fig. 3, as chapter 6 draws it).  Needs Fashion-MNIST
where the readers look for it (docs/data.md); runs on the CPU in a few seconds.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from perceiver_edu import pretrained  # noqa: E402
from perceiver_edu.data.mnist import load_fashion_mnist  # noqa: E402
from perceiver_edu.plots.attention_maps import attention_maps, plot_attention_grid  # noqa: E402


def attention_figure(out: Path, index: int = 0, dpi: int = 80) -> Path:
    """Save the attention grid of test image ``index`` to ``out``; return ``out``."""
    model = pretrained("fashion-mnist")
    test = load_fashion_mnist("test")
    image, label = test[index]
    images = image.unsqueeze(0)  # (1, 1, 28, 28)
    logits, maps = attention_maps(model, images)  # (1, 10), [(1, N, M)] per cross-attend
    predicted = test.classes[int(logits.argmax(dim=-1))]
    fig = plot_attention_grid(images, maps, cross_attends=(0, 1), latents=range(6),
                              title=f"Shipped checkpoint, test image {index} ({test.classes[int(label)]}, "
                                    f"predicted {predicted}): pre-softmax scores of 6 of 32 latents")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "attention_maps.png")
    parser.add_argument("--index", type=int, default=0, help="which Fashion-MNIST test image")
    args = parser.parse_args(argv)
    path = attention_figure(args.out, index=args.index)
    print(f"{path}: {path.stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
