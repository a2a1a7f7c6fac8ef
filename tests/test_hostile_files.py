"""Hostile and damaged files (issue 24): each mutant kind gets one sentence naming the file.

Every mutant is built from the shipped files in resources/ (tests/hostile_files.py) and goes
through the Python API (InspectorError), the CLI in this process (``info``, ``compare``: exit 2,
one line on stderr, no traceback), and for a few, the real command and the GUI's
``--screenshot`` path in a fresh process. A model file must never make the tool open another
file: external and soft links are refused before they are followed.
"""
import faulthandler
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import hostile_files as hf
import model_files
from lstm_inspector import cli, load_features, load_model
from lstm_inspector.errors import InspectorError

MODEL_CASES = sorted(hf.MODEL_MUTANTS)
STUCK_S = 120  # a mutant that makes the HDF5 library loop in C ends the run, with its stack
FEATURE_CASES = sorted(hf.FEATURE_MUTANTS)


@pytest.fixture(autouse=True)
def watchdog():
    faulthandler.dump_traceback_later(STUCK_S, exit=True, file=sys.__stderr__)
    yield
    faulthandler.cancel_dump_traceback_later()


def _load_and_chain(path):
    model = load_model(path)
    return model, model.chain


def _stderr_line(capsys, path) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("lstm-inspector: ") and path.name in lines[0], err
    return lines[0]


# ---- the Python API ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", MODEL_CASES)
def test_api_refuses_each_model_mutant_in_one_sentence(case, tmp_path):
    path = hf.MODEL_MUTANTS[case](tmp_path)
    with pytest.raises(InspectorError) as info:
        _load_and_chain(path)
    assert hf.one_line_naming(str(info.value), path), str(info.value)


@pytest.mark.parametrize("case", FEATURE_CASES)
def test_api_refuses_each_feature_mutant_in_one_sentence(case, tmp_path):
    path = hf.FEATURE_MUTANTS[case](tmp_path)
    with pytest.raises(InspectorError) as info:
        load_features(path)
    assert hf.one_line_naming(str(info.value), path), str(info.value)


# ---- the CLI, in this process -----------------------------------------------------------------
@pytest.mark.parametrize("case", MODEL_CASES)
def test_cli_info_and_compare_exit_2_on_each_model_mutant(case, tmp_path, capsys):
    path = hf.MODEL_MUTANTS[case](tmp_path)
    assert cli.main(["info", str(path)]) == 2
    _stderr_line(capsys, path)
    assert cli.main(["compare", str(path), str(hf.DEMO_NPY), "--backend", "numpy64"]) == 2
    _stderr_line(capsys, path)


@pytest.mark.parametrize("case", FEATURE_CASES)
def test_cli_compare_exits_2_on_each_feature_mutant(case, tmp_path, capsys):
    path = hf.FEATURE_MUTANTS[case](tmp_path)
    assert cli.main(["compare", str(hf.DEMO_MODEL), str(path), "--backend", "numpy64"]) == 2
    _stderr_line(capsys, path)


# ---- what is specific to some mutants ---------------------------------------------------------
def test_a_link_out_of_the_file_is_refused_even_where_following_it_would_work(tmp_path):
    """The kernel is an external link to a good kernel in another HDF5 file: h5py would read it
    without complaint, so only refusing links before reading keeps the tool inside the file."""
    import h5py

    with h5py.File(hf.DEMO_MODEL, "r") as f:
        kernel = f[hf.KERNEL][()]
    other = tmp_path / "elsewhere.h5"
    with h5py.File(other, "w") as f:
        f["kernel"] = kernel
    path = hf._edit_h5(tmp_path, "points_elsewhere.h5", hf._replace_dataset(
        hf.KERNEL, lambda f, name, old: f.__setitem__(name, h5py.ExternalLink(str(other),
                                                                              "/kernel"))))
    with pytest.raises(InspectorError, match="points_elsewhere.h5 is refused: .* external link"):
        load_model(path)


@pytest.mark.parametrize("case", sorted(hf.ACCEPTED_MODEL_MUTANTS))
def test_integer_weights_are_converted_with_a_note(case, tmp_path):
    model = load_model(hf.ACCEPTED_MODEL_MUTANTS[case](tmp_path))
    dtype = case.split()[0]
    assert any(f"stores its kernel as {dtype} values" in note for note in model.notes)
    assert model.layers[0].directions["forward"].kernel.dtype == np.float32


def test_nan_and_inf_weights_are_counted_for_the_layer(tmp_path):
    with pytest.raises(InspectorError, match=r"layer 'lstm_1' in .*nan_kernel.h5 has 1 NaN "):
        load_model(hf.nan_kernel(tmp_path))
    with pytest.raises(InspectorError, match=r"0 NaN and 2496 infinite values in its kernel"):
        load_model(hf.inf_kernel(tmp_path))


def test_an_utterance_id_with_a_newline_is_written_escaped(tmp_path):
    with pytest.raises(InspectorError) as info:
        load_features(hf.ark_key_with_newline(tmp_path))
    assert "'fir\\nst'" in str(info.value) and "\n" not in str(info.value)


def test_inspector_errors_are_one_line_whatever_they_quote():
    assert str(InspectorError("a\nb\rc\x00d\te")) == "a\\nb\\rc\\x00d\\te"


def test_json_nested_deep_is_refused_before_parsing():
    from lstm_inspector.io.config_checks import json_depth, parse_config

    assert json_depth('{"a": [1, {"b": "[[[[["}]}') == 3
    with pytest.raises(InspectorError, match="100000 levels deep"):
        parse_config("[" * 100_000 + "]" * 100_000)


# ---- the real command and the GUI path, in fresh processes -------------------------------------
def _run(args, tmp_path, env=None, code=None):
    environment = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"),
                       QT_QPA_PLATFORM="offscreen", **(env or {}))
    environment.pop("LSTM_INSPECTOR_DEBUG", None) if not env else None
    command = [sys.executable, "-c", code] if code else \
        [sys.executable, "-m", "lstm_inspector", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env=environment,
                          cwd=str(tmp_path))


def _one_line_exit_2(proc, path):
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert path.name in lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("case, role", [("external link to /etc/passwd", "model"),
                                        ("NaN in a kernel", "model"),
                                        ("npy header without '}'", "features")])
def test_command_and_gui_screenshot_exit_2_in_one_line(case, role, tmp_path):
    if role == "model":
        path = hf.MODEL_MUTANTS[case](tmp_path)
        model, feats = path, hf.DEMO_NPY
        _one_line_exit_2(_run(["info", path], tmp_path), path)
    else:
        path = hf.FEATURE_MUTANTS[case](tmp_path)
        model, feats = hf.DEMO_MODEL, path
    _one_line_exit_2(_run(["compare", model, feats, "--backend", "numpy64"], tmp_path), path)
    png = tmp_path / "x.png"
    proc = _run([model, feats, "--backend", "numpy:naive", "--screenshot", png], tmp_path)
    _one_line_exit_2(proc, path)
    assert not png.exists()


GUI_INTERNAL_ERROR = """
import sys
from lstm_inspector.gui import pipeline
from lstm_inspector.gui.app import run_gui

def broken(*args, **kwargs):
    raise ZeroDivisionError("planted bug")

pipeline.load_model_file = broken
sys.exit(run_gui({model!r}, {feats!r}, backend="numpy:naive", screenshot={png!r}))
"""


@pytest.mark.slow
def test_gui_screenshot_internal_error_exits_3_with_traceback_on_request(tmp_path):
    code = GUI_INTERNAL_ERROR.format(model=str(hf.DEMO_MODEL), feats=str(hf.DEMO_NPY),
                                     png=str(tmp_path / "x.png"))
    quiet = _run(None, tmp_path, code=code)
    assert quiet.returncode == 3, quiet.stderr
    lines = quiet.stderr.strip().splitlines()
    assert len(lines) == 1 and "Internal error: ZeroDivisionError: planted bug" in lines[0]
    loud = _run(None, tmp_path, env={"LSTM_INSPECTOR_DEBUG": "1"}, code=code)
    assert loud.returncode == 3
    assert "Traceback" in loud.stderr and "planted bug" in loud.stderr


# ---- activations written as null, read as Keras reads them ------------------------------------
def test_null_activations_are_linear_as_keras_computes_them(tmp_path):
    """A config whose LSTM says ``"activation": null, "recurrent_activation": null``: Keras
    rebuilds that layer (``LSTM.from_config``) with linear for both; the tool reads the same and
    its NumPy reference matches Keras's output."""
    import h5py

    K = model_files.keras()
    from lstm_inspector.core.reference import run_reference

    inputs = K.Input((None, 3))
    lstm = K.layers.LSTM(4, return_sequences=True, name="lstm")
    net = K.Model(inputs, lstm(inputs))
    model_files.randomize(net, seed=4, scale=0.3)
    path = tmp_path / "null_activations.h5"
    net.save(path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layer_config = next(e for e in config["config"]["layers"] if e["name"] == "lstm")["config"]
        layer_config.update(activation=None, recurrent_activation=None)
        f.attrs["model_config"] = json.dumps(config)
    as_keras_reads_it = K.layers.LSTM.from_config({**lstm.get_config(), "activation": None,
                                                   "recurrent_activation": None})
    assert as_keras_reads_it.activation is K.activations.linear
    assert as_keras_reads_it.recurrent_activation is K.activations.linear
    keras_net = K.Model(inputs, as_keras_reads_it(inputs))
    as_keras_reads_it.set_weights(lstm.get_weights())
    model = load_model(path)
    layer = model.layers[0]
    assert (layer.activation, layer.recurrent_activation) == ("linear", "linear")
    x = np.random.default_rng(1).standard_normal((12, 3)).astype(np.float32)
    expected = keras_net.predict(x[None], verbose=0)[0]
    np.testing.assert_allclose(run_reference(model, x).layer(0).h, expected, rtol=1e-4,
                               atol=1e-5)


def test_a_lambda_before_the_first_lstm_is_not_a_plain_agreement(tmp_path, capsys):
    """Lambda (code the tool never runs) -> LSTM: comparing NumPy with itself cannot vouch for
    the model, so the verdict is not a plain "agrees" with exit 0."""
    K = model_files.keras()
    marker = tmp_path / "marker"

    def doubled(t, path=str(marker)):
        with open(path, "w") as handle:
            handle.write("the Lambda layer ran")
        return t * 2.0

    inputs = K.layers.Input((None, 3))
    hidden = K.layers.LSTM(4, return_sequences=True)(K.layers.Lambda(doubled)(inputs))
    written = model_files.save(K.Model(inputs, K.layers.Dense(2)(hidden)), tmp_path, "lam.h5")
    marker.unlink()
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((10, 3)).astype("f4"))
    code = cli.main(["compare", str(written.path), str(tmp_path / "x.npy"), "--backend",
                     "numpy64"])
    out = capsys.readouterr().out
    assert code != 0, out
    assert not marker.exists()  # its bytecode never ran
