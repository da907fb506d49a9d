"""AV-MNIST (Vielzeuf et al., 2018): each spoken digit of the Free Spoken Digit Dataset paired with
an MNIST image of the same digit (chapter 10).

:func:`pair_by_label` makes the pairing deterministic (a seed); :func:`load_av_mnist` builds the
pairs from the package's readers, FSDD train with MNIST train and FSDD test with MNIST test, so no
image or recording is in both splits.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .fsdd import load_fsdd
from .mnist import load_mnist


def pair_by_label(labels: torch.Tensor, partner_labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """For each item of ``labels (N,)`` the index of a partner with the same label in ``partner_labels (P,)``.

    Deterministic given ``seed``: each class's partners are shuffled once and handed out in that
    order, cycling when a class has fewer partners than items, so partners are reused only when
    they run out.  Raises ``ValueError`` if a label has no partner.
    """
    labels, partner_labels = torch.as_tensor(labels).long(), torch.as_tensor(partner_labels).long()
    if labels.dim() != 1 or partner_labels.dim() != 1:
        raise ValueError(f"labels must be 1-D, got shapes {tuple(labels.shape)} and {tuple(partner_labels.shape)}")
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(len(labels), dtype=torch.long)
    for c in labels.unique().tolist():
        items = (labels == c).nonzero().flatten()
        partners = (partner_labels == c).nonzero().flatten()
        if len(partners) == 0:
            raise ValueError(f"label {c} has {len(items)} items but no partner with the same label")
        partners = partners[torch.randperm(len(partners), generator=g)]
        out[items] = partners[torch.arange(len(items)) % len(partners)]
    return out


@dataclass
class AVMNIST:
    """Audio-visual digits: ``waveforms (N, T)`` of spoken digits with ``images (N, 1, 28, 28)`` of
    the same digits, ``labels (N,)``; ``audio_index`` / ``image_index`` say which FSDD recording and
    which MNIST image each pair was built from; ``speakers`` the FSDD speakers."""
    waveforms: torch.Tensor
    images: torch.Tensor
    labels: torch.Tensor
    audio_index: torch.Tensor
    image_index: torch.Tensor
    speakers: tuple = ()
    sample_rate: int = 8000
    classes: tuple = tuple(str(d) for d in range(10))
    name: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.waveforms[i], self.images[i], self.labels[i]

    def __repr__(self) -> str:
        return (f"AVMNIST({self.name}, n={len(self)}, waveforms {tuple(self.waveforms.shape[1:])} at "
                f"{self.sample_rate} Hz, images {tuple(self.images.shape[1:])})")


def make_av_pairs(audio, images, seed: int = 0, name: str = "") -> AVMNIST:
    """Pair every recording of an FSDD :class:`~perceiver_edu.data.fsdd.AudioDataset` with an image of
    the same digit from an MNIST :class:`~perceiver_edu.data.mnist.ImageDataset` (:func:`pair_by_label`)."""
    index = pair_by_label(audio.labels, images.labels, seed)
    if not torch.equal(images.labels[index], audio.labels):
        raise AssertionError("pairing produced mismatched labels")  # pair_by_label guarantees it
    return AVMNIST(audio.waveforms, images.images[index], audio.labels.clone(), torch.arange(len(audio.labels)), index,
                   tuple(audio.speakers), audio.sample_rate, tuple(audio.classes), name)


def load_av_mnist(split: str = "train", seed: int = 0, max_len: int | None = None) -> AVMNIST:
    """AV-MNIST ``split``: FSDD's official ``split`` (train 2,700 / test 300 recordings) paired with
    MNIST's ``split`` images of the same digits (FSDD train with MNIST train, test with test)."""
    audio = load_fsdd(split, max_len=max_len)
    images = load_mnist(split)
    return make_av_pairs(audio, images, seed, f"FSDD {split} + MNIST {split}, seed {seed}")


__all__ = ["AVMNIST", "load_av_mnist", "make_av_pairs", "pair_by_label"]
