"""The extra speech corpora: one label table, speaker groups, snapshot reading, and nothing needed when absent.

Every test builds its own tiny git snapshot of synthetic tones; none reads a fetched corpus.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from emotion.labels import VOICE_LABELS
from emotion.voice import corpora
from training import voice_corpora


def test_one_label_table_maps_every_corpus_onto_the_seven_classes_and_calm_to_neutral():
    seven = set(VOICE_LABELS) - {"calm"}
    for corpus, table in corpora.LABEL_MAP.items():
        assert set(table.values()) <= seven, corpus
    assert corpora.LABEL_MAP["ravdess"]["calm"] == "neutral"
    assert corpora.LABEL_MAP["turev"]["sk"] == "neutral"  # TurEV-DB's calm (sakin)
    assert set(corpora.LICENCES) == set(corpora.LABEL_MAP) == {"ravdess", "tess", *corpora.EXTRA}


def test_file_names_give_label_and_speaker():
    assert voice_corpora.parse_nemo("samples/EB0_anger_12.wav") == ("anger", "EB0")
    assert voice_corpora.parse_ased("05Angry/a5-03-01-02-50.wav") == ("a", "50")
    assert voice_corpora.parse_ased("04Sad/S4-01-01-01-07.wav") == ("s", "07")  # one upper-case file
    assert voice_corpora.parse_turev("Sound Source/Calm/1157_sk_algi.wav") == ("sk", "1157")


def test_each_extra_corpus_is_one_calibration_group_and_ravdess_actors_stay_apart():
    groups = np.array([1, 2, 101, 102, 200, 205, 300, 364, 401])
    assert corpora.calibration_groups(groups).tolist() == [1, 2, 100, 100, 200, 200, 300, 300, 400]


def test_an_extra_corpus_never_prepared_is_simply_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path))
    assert all(corpora.load_extra(c) is None for c in corpora.EXTRA)


def test_subsample_is_reproducible_and_keeps_every_speaker_and_label():
    clips = [
        voice_corpora.Clip(f"b{s}{lab}{i}", f"x/{s}_{lab}_{i}.wav", lab, s)
        for s in "ABC"
        for lab in ("anger", "fear")
        for i in range(20)
    ]
    a, b = voice_corpora.subsample(clips, 30), voice_corpora.subsample(clips, 30)
    assert a == b and 24 <= len(a) <= 36
    assert {(c.speaker, c.label) for c in a} == {(c.speaker, c.label) for c in clips}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_a_snapshot_is_read_from_its_blobs_resampled_to_16k_and_duplicates_dropped(tmp_path, monkeypatch):
    repo = tmp_path / "turev"
    (repo / "Sound Source" / "Angry").mkdir(parents=True)
    (repo / "Model Output for Test Data").mkdir()
    tone = (0.3 * np.sin(2 * np.pi * 220 * np.arange(44100) / 44100)).astype(np.float32)
    sf.write(repo / "Sound Source" / "Angry" / "1157_kz_algi.wav", tone, 44100)
    sf.write(repo / "Sound Source" / "Angry" / "1157_kz_copy.wav", tone, 44100)  # the same blob twice
    sf.write(repo / "Sound Source" / "Angry" / "1234_kz_beste.wav", np.stack([tone, tone], 1) * 0.5, 44100)
    sf.write(repo / "Model Output for Test Data" / "1157_kz_algi.wav", tone, 44100)  # never read
    _git(tmp_path, "init", "-q", str(repo))
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    clips = voice_corpora.list_snapshot("turev", repo)
    assert [(c.label, c.speaker) for c in clips] == [("kz", "1157"), ("kz", "1234")]
    monkeypatch.setenv("EMOTION_CACHE_DIR", str(tmp_path / "cache"))
    paths = voice_corpora.unpack("turev", repo, clips, corpora.corpus_dir("turev"))
    x, sr = sf.read(paths[0])
    assert sr == 16000 and len(x) == pytest.approx(16000, abs=2) and x.ndim == 1
    assert corpora.mapped("turev", np.array([c.label for c in clips])).tolist() == ["angry", "angry"]
