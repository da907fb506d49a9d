"""Checkpoints: weights as safetensors plus a JSON config; never pickle (chapter 5).

A checkpoint is a directory holding

* ``model.safetensors``: the weights (safetensors cannot run code when loaded, unlike pickle);
* ``config.json``: the :class:`PerceiverConfig`, the image preprocessing and free-form metadata.

Every file is written to a temporary name and renamed into place, so a crash never leaves a
half-written checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import load_file, save_file

from ..atomic import atomic_write
from ..inputs.images import ImagePerceiver, ImagePreprocess
from ..model.perceiver import PerceiverConfig

FORMAT = "perceiver-edu/1"
WEIGHTS, CONFIG = "model.safetensors", "config.json"


def atomic_write_json(path: Path, obj) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2) + "\n"))


def save_checkpoint(model: ImagePerceiver, directory: str | Path, metadata: dict | None = None) -> Path:
    """Write ``model`` (weights + config + ``metadata``) into ``directory``; return the directory."""
    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS, lambda tmp: save_file(state, tmp, metadata={"format": FORMAT}))
    atomic_write_json(directory / CONFIG, {
        "format": FORMAT,
        "kind": "image-classifier",
        "model": model.config.to_dict(),
        "preprocess": model.preprocess.to_dict(),
        "metadata": metadata or {},
    })
    return directory


def _checkpoint_dir(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}: expected a directory holding {WEIGHTS} and {CONFIG}")
    directory = path.parent if path.is_file() else path
    for name in (WEIGHTS, CONFIG):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} is not a perceiver-edu checkpoint: {name} is missing "
                                    f"(expected {WEIGHTS} and {CONFIG} side by side)")
    return directory


def parse_checkpoint_config(text: str, where: str | Path) -> dict:
    """A checkpoint's ``config.json`` text, parsed and checked: ``ValueError`` naming ``where``
    and what is wrong unless it is a perceiver-edu image classifier with a valid model config."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: not valid JSON ({err}); the file is corrupt or was edited by hand") from err
    if not isinstance(config, dict):
        raise ValueError(f"{where}: expected a JSON object with 'format', 'model' and 'preprocess', "
                         f"got a JSON {type(config).__name__}")
    if config.get("format") != FORMAT:
        raise ValueError(f"{where}: format {config.get('format')!r} is not {FORMAT!r}")
    if config.get("kind", "image-classifier") != "image-classifier":
        raise ValueError(f"{where}: kind {config.get('kind')!r} is not 'image-classifier'")
    for part in ("model", "preprocess"):
        if not isinstance(config.get(part), dict):
            raise ValueError(f"{where}: expected an object under {part!r}, got {config.get(part)!r}")
    try:
        PerceiverConfig.from_dict(config["model"])
        ImagePreprocess(**config["preprocess"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: the model or preprocess config is not valid ({err})") from err
    return config


def read_checkpoint_config(path: str | Path) -> dict:
    """The parsed and checked ``config.json`` of a checkpoint directory (or of one of its files)."""
    config_path = _checkpoint_dir(path) / CONFIG
    return parse_checkpoint_config(config_path.read_text(), config_path)


PICKLE_SIGNATURES = {b"\x80": "a Python pickle", b"PK\x03\x04": "a zip archive (torch.save's format: pickle inside)"}


def parse_weights(data: bytes, where: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of safetensors ``data`` read from ``where``.  A pickle (or a ``torch.save`` zip)
    is recognised by its first bytes and refused without being unpickled; a truncated or corrupt
    file gives a ``ValueError`` naming ``where``."""
    safetensors_like = data[8:9] == b"{"  # a u64 header length, then the JSON header
    for signature, what in PICKLE_SIGNATURES.items():
        if data.startswith(signature) and not safetensors_like:
            raise ValueError(f"{where} is {what}, not a safetensors file; perceiver-edu never unpickles files "
                             f"(unpickling can run any code).  If you trust its origin, load it with torch and "
                             f"write it again with save_checkpoint()")
    try:
        return safetensors_load(data)
    except SafetensorError as err:
        raise ValueError(f"{where}: not a readable safetensors file ({err}); it is truncated or corrupt "
                         f"({len(data)} bytes): copy or export it again") from err


def check_weights_fit(model: ImagePerceiver, state: dict[str, torch.Tensor], where: str | Path) -> None:
    """``ValueError`` unless ``state`` has exactly ``model``'s tensor names and shapes."""
    want = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    have = {name: tuple(t.shape) for name, t in state.items()}
    if not set(want) & set(have):
        raise ValueError(f"{where} holds the weights of another model: none of its {len(have)} tensor names "
                         f"({', '.join(sorted(have)[:3])}, ...) is one of this model's "
                         f"({', '.join(sorted(want)[:3])}, ...)")
    problems = ([f"missing {name}" for name in sorted(set(want) - set(have))]
                + [f"unexpected {name}" for name in sorted(set(have) - set(want))]
                + [f"{name}: file has shape {have[name]}, config gives {want[name]}"
                   for name in sorted(set(want) & set(have)) if want[name] != have[name]])
    if problems:
        raise ValueError(f"{where} does not match its {CONFIG} ({len(problems)} difference(s): "
                         f"{'; '.join(problems[:5])}{'; ...' if len(problems) > 5 else ''}); the two files come "
                         f"from different models")


def load_weights(model: ImagePerceiver, path: str | Path) -> ImagePerceiver:
    """Load a checkpoint's weights into an existing model whose config must be the same."""
    directory = _checkpoint_dir(path)
    saved = read_checkpoint_config(directory)
    # How the cross-attends are computed is not part of the weights: any path loads any checkpoint.
    theirs = {"model": PerceiverConfig.from_dict(saved["model"]).to_dict(), "preprocess": saved["preprocess"]}
    ours = {"model": model.config.to_dict(), "preprocess": model.preprocess.to_dict()}
    diffs = [f"{part}.{key}: checkpoint has {theirs[part].get(key)!r}, model has {value!r}"
             for part in ("model", "preprocess") for key, value in ours[part].items()
             if theirs[part].get(key) != value and key not in PerceiverConfig.COMPUTATION_ONLY]
    if diffs:
        raise ValueError(f"checkpoint {directory} does not fit this model's config: " + "; ".join(diffs))
    state = parse_weights((directory / WEIGHTS).read_bytes(), directory / WEIGHTS)
    check_weights_fit(model, state, directory / WEIGHTS)
    model.load_state_dict(state)
    return model


def model_from_files(config_text: str, weights: bytes, where: str | Path,
                     device: str | torch.device = "cpu") -> ImagePerceiver:
    """A ready model in eval mode from the contents of ``config.json`` and ``model.safetensors``
    (read from ``where``, named in every error); everything is checked before any weight is copied."""
    config = parse_checkpoint_config(config_text, Path(where) / CONFIG)
    model = ImagePerceiver(PerceiverConfig.from_dict(config["model"]), ImagePreprocess(**config["preprocess"]))
    state = parse_weights(weights, Path(where) / WEIGHTS)
    check_weights_fit(model, state, Path(where) / WEIGHTS)
    model.load_state_dict(state)
    model.metadata = config.get("metadata", {})
    return model.to(device).eval()


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> ImagePerceiver:
    """A ready model in eval mode: images ``(B, C, H, W)`` (floats in [0, 1] or uint8) -> logits.

    ``path`` is a checkpoint directory or one of its two files.  The files are only read: a
    failed load leaves them as they were.  The shipped models: :func:`perceiver_edu.pretrained`.
    """
    directory = _checkpoint_dir(path)
    return model_from_files((directory / CONFIG).read_text(), (directory / WEIGHTS).read_bytes(), directory, device)


# --- Training state, for resuming an interrupted run exactly ------------------------------------
#
# A training checkpoint is a model checkpoint (above) plus two more files in the same directory:
#
# * ``training_state.safetensors``: every tensor of the optimizer state (Adam's moments and step
#   counters) and the random-number-generator states, as flat named tensors;
# * ``training_state.json``: everything else (the caller's state: the trainer saves the step, its
#   training config and its log window; the optimizer's hyper-parameters), as plain JSON.
#
# Both carry the step they were written at, so a crash between the writes is detected on load.

TRAIN_FORMAT = "perceiver-edu-train/1"
TRAIN_TENSORS, TRAIN_STATE = "training_state.safetensors", "training_state.json"


def flatten_optimizer_state(state_dict: dict) -> tuple[dict, dict]:
    """Split ``optimizer.state_dict()`` into ``(tensors, json_part)``; no pickle needed.

    Tensors are named ``optimizer.state.<param index>.<key>``; non-tensor per-parameter values and
    the ``param_groups`` (hyper-parameters) go to the JSON part.  Tuples (Adam's ``betas``) are
    remembered by name so that :func:`unflatten_optimizer_state` gives them back as tuples.
    """
    tensors, scalars = {}, {}
    for index, param_state in state_dict["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.state.{int(index)}.{key}"] = value.detach().contiguous().cpu()
            else:
                scalars.setdefault(str(int(index)), {})[key] = value
    groups, tuple_keys = [], set()
    for group in state_dict["param_groups"]:
        plain = {}
        for key, value in group.items():
            if isinstance(value, tuple):
                tuple_keys.add(key)
                value = list(value)
            if isinstance(value, torch.Tensor):
                raise TypeError(f"optimizer param_group value {key!r} is a tensor; only scalars are supported")
            plain[key] = value
        groups.append(plain)
    return tensors, {"state_scalars": scalars, "param_groups": groups, "tuple_keys": sorted(tuple_keys)}


def unflatten_optimizer_state(tensors: dict, json_part: dict) -> dict:
    """Inverse of :func:`flatten_optimizer_state`: a dict for ``optimizer.load_state_dict``."""
    state: dict = {}
    prefix = "optimizer.state."
    for name, value in tensors.items():
        if name.startswith(prefix):
            index, key = name[len(prefix):].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for index, values in json_part.get("state_scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    tuple_keys = set(json_part.get("tuple_keys", []))
    groups = [{k: (tuple(v) if k in tuple_keys else v) for k, v in g.items()} for g in json_part["param_groups"]]
    return {"state": state, "param_groups": groups}


def save_training_state(directory: str | Path, optimizer: torch.optim.Optimizer, state: dict,
                        extra_tensors: dict | None = None) -> Path:
    """Write the optimizer, ``extra_tensors`` (e.g. RNG states) and ``state`` (JSON-able, must hold
    ``"step"``) next to a model checkpoint in ``directory``.  Each file is written atomically."""
    if "step" not in state:
        raise ValueError("training state must include 'step'")
    directory = Path(directory)
    tensors, optim_json = flatten_optimizer_state(optimizer.state_dict())
    for name, value in (extra_tensors or {}).items():
        if name.startswith("optimizer."):
            raise ValueError(f"extra tensor name {name!r} clashes with the optimizer's names")
        tensors[name] = value.detach().contiguous().cpu()
    step = str(int(state["step"]))
    atomic_write(directory / TRAIN_TENSORS,
                 lambda tmp: save_file(tensors, tmp, metadata={"format": TRAIN_FORMAT, "step": step}))
    atomic_write_json(directory / TRAIN_STATE, {"format": TRAIN_FORMAT, **state, "optimizer": optim_json})
    return directory


def has_training_state(directory: str | Path) -> bool:
    directory = Path(directory)
    return all((directory / name).is_file() for name in (WEIGHTS, CONFIG, TRAIN_TENSORS, TRAIN_STATE))


def load_training_state(directory: str | Path) -> tuple[dict, dict]:
    """``(state, tensors)`` written by :func:`save_training_state`; checks that the files agree.

    ``state["optimizer"]`` goes with ``tensors`` to :func:`unflatten_optimizer_state`.
    """
    from safetensors import safe_open

    directory = Path(directory)
    missing = [name for name in (TRAIN_TENSORS, TRAIN_STATE) if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{directory} holds no training state to resume from: {', '.join(missing)} "
                                f"missing (it is written by the trainer next to {WEIGHTS})")
    state = json.loads((directory / TRAIN_STATE).read_text())
    if state.get("format") != TRAIN_FORMAT:
        raise ValueError(f"{directory / TRAIN_STATE}: format {state.get('format')!r} is not {TRAIN_FORMAT!r}")
    with safe_open(directory / TRAIN_TENSORS, framework="pt") as f:
        tensor_step = (f.metadata() or {}).get("step")
    model_step = read_checkpoint_config(directory).get("metadata", {}).get("step")
    steps = {"training_state.json": state["step"], TRAIN_TENSORS: tensor_step, CONFIG: model_step}
    if len({str(s) for s in steps.values()}) != 1:
        raise ValueError(f"{directory}: the checkpoint files were written at different steps {steps} "
                         f"(a crash between writes?); delete the directory or resume from another")
    return state, load_file(directory / TRAIN_TENSORS, device="cpu")
