"""The Free Spoken Digit Dataset (FSDD): spoken digits 0-9 as 8 kHz mono WAV recordings.

3,000 recordings: 6 speakers (george, jackson, lucas, nicolas, theo, yweweler) x 10 digits x 50
repetitions, named ``{digit}_{speaker}_{index}.wav``; licence CC BY-SA 4.0.  Source: the GitHub
repository `Jakobovski/free-spoken-digit-dataset <https://github.com/Jakobovski/free-spoken-digit-dataset>`_,
folder ``recordings/``.

Where the recordings are looked for, in order:

* ``$PERCEIVER_EDU_FSDD_DIR``: a directory holding ``recordings/`` (a local copy or a clone
  of the repository);
* ``<data>/fsdd`` (``<data>`` is :func:`~perceiver_edu.data.fetch.data_root`);
* otherwise they are downloaded into ``<data>/fsdd/recordings``: the repository archive first,
  then single files for whatever the archive lacked.

Every recording is checked against the sha256 pinned in ``fsdd_sha256.txt`` (shipped with the
package, in ``sha256sum`` format, one line per official recording).  Files in ``recordings/``
that the list does not name are ignored.  Each file is written into place only after its
checksum matched, so an interrupted download never leaves a partial recording behind.

Splits: the official one puts repetitions 0-4 of every speaker and digit in the test set (300)
and 5-49 in the training set (2,700).  ``held_out_speaker="theo"`` instead trains on the other
five speakers (2,500) and tests on every recording of that speaker (500): can the model
recognise a voice it never heard?

Lengths: recordings last 0.14 s to 2.28 s (median 0.42 s, 95th percentile 0.66 s).  They are
padded with zeros at the end, or cropped keeping their start, to ``max_len`` samples; the
default, 8,000 samples = 1 s, keeps all but 20 of the 3,000 recordings (0.7 %) whole and makes the
time axis easy to read.
"""
from __future__ import annotations

import io
import re
import wave
import zipfile
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import torch
from torch.utils.data import Dataset

from ..atomic import atomic_write
from .checksum import ChecksumError, sha256_of, verify_sha256
from .fetch import DatasetNotFoundError, data_root, download, local_copy

ENV_VAR = "PERCEIVER_EDU_FSDD_DIR"
SUBDIR = "fsdd"
SAMPLE_RATE = 8000
DEFAULT_LENGTH = 8000  # samples: 1 s at 8 kHz
CLASSES = tuple(str(d) for d in range(10))
SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
REPOSITORY = "https://github.com/Jakobovski/free-spoken-digit-dataset"
ARCHIVE_URLS = (REPOSITORY + "/archive/refs/heads/master.zip",)
FILE_URL = "https://raw.githubusercontent.com/Jakobovski/free-spoken-digit-dataset/master/recordings/{name}"

_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


class WAVError(ValueError):
    """A recording is not a readable 8 kHz mono 16-bit PCM WAV file."""


def pinned_checksums() -> dict[str, str]:
    """``{file name: sha256}`` of the 3,000 official recordings (the list shipped with the package)."""
    resource = resources.files(__package__).joinpath("fsdd_sha256.txt")
    if not resource.is_file():
        raise FileNotFoundError(f"the checksum list {resource} is missing from this installation of perceiver_edu "
                                f"(installed without its package data?); reinstall it from a source checkout")
    text = resource.read_text()
    out = {}
    for line in text.splitlines():
        if line.strip():
            digest, path = line.split(maxsplit=1)
            out[Path(path.lstrip("*")).name] = digest
    return out


def parse_name(name: str) -> tuple[int, str, int]:
    """``'3_theo_17.wav'`` -> ``(3, 'theo', 17)`` (digit, speaker, repetition index)."""
    m = _NAME.match(name)
    if m is None:
        raise ValueError(f"{name!r} is not an FSDD recording name of the form '{{digit}}_{{speaker}}_{{index}}.wav'")
    return int(m.group(1)), m.group(2), int(m.group(3))


def read_wav(source: str | Path | bytes, name: str | None = None, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A mono 16-bit PCM WAV file (a path, or its bytes) -> float32 samples in [-1, 1).

    Raises :class:`WAVError` naming the file if it is not a WAV file, is truncated, or is not
    ``sample_rate`` Hz, one channel, 16 bits.
    """
    if name is None:
        name = str(source) if not isinstance(source, (bytes, bytearray)) else "<bytes>"
    try:
        f = wave.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source), "rb")
    except (wave.Error, EOFError) as err:
        raise WAVError(f"{name}: not a readable WAV file ({err})") from err
    with f:
        channels, width, rate, frames = f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
        if (channels, width, rate) != (1, 2, sample_rate):
            raise WAVError(f"{name}: expected {sample_rate} Hz, 1 channel, 16-bit PCM; the file is {rate} Hz, "
                           f"{channels} channel(s), {8 * width}-bit")
        raw = f.readframes(frames)
    if len(raw) != 2 * frames:
        raise WAVError(f"{name}: truncated: the header announces {frames} samples, the file holds {len(raw) // 2}")
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write float samples in [-1, 1] as a mono 16-bit PCM WAV file (used by tests)."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())


def fetch_recordings(dest: Path, checksums: Mapping[str, str]) -> None:
    """Download the recordings named in ``checksums`` into ``dest``, each verified before it is
    renamed into place.  Raises ``OSError`` when some could not be fetched."""
    dest.mkdir(parents=True, exist_ok=True)
    todo = {n: h for n, h in checksums.items() if not (dest / n).is_file()}
    errors = []

    def put(name: str, data: bytes) -> None:
        atomic_write(dest / name, lambda tmp: Path(tmp).write_bytes(data), suffix=".part")

    for url in ARCHIVE_URLS:  # one archive of the repository
        if not todo:
            break
        archive = dest / "repository.zip"
        try:
            download(url, archive, None)  # GitHub archives are not byte-stable: check the members
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    name = member.rsplit("/", 1)[-1]
                    if "/recordings/" in "/" + member and name in todo:
                        data = zf.read(member)
                        if sha256_of(data) == todo[name]:
                            put(name, data)
                            del todo[name]
        except (OSError, zipfile.BadZipFile) as err:
            errors.append(f"{url}: {err}")
        finally:
            archive.unlink(missing_ok=True)
    if todo:  # single files for what the archive lacked
        from tqdm.auto import tqdm
        for name in tqdm(sorted(todo), desc="FSDD recordings", disable=len(todo) < 50):
            try:
                download(FILE_URL.format(name=name), dest / name, todo[name])
                del todo[name]
            except OSError as err:
                errors.append(f"{FILE_URL.format(name=name)}: {err}")
                if len(errors) >= 3:  # offline or blocked: do not try 3,000 times
                    break
    if todo:
        raise OSError(f"{len(todo)} recording(s) could not be fetched ({'; '.join(errors) or 'not in the archive'})")


def locate_recordings(names: Iterable[str], checksums: Mapping[str, str], root: Path | None = None) -> Path:
    """The ``recordings/`` directory holding all of ``names``, downloading what is missing if needed."""
    names = list(names)
    local = (Path(root) if root is not None else data_root()) / SUBDIR
    candidates = [local_copy(ENV_VAR), local]
    for d in candidates:
        if d is not None and all((d / "recordings" / n).is_file() for n in names):
            return d / "recordings"
    try:
        fetch_recordings(local / "recordings", {n: checksums[n] for n in names})
        return local / "recordings"
    except OSError as err:
        looked = ", ".join(str(d / "recordings") for d in candidates if d is not None)
        missing = [n for n in names if not (local / "recordings" / n).is_file()]
        raise DatasetNotFoundError(
            f"Free Spoken Digit Dataset: {len(missing)} of the {len(names)} recordings needed (e.g. {missing[0]}) "
            f"were not found (looked in: {looked}) and could not be downloaded ({err}).\nTo get them: with internet, "
            f"call this function again (it downloads them from {REPOSITORY} into {local / 'recordings'}); or "
            f"`git clone {REPOSITORY}` and set {ENV_VAR} to the clone (the directory that holds recordings/), or to "
            f"any local copy of it."
        ) from err


class AudioDataset(Dataset):
    """Fixed-length waveforms with labels, kept in memory whole.

    ``waveforms`` (N, T) float32 in [-1, 1), zero-padded at the end; ``lengths`` (N,) int64 the
    number of real samples in each row (<= T); ``labels`` (N,) int64; ``speakers`` and ``files``
    tuples of N strings.  Items are ``(waveform (T,), label)``.
    """

    def __init__(self, waveforms, labels, speakers, lengths, files, classes=CLASSES,
                 sample_rate: int = SAMPLE_RATE, name: str = ""):
        self.waveforms = torch.as_tensor(waveforms, dtype=torch.float32)
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.lengths = torch.as_tensor(lengths, dtype=torch.long)
        self.speakers, self.files, self.classes = tuple(speakers), tuple(files), tuple(classes)
        self.sample_rate, self.name = sample_rate, name
        n = len(self.labels)
        if self.waveforms.dim() != 2 or len(self.waveforms) != n or len(self.lengths) != n \
                or len(self.speakers) != n or len(self.files) != n:
            raise ValueError(f"inconsistent AudioDataset: waveforms {tuple(self.waveforms.shape)} (expected (N, T)), "
                             f"{n} labels, {len(self.lengths)} lengths, {len(self.speakers)} speakers, "
                             f"{len(self.files)} files")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.waveforms[i], self.labels[i]

    def _take(self, idx) -> "AudioDataset":
        idx = torch.as_tensor(idx, dtype=torch.long)
        pick = idx.tolist()
        return AudioDataset(self.waveforms[idx], self.labels[idx], [self.speakers[i] for i in pick],
                            self.lengths[idx], [self.files[i] for i in pick], self.classes, self.sample_rate,
                            self.name)

    def subset(self, n: int, seed: int = 0) -> "AudioDataset":
        """A random subset of ``n`` recordings (fixed by ``seed``)."""
        return self._take(torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n])

    @property
    def duration(self) -> float:
        """Length of every row in seconds."""
        return self.waveforms.shape[1] / self.sample_rate

    def __repr__(self) -> str:
        return (f"AudioDataset({self.name}, n={len(self)}, length={self.waveforms.shape[1]} samples "
                f"= {self.duration:g} s at {self.sample_rate} Hz, speakers={sorted(set(self.speakers))})")


def select(names: Iterable[str], split: str, speakers: Iterable[str] | None = None,
           held_out_speaker: str | None = None) -> list[str]:
    """The recording names of ``split``, sorted by (digit, speaker, index).  See :func:`load_fsdd`."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    parsed = {n: parse_name(n) for n in names}
    known = sorted({s for _, s, _ in parsed.values()})
    for s in ([held_out_speaker] if held_out_speaker is not None else []) + list(speakers or []):
        if s not in known:
            raise ValueError(f"unknown speaker {s!r}; the speakers are {known}")
    keep = set(speakers) if speakers is not None else None
    out = []
    for n, (digit, speaker, index) in parsed.items():
        if held_out_speaker is None:
            in_split = (index < 5) == (split == "test")
        else:
            in_split = (speaker == held_out_speaker) == (split == "test")
        if in_split and (keep is None or speaker in keep):
            out.append(n)
    return sorted(out, key=parsed.__getitem__)


def load_fsdd(split: str = "train", speakers: Iterable[str] | None = None, max_len: int | None = None,
              held_out_speaker: str | None = None, root: Path | None = None,
              checksums: Mapping[str, str] | None = None) -> AudioDataset:
    """FSDD ``split`` as an :class:`AudioDataset` of waveforms ``(N, max_len)``.

    Args:
        split: 'train' or 'test'.
        speakers: keep only these speakers (e.g. ``["george", "theo"]``); default all.
        max_len: samples per waveform (pad with zeros at the end / crop keeping the start);
            default :data:`DEFAULT_LENGTH` = 8,000 = 1 s.
        held_out_speaker: None for the official split (repetitions 0-4 test, 5-49 train); a
            speaker's name to test on all of that speaker's recordings and train on the others'.
        root: the data directory (default :func:`~perceiver_edu.data.fetch.data_root`).
        checksums: ``{file name: sha256}`` defining the recordings; default the pinned list of the
            3,000 official recordings.
    """
    checksums = dict(checksums) if checksums is not None else pinned_checksums()
    max_len = DEFAULT_LENGTH if max_len is None else int(max_len)
    if max_len < 1:
        raise ValueError(f"max_len must be a positive number of samples, got {max_len}")
    names = select(checksums, split, speakers, held_out_speaker)
    if not names:
        raise ValueError(f"no recordings in split {split!r} for speakers={speakers}, "
                         f"held_out_speaker={held_out_speaker}")
    directory = locate_recordings(names, checksums, root)
    waveforms = np.zeros((len(names), max_len), dtype=np.float32)
    lengths, labels, who = [], [], []
    for row, name in enumerate(names):
        path = directory / name
        raw = path.read_bytes()
        verify_sha256(raw, checksums[name], str(path))
        samples = read_wav(raw, str(path))
        n = min(len(samples), max_len)
        waveforms[row, :n] = samples[:n]
        digit, speaker, _ = parse_name(name)
        lengths.append(n)
        labels.append(digit)
        who.append(speaker)
    how = f"held-out speaker {held_out_speaker}" if held_out_speaker else "official split"
    return AudioDataset(torch.from_numpy(waveforms), labels, who, lengths, names, CLASSES, SAMPLE_RATE,
                        f"FSDD {split} ({how})")


__all__ = ["AudioDataset", "ChecksumError", "WAVError", "load_fsdd", "pinned_checksums", "read_wav", "write_wav"]
