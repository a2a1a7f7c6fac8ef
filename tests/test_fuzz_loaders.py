"""Fuzzing as a test (issue 24): seeded mutants of the shipped files through the loaders.

Each round mutates one file (tests/fuzz_mutators.py: byte flips, cuts, splices, extreme
integer fields; for Keras HDF5 also the JSON config, attributes and datasets) and loads it in
this process with ``load_model`` (then the runnable chain and the NumPy reference on a few
frames) or ``load_features``. The only outcomes allowed: it loads, or an InspectorError whose
message is one line naming the file. Anything else (h5py's KeyError, numpy's ValueError, a
RecursionError...) fails the test, listing the mutants that did it and how to rebuild them.

A mutant that makes the HDF5 library loop forever inside C (as a global heap object of size 0
did) cannot be interrupted from Python: a faulthandler watchdog ends the whole run after
:data:`STUCK_S` seconds on one mutant, printing the stack; the mutant is left in pytest's tmp
folder with ``current mutant.txt`` saying what it is.

The seed is fixed, so every run tries the same mutants; ``LSTM_INSPECTOR_FUZZ_ROUNDS`` scales
the rounds (default 1: about a minute on two cores) and ``LSTM_INSPECTOR_FUZZ_SEED`` picks
another seed for a longer hunt by hand.
"""
import faulthandler
import os
import random
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import fuzz_mutators as fm
import hostile_files as hf
from lstm_inspector import load_features, load_model
from lstm_inspector.errors import InspectorError

SEED = int(os.environ.get("LSTM_INSPECTOR_FUZZ_SEED", "2024"))
SCALE = float(os.environ.get("LSTM_INSPECTOR_FUZZ_ROUNDS", "1"))
TIME_CAP_S = 90.0 * SCALE  # a slow machine tries fewer mutants rather than running long
STUCK_S = 60


def _run_model(path):
    from lstm_inspector.core.reference import run_reference

    model = load_model(path)
    try:
        chain = model.chain
    except InspectorError:
        return
    x = np.random.default_rng(0).standard_normal((5, chain[0].input_size)).astype(np.float32)
    run_reference(model, x)


def _run_features(path):
    from lstm_inspector.io.features import check_features

    check_features(load_features(path))


def _kaldi_files(folder: Path) -> dict:
    ark = hf.write_ark(folder, "seed.ark", key="utt1")
    scp = folder / "seed.scp"
    scp.write_text(f"utt1 {ark}:5\nutt2 {ark}:5[0:9]\n")
    return {"ark": ark.read_bytes(), "scp": scp.read_bytes()}


def _byte_targets(folder: Path) -> list:
    """``(label, seed bytes, file name, runner, hot bytes)`` of every byte-level target."""
    kaldi = _kaldi_files(folder)
    return [
        ("model h5", hf.DEMO_MODEL.read_bytes(), "mutant.h5", _run_model, 4096),
        ("forum h5", (hf.RESOURCES / "forum_cudnnlstm_in1_h2.h5").read_bytes(), "mutant.h5",
         _run_model, 4096),
        ("npy", hf.DEMO_NPY.read_bytes(), "mutant.npy", _run_features, 128),
        ("htk", hf.DEMO_HTK.read_bytes(), "mutant.htk", _run_features, 12),
        ("wav", hf.DEMO_WAV.read_bytes(), "mutant.wav", _run_features, 44),
        ("ark", kaldi["ark"], "mutant.ark", _run_features, 32),
        ("scp", kaldi["scp"], "mutant.scp", _run_features, None),
    ]


ROUNDS = {"model h5": 600, "forum h5": 300, "npy": 400, "htk": 300, "wav": 200, "ark": 400,
          "scp": 200, "model fields": 800}


def _check(label, path, what, run, failures):
    """Run one mutant; record it in ``failures`` unless it loaded or got a proper sentence."""
    (path.parent / "current mutant.txt").write_text(f"{label} {path.name}: {what}\n")
    faulthandler.dump_traceback_later(STUCK_S, exit=True, file=sys.__stderr__)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's overflow warnings on odd data are fine
            run(path)
    except InspectorError as exc:
        message = str(exc)
        if "\n" in message or "\r" in message or path.name not in message:
            failures.append(f"{label} ({what}): sentence not one line naming {path.name}: "
                            f"{message[:200]!r}")
    except Exception as exc:  # noqa: BLE001 - exactly what the fuzz run hunts
        failures.append(f"{label} ({what}): {type(exc).__name__}: {str(exc)[:160]}")
    finally:
        faulthandler.cancel_dump_traceback_later()


@pytest.mark.slow
def test_fuzzed_files_load_or_get_one_sentence_naming_the_file(tmp_path):
    rng = random.Random(SEED)
    failures: list = []
    tried = 0
    deadline = time.monotonic() + TIME_CAP_S
    for label, raw, name, run, hot in _byte_targets(tmp_path):
        for _ in range(int(ROUNDS[label] * SCALE)):
            if time.monotonic() > deadline:
                break
            mutant, what = fm.mutate_bytes(raw, rng, hot)
            path = tmp_path / name
            path.write_bytes(mutant)
            _check(label, path, what, run, failures)
            tried += 1
    for _ in range(int(ROUNDS["model fields"] * SCALE)):
        if time.monotonic() > deadline:
            break
        path = tmp_path / "fields.h5"
        shutil.copyfile(hf.DEMO_MODEL, path)
        what = fm.mutate_h5_fields(path, rng)
        _check("model fields", path, what, _run_model, failures)
        tried += 1
    assert tried >= 200, f"only {tried} mutants were tried before the time cap"
    assert not failures, (f"{len(failures)} of {tried} mutants (seed {SEED}) escaped as other "
                          f"exceptions:\n" + "\n".join(failures[:25]))
