"""The trainer: reproducible, exactly resumable, with a schedule, augmentation and checkpoints
that never use pickle.  Tiny models on small real-data subsets, so that each test takes seconds."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file

from perceiver_edu.training.checkpoint import (flatten_optimizer_state, load_training_state, save_checkpoint,
                                      save_training_state, unflatten_optimizer_state)
from perceiver_edu.data import load_fashion_mnist
from perceiver_edu.training import cli
from perceiver_edu.training import trainer as trainer_module
from perceiver_edu.training.config import TrainConfig, preset
from perceiver_edu.training.evaluation import accuracy, evaluate
from perceiver_edu.training.metrics_log import METRICS, MetricsLog, read_metrics
from perceiver_edu.training.schedule import epoch_order, lr_at
from perceiver_edu.training.trainer import build_model, random_translate, train


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    train_set = load_fashion_mnist("train").subset(192, seed=1)  # 6 steps of 32 per epoch
    test_set = load_fashion_mnist("test").subset(64, seed=1)
    return train_set, test_set


def tiny_config(**overrides) -> TrainConfig:
    base = dict(num_latents=4, latent_dim=16, num_cross_attends=2, self_attends_per_block=1, self_heads=2,
                num_bands=2, epochs=2, batch_size=32, lr=3e-3, warmup_steps=3, log_every=2, seed=3,
                device="cpu", num_threads=None)
    return TrainConfig(**{**base, **overrides})


def losses_of(config, data, **kwargs):
    seen = []
    result = train(config, progress=False, data=data, on_step=lambda step, r: seen.append((step, r["loss"])),
                   **kwargs)
    return result, seen


# --- schedule, accuracy, augmentation, data order ------------------------------------------------
def test_lr_schedule_warms_up_then_decays_to_min():
    lrs = [lr_at(s, 100, lr=1.0, warmup_steps=10, min_lr=0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # linear warm-up
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # then monotone decay
    assert lrs[55] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert lr_at(100, 100, 1.0, 10, 0.1) == pytest.approx(0.1)


def test_accuracy_counts_argmax_matches():
    logits = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert accuracy(logits, torch.tensor([1, 0, 0, 0])) == pytest.approx(0.75)


def test_random_translate_shifts_whole_images_with_zero_fill():
    images = torch.rand(16, 1, 6, 6) + 0.5  # strictly positive, so zero fill is visible
    out = random_translate(images, 2, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    for img, shifted in zip(images[:, 0], out[:, 0]):
        padded = torch.nn.functional.pad(img, (2, 2, 2, 2))
        windows = [padded[r:r + 6, c:c + 6] for r in range(5) for c in range(5)]
        assert any(torch.equal(shifted, w) for w in windows), "not a translated crop of the padded image"
    assert not torch.equal(out, images)
    assert torch.equal(random_translate(images, 0, torch.Generator()), images)


def test_epoch_order_depends_only_on_seed_and_epoch():
    assert torch.equal(epoch_order(50, 1, 3), epoch_order(50, 1, 3))
    assert not torch.equal(epoch_order(50, 1, 3), epoch_order(50, 1, 4))
    assert sorted(epoch_order(50, 1, 3).tolist()) == list(range(50))


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match="dataset"):
        TrainConfig(dataset="cifar")
    with pytest.raises(ValueError, match="min_lr"):
        TrainConfig(lr=1e-3, min_lr=1e-2)
    assert preset("cpu", epochs=1).epochs == 1 and preset("cpu").num_threads == 2
    with pytest.raises(ValueError, match="preset"):
        preset("tpu")


@pytest.mark.needs_data("fashion-mnist")
def test_cuda_request_without_cuda_is_a_clear_error(data):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="no CUDA"):
        train(tiny_config(device="cuda"), progress=False, data=data)


# --- optimizer state without pickle ----------------------------------------------------------------
def test_optimizer_state_roundtrip_without_pickle(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.95))
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
    tensors, json_part = flatten_optimizer_state(opt.state_dict())
    json.dumps(json_part)  # plain JSON
    restored = unflatten_optimizer_state(tensors, json.loads(json.dumps(json_part)))
    opt2 = torch.optim.AdamW(model.parameters(), lr=1.0)
    opt2.load_state_dict(restored)
    assert opt2.param_groups[0]["betas"] == (0.8, 0.95) and opt2.param_groups[0]["lr"] == 1e-2
    for p in model.parameters():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(opt2.state[p][key], opt.state[p][key])


@pytest.mark.needs_data("fashion-mnist")
def test_training_state_files_must_agree(tmp_path, data):
    model = build_model(tiny_config(), data[0])
    opt = torch.optim.AdamW(model.parameters())
    save_checkpoint(model, tmp_path, metadata={"step": 5})
    save_training_state(tmp_path, opt, {"step": 5}, {"rng.torch": torch.get_rng_state()})
    state, tensors = load_training_state(tmp_path)
    assert state["step"] == 5 and torch.equal(tensors["rng.torch"], torch.get_rng_state())
    save_checkpoint(model, tmp_path, metadata={"step": 6})  # as if a crash happened before the rest
    with pytest.raises(ValueError, match="different steps"):
        load_training_state(tmp_path)
    with pytest.raises(FileNotFoundError, match="training state"):
        load_training_state(tmp_path / "nothing")


def test_metrics_log_starts_afresh_or_keeps_the_records_a_resumed_run_does_not_repeat(tmp_path):
    log = MetricsLog(tmp_path, writer=True)
    for step in (2, 4, 6):
        log.append({"split": "train", "step": step, "loss": 1.0 / step})
    assert read_metrics(tmp_path) == log.records and len(log.records) == 3
    reader = MetricsLog(tmp_path, writer=False, resume_step=4)  # another process of the job: reads only
    assert [r["step"] for r in reader.records] == [2, 4] and len(read_metrics(tmp_path)) == 3
    reader.append({"split": "train", "step": 6, "loss": 0.0})
    assert len(read_metrics(tmp_path)) == 3
    resumed = MetricsLog(tmp_path, writer=True, resume_step=4)
    assert read_metrics(tmp_path) == resumed.records == log.records[:2]
    MetricsLog(tmp_path, writer=True)  # a fresh run
    assert not (tmp_path / METRICS).exists()


# --- the trainer -----------------------------------------------------------------------------------
@pytest.mark.needs_data("fashion-mnist")
def test_same_seed_same_loss_curve(data):
    _, first = losses_of(tiny_config(epochs=1), data)
    _, second = losses_of(tiny_config(epochs=1), data)
    assert len(first) == 6 and first == second  # bitwise identical on the CPU
    _, other = losses_of(tiny_config(epochs=1, seed=4), data)
    assert other != first


@pytest.mark.needs_data("fashion-mnist")
def test_training_learns_and_logs(tmp_path, data):
    result, seen = losses_of(tiny_config(epochs=3, lr=5e-3), data, out_dir=tmp_path)
    log = read_metrics(tmp_path)
    assert log == result.history
    train_records = [r for r in log if r["split"] == "train"]
    test_records = [r for r in log if r["split"] == "test"]
    assert [r["step"] for r in test_records] == [6, 12, 18]  # evaluated at every epoch's end
    assert train_records[-1]["loss"] < train_records[0]["loss"]
    assert result.step == 18 and result.test_accuracy == test_records[-1]["acc"]
    assert result.test_accuracy == pytest.approx(evaluate(result.model, data[1], batch_size=7)["acc"], abs=1e-6)
    assert not result.model.training
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["config.json", "metrics.jsonl", "model.safetensors", "training_state.json",
                     "training_state.safetensors"]
    assert not any(p.suffix in (".pt", ".pth", ".pkl") for p in tmp_path.iterdir())


@pytest.mark.needs_data("fashion-mnist")
def test_interrupted_then_resumed_run_equals_uninterrupted(tmp_path, data):
    config = tiny_config(epochs=2, augment=True, save_every=0)
    full, full_losses = losses_of(config, data, out_dir=tmp_path / "full")

    def interrupt(step, record):
        if step == 9:  # in the middle of epoch 2, after the epoch-1 checkpoint
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, out_dir=tmp_path / "cut", progress=False, data=data, on_step=interrupt)
    state, _ = load_training_state(tmp_path / "cut")
    assert state["step"] == 9  # Ctrl-C saved the step it stopped at
    first_sitting = state["train_seconds"]
    assert first_sitting > 0
    resumed, resumed_losses = losses_of(config, data, out_dir=tmp_path / "cut", resume=True)
    assert resumed.train_seconds > first_sitting  # the run's time goes on from the first sitting's
    assert resumed.step == full.step == 12
    assert [s for s, _ in resumed_losses] == list(range(10, 13))
    assert resumed_losses == full_losses[9:]  # same batches, same augmentation, same optimizer state
    full_weights = load_file(tmp_path / "full" / "model.safetensors")
    resumed_weights = load_file(tmp_path / "cut" / "model.safetensors")
    assert all(torch.equal(full_weights[k], resumed_weights[k]) for k in full_weights)
    assert read_metrics(tmp_path / "cut") == read_metrics(tmp_path / "full")  # the log too


@pytest.mark.needs_data("fashion-mnist")
def test_a_non_finite_loss_stops_training_with_advice(data, monkeypatch):
    real = torch.nn.functional.cross_entropy
    calls = []

    def poisoned(logits, labels):  # the third step's loss is NaN (the gradient stays finite)
        calls.append(1)
        loss = real(logits, labels)
        return loss + float("nan") if len(calls) == 3 else loss

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", poisoned)
    with pytest.raises(FloatingPointError, match=r"training loss became nan by step 3; lower the learning rate"):
        train(tiny_config(epochs=1), progress=False, data=data)


@pytest.mark.needs_data("fashion-mnist")
def test_resume_with_another_config_names_the_difference(tmp_path, data):
    train(tiny_config(epochs=1), out_dir=tmp_path, progress=False, data=data)
    with pytest.raises(ValueError, match="latent_dim: saved 16, now 32"):
        train(tiny_config(epochs=1, latent_dim=32), out_dir=tmp_path, resume=True, progress=False, data=data)
    with pytest.raises(FileNotFoundError, match="no training checkpoint"):
        train(tiny_config(), out_dir=tmp_path / "empty", resume=True, progress=False, data=data)


@pytest.mark.needs_data("fashion-mnist")
def test_init_from_starts_from_the_checkpoint_weights_with_a_new_schedule(tmp_path, data):
    first = train(tiny_config(epochs=1), out_dir=tmp_path / "first", progress=False, data=data)

    # at a vanishing learning rate the fine-tuned weights are the checkpoint's: it started from them
    still = dict(epochs=1, lr=1e-12, min_lr=0.0, seed=4)
    tuned = train(tiny_config(**still, init_from=str(tmp_path / "first")), out_dir=tmp_path / "tuned",
                  progress=False, data=data)
    fresh = train(tiny_config(**still), progress=False, data=data)
    assert tuned.step == fresh.step == 6  # its own schedule: counted from step 0, not continued from the first run
    trained = {k: v.cpu() for k, v in first.model.state_dict().items()}
    assert all(torch.allclose(v.cpu(), trained[k], atol=1e-6) for k, v in tuned.model.state_dict().items())
    assert not torch.allclose(fresh.model.perceiver.latents.cpu(), trained["perceiver.latents"], atol=1e-6)
    # nothing of the checkpoint it started from was changed
    before = load_file(tmp_path / "first" / "model.safetensors")
    assert all(torch.equal(v, first.model.state_dict()[k].cpu()) for k, v in before.items())
    with pytest.raises(ValueError, match="does not fit this model's config: model.latent_dim"):
        train(tiny_config(epochs=1, latent_dim=32, init_from=str(tmp_path / "first")), progress=False, data=data)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        train(tiny_config(epochs=1, init_from=str(tmp_path / "missing")), progress=False, data=data)


@pytest.mark.needs_data("fashion-mnist")
def test_cli_trains_resumes_and_exports(tmp_path, monkeypatch, data):
    from perceiver_edu import load_checkpoint

    monkeypatch.setattr(trainer_module, "load_data", lambda config: data)
    args = ["--preset", "cpu", "--num-latents", "4", "--latent-dim", "16", "--self-heads", "2", "--num-bands", "2",
            "--epochs", "1", "--batch-size", "64", "--warmup-steps", "1", "--device", "cpu", "--no-progress",
            "--num-threads", "1", "--out", str(tmp_path / "run"), "--export", str(tmp_path / "export")]
    assert cli.main(args) == 0
    model = load_checkpoint(tmp_path / "export")
    meta = model.metadata
    assert meta["step"] == 3 and meta["dataset"] == "fashion-mnist" and 0 <= meta["test_accuracy"] <= 1
    assert "--latent-dim 16" in meta["command"]
    assert model.config.latent_dim == 16 and not (tmp_path / "export" / "training_state.json").exists()
    assert cli.main(args + ["--resume"]) == 0  # nothing left to do: finishes at once


@pytest.mark.needs_data("fashion-mnist")
def test_cli_starts_from_a_config_file(tmp_path, monkeypatch, data):
    monkeypatch.setattr(trainer_module, "load_data", lambda config: data)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(tiny_config(epochs=1).to_dict()))
    out = tmp_path / "run"
    assert cli.main(["--config", str(config_file), "--lr", "0.001", "--out", str(out), "--no-progress"]) == 0
    saved = json.loads((out / "training_state.json").read_text())["train_config"]
    assert saved == {**tiny_config(epochs=1).to_dict(), "lr": 0.001}  # the file, then the flags over it
    with pytest.raises(SystemExit, match="--config: no file .*missing.json"):
        cli.main(["--config", str(tmp_path / "missing.json")])


def test_cli_is_registered_with_the_package_command():
    import argparse

    parser = argparse.ArgumentParser()
    cli.register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--dataset", "mnist", "--augment", "--lr", "0.001", "--epochs", "2"])
    assert args.dataset == "mnist" and args.augment is True and args.lr == 0.001 and args.epochs == 2
