"""The library's boundary: bad input is converted where its meaning is unambiguous and otherwise
refused with an error naming what was expected and what came; a failed load changes no file."""
import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import perceiver_edu as pe
from perceiver_edu import ImagePerceiver, ImagePreprocess, Perceiver, PerceiverConfig, fourier_features
from perceiver_edu.data import DatasetNotFoundError, IDXError
from perceiver_edu import data
from perceiver_edu.data import mnist as mnist_mod
from perceiver_edu.model.baselines import SmallCNN
from perceiver_edu.training.config import TrainConfig, preset
from test_checkpoint import tiny
from test_data import make_fake_split

IMAGE = (1, 8, 8)  # tiny()'s image shape


def image_with(value):
    x = torch.rand(2, *IMAGE)
    x[1, 0, 3, 4] = value
    return x


def byte_model():
    return Perceiver(PerceiverConfig(input_channels=5, num_classes=3, num_latents=4, latent_dim=8, self_heads=2,
                                     num_cross_attends=1)).eval()


# --- images into an ImagePerceiver: (input, error type, message fragment) -----------------------
BAD_IMAGES = {
    "NaN pixel": (lambda: image_with(float("nan")), ValueError, r"NaN or infinite values in the images \(example\(s\) \[1\]"),
    "inf pixel": (lambda: image_with(float("inf")), ValueError, "NaN or infinite"),
    "wrong size": (lambda: torch.rand(2, 1, 9, 9), ValueError, r"expected images of shape \(B, 1, 8, 8\), got \(2, 1, 9, 9\)"),
    "wrong channels": (lambda: torch.rand(2, 3, 8, 8), ValueError, r"expected images of shape \(B, 1, 8, 8\), got \(2, 3"),
    "no batch axis": (lambda: torch.rand(*IMAGE), ValueError, r"batch axis: images.unsqueeze\(0\)"),
    "no channel axis": (lambda: torch.rand(2, 8, 8), ValueError, r"channel axis: images.unsqueeze\(1\)"),
    "numpy array": (lambda: np.zeros((2, *IMAGE), np.float32), ValueError, "torch.from_numpy"),
    "int64 pixels": (lambda: torch.randint(0, 256, (2, *IMAGE)), ValueError, r"got torch.int64: convert them"),
    "bool pixels": (lambda: torch.rand(2, *IMAGE) > 0.5, ValueError, "got torch.bool"),
}


@pytest.mark.parametrize("case", sorted(BAD_IMAGES))
def test_bad_images_are_refused(case):
    make, error, fragment = BAD_IMAGES[case]
    with pytest.raises(error, match=fragment):
        tiny().eval()(make())


def test_uint8_and_float64_images_are_converted():
    model = tiny().eval()
    pixels = torch.randint(0, 256, (3, *IMAGE), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(model(pixels), model(pixels.float() / 255))  # uint8 0-255 means /255
        x = torch.rand(3, *IMAGE)
        torch.testing.assert_close(model(x.double()), model(x))  # float64 -> the model's float32
        assert torch.equal(pe.image_to_bytes(pixels, 2, 8.0), pe.image_to_bytes(pixels.float() / 255, 2, 8.0))
    with pytest.raises(ValueError, match="got torch.int32"):
        pe.image_to_bytes(pixels.int(), 2, 8.0)


# --- byte arrays and masks into a Perceiver ------------------------------------------------------
def nan_bytes():
    x = torch.rand(2, 6, 5)
    x[0, 2, 1] = float("nan")
    return x


BAD_BYTE_ARRAYS = {
    "integer bytes": (lambda: (torch.randint(0, 9, (2, 6, 5)), None), ValueError, "expected a float byte array"),
    "NaN bytes": (lambda: (nan_bytes(), None), ValueError, r"NaN or infinite values in the byte array \(example\(s\) \[0\]"),
    "wrong channels": (lambda: (torch.rand(2, 6, 4), None), ValueError, "expects input_channels=5"),
    "image, not bytes": (lambda: (torch.rand(2, 1, 6, 5), None), ValueError, "use image_to_bytes"),
    "no elements": (lambda: (torch.rand(2, 0, 5), None), ValueError, "M=0"),
    "a list": (lambda: ([[0.0] * 5], None), TypeError, "got list"),
    "float mask": (lambda: (torch.rand(2, 6, 5), torch.ones(2, 6)), ValueError, "input_mask must be a bool tensor"),
    "mask shape": (lambda: (torch.rand(2, 6, 5), torch.ones(2, 5, dtype=torch.bool)), ValueError, r"\(B, M\) = \(2, 6\)"),
    "empty example": (lambda: (torch.rand(2, 6, 5), torch.tensor([[True] * 6, [False] * 6])), ValueError,
                      r"masks out every input of example\(s\) \[1\]"),
}


@pytest.mark.parametrize("case", sorted(BAD_BYTE_ARRAYS))
def test_bad_byte_arrays_and_masks_are_refused(case):
    make, error, fragment = BAD_BYTE_ARRAYS[case]
    x, mask = make()
    with pytest.raises(error, match=fragment):
        byte_model()(x, input_mask=mask)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_other_float_byte_arrays_are_converted_to_the_models_dtype(dtype):
    model, x = byte_model(), torch.rand(2, 6, 5)
    y = x.to(dtype)
    with torch.no_grad():
        # the same as converting by hand; the user's tensor is left as it was
        assert torch.equal(model(y), model(y.float()))
    assert y.dtype == dtype


def test_another_float_dtype_is_accepted_under_autocast():
    x = torch.rand(2, 6, 5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert byte_model()(x.bfloat16()).shape == (2, 3)


# --- positions -------------------------------------------------------------------------------------
@pytest.mark.parametrize("pos, fragment", [
    (torch.tensor([[0.5], [1.5]]), r"\[-1, 1\].*\|x\| up to 1.5"),
    (torch.tensor([[0.0], [float("nan")]]), "non-finite"),
    (torch.tensor([[-1.0], [-float("inf")]]), "non-finite"),
    (torch.arange(4)[:, None], "float tensor"),
])
def test_positions_outside_the_unit_range_are_refused(pos, fragment):
    with pytest.raises(ValueError, match=fragment):
        fourier_features(pos, 2, 8.0)


def test_positions_within_rounding_of_the_range_pass_and_the_check_can_be_turned_off():
    edge = torch.tensor([[1.0 + 1e-6], [-1.0 - 1e-6]])
    assert fourier_features(edge, 2, 8.0).shape == (2, 5)
    far = torch.tensor([[3.0]])
    got = fourier_features(far, 2, 8.0, check_range=False)  # the formula, naively
    freqs = torch.tensor([1.0, 4.0])
    want = torch.cat([torch.sin(3 * freqs * torch.pi), torch.cos(3 * freqs * torch.pi), torch.tensor([3.0])])
    torch.testing.assert_close(got[0], want)


# --- configs -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, fragment", [
    (lambda: PerceiverConfig(input_channels=5, num_classes=3, latent_dim=10, self_heads=4), "divisible by self_heads"),
    (lambda: PerceiverConfig(input_channels=0, num_classes=3), "input_channels must be >= 1"),
    (lambda: ImagePerceiver(PerceiverConfig(input_channels=7, num_classes=3), ImagePreprocess(num_bands=2)),
     "input_channels=7 does not match the image preprocessing, which produces 11"),
])
def test_bad_model_configs_are_refused(make, fragment):
    with pytest.raises(ValueError, match=fragment):
        make()


# --- checkpoints: each failure leaves the files byte-identical ----------------------------------
def digest(directory: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


class Touch:
    """Unpickling this object would create ``path``: proof that a file was never unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def truncate(d):
    (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:1000])


def edit_config(d, change):
    config = json.loads((d / "config.json").read_text())
    change(config)
    (d / "config.json").write_text(json.dumps(config))


def other_model_weights(d):
    save_file({k: v.contiguous() for k, v in SmallCNN().state_dict().items()}, d / "model.safetensors")


BAD_CHECKPOINTS = {
    "missing weights": (lambda d: (d / "model.safetensors").unlink(), FileNotFoundError, "model.safetensors is missing"),
    "missing config": (lambda d: (d / "config.json").unlink(), FileNotFoundError, "config.json is missing"),
    "truncated weights": (truncate, ValueError, r"model.safetensors: not a readable safetensors file .*truncated"),
    "garbage weights": (lambda d: (d / "model.safetensors").write_bytes(b"\x07" * 64), ValueError, "truncated or corrupt"),
    "corrupt JSON": (lambda d: (d / "config.json").write_text('{"format": '), ValueError, "config.json: not valid JSON"),
    "JSON list": (lambda d: (d / "config.json").write_text("[1, 2]"), ValueError, "expected a JSON object"),
    "other format": (lambda d: edit_config(d, lambda c: c.update(format="other/2")), ValueError, "format 'other/2'"),
    "invalid config value": (lambda d: edit_config(d, lambda c: c["model"].update(latent_dim=0)), ValueError,
                             "config is not valid .*latent_dim must be >= 1"),
    "unknown config field": (lambda d: edit_config(d, lambda c: c["model"].update(colour="red")), ValueError,
                             "config is not valid .*colour"),
    "config does not match weights": (lambda d: edit_config(d, lambda c: c["model"].update(num_latents=6)), ValueError,
                                      r"does not match its config.json .*perceiver.latents: file has shape \(4, 8\), "
                                      r"config gives \(6, 8\)"),
    "another model's weights": (other_model_weights, ValueError, "holds the weights of another model"),
    "torch.save file": (lambda d: torch.save({"w": torch.zeros(2)}, d / "model.safetensors"), ValueError,
                        r"zip archive \(torch.save's format.*never unpickles"),
}


@pytest.mark.parametrize("case", sorted(BAD_CHECKPOINTS))
def test_bad_checkpoints_are_refused_and_left_unchanged(case, tmp_path):
    spoil, error, fragment = BAD_CHECKPOINTS[case]
    pe.save_checkpoint(tiny(), tmp_path / "ckpt")
    spoil(tmp_path / "ckpt")
    before = digest(tmp_path / "ckpt")
    with pytest.raises(error, match=fragment):
        pe.load_checkpoint(tmp_path / "ckpt")
    assert digest(tmp_path / "ckpt") == before


def test_a_pickle_named_model_safetensors_is_never_unpickled(tmp_path):
    pe.save_checkpoint(tiny(), tmp_path)
    marker = tmp_path / "unpickled"
    (tmp_path / "model.safetensors").write_bytes(pickle.dumps(Touch(marker), protocol=4))
    before = digest(tmp_path)
    with pytest.raises(ValueError, match="is a Python pickle, not a safetensors file"):
        pe.load_checkpoint(tmp_path)
    assert not marker.exists() and digest(tmp_path) == before


def test_missing_checkpoint_and_unknown_shipped_model(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*nowhere"):
        pe.load_checkpoint(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"no shipped model named 'cifar'; the shipped models are \['fashion-mnist'\]"):
        pe.pretrained("cifar")


# --- dataset files: each failure names the file and leaves it as it was ------------------------
def test_truncated_or_foreign_dataset_files_are_refused_and_left_unchanged(tmp_path, monkeypatch):
    make_fake_split(tmp_path)
    monkeypatch.setenv("PERCEIVER_EDU_MNIST_DIR", str(tmp_path))
    before = digest(tmp_path)
    with pytest.raises(IDXError, match=r"t10k-images-idx3-ubyte.gz: sha256 of the content is"):
        mnist_mod.load_mnist("test")  # valid IDX files, but not the official content
    cut = tmp_path / "t10k-images-idx3-ubyte.gz"
    cut.write_bytes(cut.read_bytes()[:100])
    before = digest(tmp_path)
    with pytest.raises(IDXError, match="t10k-images-idx3-ubyte.gz: cannot read IDX file .*corrupt or truncated"):
        mnist_mod.load_mnist("test")
    assert digest(tmp_path) == before


def test_missing_dataset_and_bad_dataset_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("PERCEIVER_EDU_OFFLINE", "1")
    monkeypatch.setenv("PERCEIVER_EDU_MNIST_DIR", str(tmp_path / "empty"))
    with pytest.raises(DatasetNotFoundError, match="PERCEIVER_EDU_MNIST_DIR"):
        mnist_mod.load_mnist("test", root=tmp_path)
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        mnist_mod.load_mnist("val", root=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'cifar10'"):
        mnist_mod.load_dataset("cifar10")


# --- trainer options ---------------------------------------------------------------------------
@pytest.mark.parametrize("make, fragment", [
    (lambda: TrainConfig(epochs=0), "TrainConfig.epochs must be >= 1, got 0"),
    (lambda: TrainConfig(dataset="cifar10"), "TrainConfig.dataset must be one of"),
    (lambda: TrainConfig(lr=0.0), "need lr > 0"),
    (lambda: TrainConfig(lr=1e-3, min_lr=1e-2), "0 <= min_lr <= lr"),
    (lambda: TrainConfig(warmup_steps=-1), "TrainConfig.warmup_steps must be >= 0"),
    (lambda: TrainConfig.from_dict({"epochs": 1, "colour": "red"}), r"unknown TrainConfig fields \['colour'\]"),
    (lambda: preset("tpu"), "unknown preset 'tpu'"),
])
def test_bad_trainer_options_are_refused(make, fragment):
    with pytest.raises(ValueError, match=fragment):
        make()


@pytest.mark.parametrize("var, load", [
    ("PERCEIVER_EDU_MNIST_DIR", lambda: mnist_mod.load_mnist("test")),
    ("PERCEIVER_EDU_FSDD_DIR", lambda: data.load_fsdd("test")),
    ("PERCEIVER_EDU_MODELNET10_DIR", lambda: data.load_modelnet10("test", data="voxels")),
    ("PERCEIVER_EDU_MODELNET10_MESHES", lambda: data.load_modelnet10("test", data="auto")),
])
def test_a_local_copy_variable_naming_no_path_is_an_error_not_a_silent_fallback(var, load, tmp_path, monkeypatch):
    monkeypatch.setenv("PERCEIVER_EDU_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv(var, str(tmp_path / "typo"))
    with pytest.raises(DatasetNotFoundError, match=rf"{var} is set to '.*typo', which does not exist"):
        load()
    assert not (tmp_path / "typo").exists() and not (tmp_path / "cache").exists()
