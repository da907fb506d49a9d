import json

import pytest
import torch

from perceiver_edu import ImagePerceiver, ImagePreprocess, PerceiverConfig, load_checkpoint, save_checkpoint


def tiny(num_latents=4):
    pre = ImagePreprocess(image_shape=(1, 8, 8), num_bands=2, max_freq=8.0, mean=0.3, std=0.2)
    cfg = PerceiverConfig(input_channels=pre.byte_channels, num_classes=10, num_latents=num_latents, latent_dim=8,
                          num_cross_attends=2, self_attends_per_block=1, self_heads=2)
    return ImagePerceiver(cfg, pre)


def test_save_load_roundtrip(tmp_path):
    torch.manual_seed(0)
    model = tiny()
    save_checkpoint(model, tmp_path / "ckpt", metadata={"accuracy": 0.5})
    loaded = load_checkpoint(tmp_path / "ckpt" / "model.safetensors")
    assert not loaded.training and loaded.metadata == {"accuracy": 0.5}
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(loaded(x), model.eval()(x))
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["config.json", "model.safetensors"]


def test_loading_into_other_config_names_the_mismatch(tmp_path):
    from perceiver_edu.training.checkpoint import load_weights
    save_checkpoint(tiny(num_latents=4), tmp_path)
    with pytest.raises(ValueError, match=r"num_latents: checkpoint has 4, model has 6"):
        load_weights(tiny(num_latents=6), tmp_path)


def test_missing_or_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_checkpoint(tmp_path)
    save_checkpoint(tiny(), tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="format"):
        load_checkpoint(tmp_path)


def test_atomic_write_gives_files_the_usual_permissions(tmp_path):
    import os
    import stat

    from perceiver_edu.training.checkpoint import save_checkpoint
    from perceiver_edu.training.trainer import build_model
    from perceiver_edu.training.config import TrainConfig

    old = os.umask(0o022)
    try:  # the weights too: safetensors writes a file of its own, which would keep mkstemp's 0600
        save_checkpoint(build_model(TrainConfig(num_latents=4, latent_dim=8, self_heads=2, num_bands=2)), tmp_path)
    finally:
        os.umask(old)
    for name in ("config.json", "model.safetensors"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o644, (name, oct(mode))  # readable by others, as a plain new file would be
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]  # no temporary file
