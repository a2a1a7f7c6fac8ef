"""CLI options a user reaches for: ``--key`` picks an npz array or a Kaldi utterance."""
import subprocess
import sys

import numpy as np
import pytest

import model_files


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=240)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("options")
    model = model_files.write_cudnn_model(folder, input_size=3, units=4, seed=5).path
    rng = np.random.default_rng(1)
    first = rng.standard_normal((20, 3)).astype(np.float32)
    second = rng.standard_normal((33, 3)).astype(np.float32)
    np.savez(folder / "two.npz", first=first, second=second)
    import kaldiio

    kaldiio.save_ark(str(folder / "two.ark"), {"utt1": first, "utt2": second})
    return model, folder


@pytest.mark.parametrize("name, key", [("two.npz", "second"), ("two.ark", "utt2")])
def test_key_picks_the_array(files, name, key):
    model, folder = files
    code, out, err = run_cli("compare", model, folder / name, "--key", key,
                             "--backend", "numpy64", "--no-oracle")
    assert code == 0, err
    assert "(33 frames x 3)" in out  # the second array, not the first (20 frames)


def test_without_key_the_kaldi_note_says_how_to_pick(files):
    model, folder = files
    code, out, err = run_cli("compare", model, folder / "two.ark", "--backend", "numpy64",
                             "--no-oracle")
    assert code == 0, err
    assert "(20 frames x 3)" in out
    assert "took the first of its 2 utterances ('utt1'); pass --key <utterance id>" in out


@pytest.mark.parametrize("name", ["two.npz", "two.ark"])
def test_an_unknown_key_is_one_sentence_naming_it(files, name):
    model, folder = files
    code, out, err = run_cli("compare", model, folder / name, "--key", "nope")
    assert code == 2, out
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and "nope" in lines[0] and "Traceback" not in err


def test_an_npz_of_several_arrays_without_key_names_the_option(files):
    model, folder = files
    code, out, err = run_cli("compare", model, folder / "two.npz")
    assert code == 2, out
    assert "holds 2 arrays ('first', 'second'); pass --key <name>" in err
