"""The modality figures draw, with titles and labelled axes."""
import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt
import pytest
import torch

from perceiver_edu.training.fit import History
from perceiver_edu.plots.modalities import accuracy_bars, audio_attention_figure, before_after_images, loss_curves


def test_accuracy_bars_labels_every_bar():
    fig = accuracy_bars({"CNN": {"raw": 0.9, "permuted": 0.6}, "MLP": {"raw": 0.8, "permuted": 0.8}},
                        title="t", chance=0.1)
    ax = fig.axes[0]
    assert ax.get_title() == "t" and "%" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["90.0", "80.0", "60.0", "80.0"]
    plt.close(fig)
    with pytest.raises(ValueError, match="empty"):
        accuracy_bars({})


def test_loss_curves_and_images_and_audio_figures():
    fig = loss_curves({"a": History(losses=[3.0, 2.0, 1.0, 0.5]), "b": History(losses=[2.0] * 4)}, window=2)
    assert len(fig.axes[0].lines) == 2 and fig.axes[0].get_xlabel() == "optimizer step"
    plt.close(fig)
    fig = before_after_images(torch.rand(3, 1, 6, 6), torch.rand(3, 1, 6, 6), labels=[0, 1, 2], classes="abc")
    assert len(fig.axes) == 6
    plt.close(fig)
    fig = audio_attention_figure(torch.randn(2, 800), torch.randn(2, 10, 13), [torch.rand(2, 800), torch.rand(2, 13)],
                                 sample_rate=8000, names=["x", "y"], attention_labels=["wave", "spec"], title="t")
    assert fig.axes[-1].get_xlabel() == "time (s)" and len(fig.axes) == 6
    plt.close(fig)
