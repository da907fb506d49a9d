import hashlib
import os
import wave
import zipfile
from collections import Counter

import numpy as np
import pytest
import torch

from perceiver_edu.data import DatasetNotFoundError
from perceiver_edu.data import fsdd
from perceiver_edu.data.checksum import ChecksumError


def tone(n, freq=440.0, amp=0.5):
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / 8000)


def make_recordings(directory, speakers=("alice", "bob"), digits=(0, 1, 2), indices=range(7), seed=0):
    """Tiny fake FSDD: WAVs of random lengths; returns {name: samples} and {name: sha256}."""
    rng = np.random.default_rng(seed)
    rec = directory / "recordings"
    rec.mkdir(parents=True, exist_ok=True)
    samples, sums = {}, {}
    for d in digits:
        for s in speakers:
            for i in indices:
                name = f"{d}_{s}_{i}.wav"
                x = rng.uniform(-0.9, 0.9, int(rng.integers(40, 120)))
                fsdd.write_wav(rec / name, x)
                samples[name] = x
                sums[name] = hashlib.sha256((rec / name).read_bytes()).hexdigest()
    return samples, sums


def test_wav_roundtrip(tmp_path):
    x = tone(300)
    fsdd.write_wav(tmp_path / "a.wav", x)
    y = fsdd.read_wav(tmp_path / "a.wav")
    assert y.dtype == np.float32 and y.shape == (300,)
    np.testing.assert_allclose(y, x, atol=1e-4)  # 16-bit quantisation
    np.testing.assert_array_equal(fsdd.read_wav((tmp_path / "a.wav").read_bytes()), y)


def write_raw_wav(path, rate=8000, channels=1, width=2, n=100):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(b"\x01" * (n * channels * width))


@pytest.mark.parametrize("kw, says", [({"rate": 16000}, "16000 Hz"), ({"channels": 2}, "2 channel"),
                                      ({"width": 1}, "8-bit")])
def test_wav_wrong_format_names_the_file(tmp_path, kw, says):
    path = tmp_path / "bad.wav"
    write_raw_wav(path, **kw)
    with pytest.raises(fsdd.WAVError) as info:
        fsdd.read_wav(path)
    assert str(path) in str(info.value) and says in str(info.value) and "8000 Hz" in str(info.value)


def test_wav_garbage_and_truncation(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"definitely not a wav file")
    with pytest.raises(fsdd.WAVError, match="junk.wav: not a readable WAV"):
        fsdd.read_wav(tmp_path / "junk.wav")
    fsdd.write_wav(tmp_path / "ok.wav", tone(200))
    raw = (tmp_path / "ok.wav").read_bytes()
    with pytest.raises(fsdd.WAVError, match="truncated"):
        fsdd.read_wav(raw[:-50], "cut.wav")


def test_parse_name():
    assert fsdd.parse_name("3_theo_17.wav") == (3, "theo", 17)
    with pytest.raises(ValueError, match="digit"):
        fsdd.parse_name("theo_3.wav")


def test_pinned_checksums_describe_the_official_dataset():
    sums = fsdd.pinned_checksums()
    assert len(sums) == 3000 and all(len(h) == 64 for h in sums.values())
    parsed = [fsdd.parse_name(n) for n in sums]
    assert Counter(s for _, s, _ in parsed) == {s: 500 for s in fsdd.SPEAKERS}
    assert Counter(d for d, _, _ in parsed) == {d: 300 for d in range(10)}
    assert {i for _, _, i in parsed} == set(range(50))


def test_splits():
    sums = fsdd.pinned_checksums()
    train, test = fsdd.select(sums, "train"), fsdd.select(sums, "test")
    assert len(train) == 2700 and len(test) == 300 and not set(train) & set(test)
    assert all(fsdd.parse_name(n)[2] < 5 for n in test)
    held_train = fsdd.select(sums, "train", held_out_speaker="theo")
    held_test = fsdd.select(sums, "test", held_out_speaker="theo")
    assert len(held_test) == 500 and {fsdd.parse_name(n)[1] for n in held_test} == {"theo"}
    assert len(held_train) == 2500 and "theo" not in {fsdd.parse_name(n)[1] for n in held_train}
    two = fsdd.select(sums, "test", speakers=["george", "lucas"])
    assert len(two) == 100 and {fsdd.parse_name(n)[1] for n in two} == {"george", "lucas"}
    assert [fsdd.parse_name(n) for n in test] == sorted(fsdd.parse_name(n) for n in test)
    with pytest.raises(ValueError, match="unknown speaker 'zoe'"):
        fsdd.select(sums, "train", held_out_speaker="zoe")
    with pytest.raises(ValueError, match="split"):
        fsdd.select(sums, "valid")


def test_load_from_mirror_dir_pads_crops_and_labels(tmp_path, monkeypatch):
    samples, sums = make_recordings(tmp_path / "mirror")
    monkeypatch.setenv(fsdd.ENV_VAR, str(tmp_path / "mirror"))
    ds = fsdd.load_fsdd("test", max_len=80, root=tmp_path / "nothing", checksums=sums)
    assert len(ds) == 3 * 2 * 5 and ds.waveforms.shape == (30, 80) and ds.waveforms.dtype == torch.float32
    for row, name in enumerate(ds.files):
        x = samples[name]
        n = min(len(x), 80)
        assert ds.lengths[row] == n
        np.testing.assert_allclose(ds.waveforms[row, :n].numpy(), x[:n], atol=1e-4)  # 16-bit quantisation
        assert (ds.waveforms[row, n:] == 0).all()
        digit, speaker, _ = fsdd.parse_name(name)
        assert ds.labels[row] == digit and ds.speakers[row] == speaker
        assert ds[row][1] == digit
    train = fsdd.load_fsdd("train", checksums=sums)
    assert train.waveforms.shape == (12, fsdd.DEFAULT_LENGTH) and train.duration == 1.0
    held = fsdd.load_fsdd("test", held_out_speaker="bob", checksums=sums)
    assert set(held.speakers) == {"bob"} and len(held) == 21
    sub = ds.subset(7, seed=1)
    assert len(sub) == 7 and sub.waveforms.shape == (7, 80)
    i = ds.files.index(sub.files[0])
    assert torch.equal(sub.waveforms[0], ds.waveforms[i]) and sub.speakers[0] == ds.speakers[i]


def test_checksum_mismatch_names_the_file(tmp_path, monkeypatch):
    _, sums = make_recordings(tmp_path)
    monkeypatch.setenv(fsdd.ENV_VAR, str(tmp_path))
    victim = tmp_path / "recordings" / "1_bob_3.wav"
    fsdd.write_wav(victim, tone(90))
    with pytest.raises(ChecksumError, match="1_bob_3.wav: sha256"):
        fsdd.load_fsdd("test", checksums=sums)


def test_wrong_sample_rate_in_dataset_names_the_file(tmp_path, monkeypatch):
    _, sums = make_recordings(tmp_path, speakers=("alice",), digits=(0,), indices=range(2))
    bad = tmp_path / "recordings" / "0_alice_1.wav"
    fsdd.write_wav(bad, tone(100), sample_rate=16000)
    sums["0_alice_1.wav"] = hashlib.sha256(bad.read_bytes()).hexdigest()
    monkeypatch.setenv(fsdd.ENV_VAR, str(tmp_path))
    with pytest.raises(fsdd.WAVError, match="0_alice_1.wav: expected 8000 Hz.*16000 Hz"):
        fsdd.load_fsdd("test", checksums=sums)


def test_missing_dataset_error_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PERCEIVER_EDU_OFFLINE", "1")
    monkeypatch.delenv(fsdd.ENV_VAR, raising=False)
    with pytest.raises(DatasetNotFoundError) as info:
        fsdd.load_fsdd("test", root=tmp_path)
    msg = str(info.value)
    assert "300 recordings" in msg and fsdd.ENV_VAR in msg and fsdd.REPOSITORY in msg and "git clone" in msg
    assert str(tmp_path / "fsdd" / "recordings") in msg and "downloads are disabled" in msg


def test_download_archive_then_single_files(tmp_path, monkeypatch):
    src = tmp_path / "upstream"
    samples, sums = make_recordings(src, speakers=("alice",), digits=(0, 1), indices=range(3))
    names = sorted(sums)
    # the archive holds all but two recordings, one of them with the wrong content
    with zipfile.ZipFile(tmp_path / "repo.zip", "w") as zf:
        for n in names[2:]:
            zf.write(src / "recordings" / n, f"repo-master/recordings/{n}")
        zf.writestr(f"repo-master/recordings/{names[0]}", b"RIFF garbage")
        zf.writestr("repo-master/README.md", "not a recording")
    monkeypatch.setattr(fsdd, "ARCHIVE_URLS", ((tmp_path / "repo.zip").as_uri(),))
    monkeypatch.setattr(fsdd, "FILE_URL", (src / "recordings").as_uri() + "/{name}")
    monkeypatch.delenv("PERCEIVER_EDU_OFFLINE", raising=False)
    monkeypatch.delenv(fsdd.ENV_VAR, raising=False)
    root = tmp_path / "data"
    ds = fsdd.load_fsdd("test", root=root, checksums=sums)
    assert len(ds) == 6
    assert sorted(os.listdir(root / "fsdd" / "recordings")) == names  # nothing partial, no archive left
    for n in names:
        assert (root / "fsdd" / "recordings" / n).read_bytes() == (src / "recordings" / n).read_bytes()


def test_download_failure_leaves_no_partial_files(tmp_path, monkeypatch):
    src = tmp_path / "upstream"
    _, sums = make_recordings(src, speakers=("alice",), digits=(0,), indices=range(2))
    sums["0_alice_0.wav"] = "0" * 64  # upstream content no longer matches the pinned list
    monkeypatch.setattr(fsdd, "ARCHIVE_URLS", ((tmp_path / "missing.zip").as_uri(),))
    monkeypatch.setattr(fsdd, "FILE_URL", (src / "recordings").as_uri() + "/{name}")
    monkeypatch.delenv("PERCEIVER_EDU_OFFLINE", raising=False)
    monkeypatch.delenv(fsdd.ENV_VAR, raising=False)
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch"):
        fsdd.load_fsdd("test", root=tmp_path / "data", checksums=sums)
    assert os.listdir(tmp_path / "data" / "fsdd" / "recordings") == ["0_alice_1.wav"]


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_len"):
        fsdd.load_fsdd("test", max_len=0)
    with pytest.raises(ValueError, match="unknown speaker"):
        fsdd.load_fsdd("test", speakers=["nobody"])


@pytest.mark.needs_data("fsdd")
def test_real_mirror_official_test_split():
    ds = fsdd.load_fsdd("test")
    assert ds.waveforms.shape == (300, fsdd.DEFAULT_LENGTH) and ds.sample_rate == 8000
    assert torch.bincount(ds.labels).tolist() == [30] * 10
    assert Counter(ds.speakers) == {s: 50 for s in fsdd.SPEAKERS}
    assert ds.waveforms.abs().max() <= 1 and (ds.lengths > 0).all()
    assert ds.waveforms.std(dim=1).min() > 0.001  # real sound, not silence


@pytest.mark.needs_data("fsdd")
def test_real_mirror_held_out_speaker():
    ds = fsdd.load_fsdd("test", held_out_speaker="theo", max_len=4000)
    assert len(ds) == 500 and set(ds.speakers) == {"theo"} and ds.waveforms.shape == (500, 4000)
