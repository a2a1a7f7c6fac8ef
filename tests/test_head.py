"""The model's answer: the layers after the LSTMs, run in NumPy on each path, equal what Keras's
own ``model.predict`` gives on the same file; the demo says 'seven' for both paths."""
import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

import lstm_inspector as li
import model_files as mf
from engine_models import features
from lstm_inspector.core.head import chain_output, model_answer

STEPS = 12


def predict_and_ours(model, path, x):
    """(Keras's model.predict on the file's model, the tool's head on the reference's chain)."""
    expected = model.predict(x[None], verbose=0)[0]
    loaded = li.load_model(path)
    head = loaded.head_for(loaded.chain[-1].name)
    assert head is not None and head.complete, head
    ours = head.apply(chain_output(loaded, li.run_reference(loaded, x, dtype="float64")))
    return expected, ours, head


def classifier(K):
    """LSTM (last step) -> Dense(relu) -> Dropout -> Dense(softmax)."""
    return K.Sequential([K.layers.InputLayer(input_shape=(None, 3)),
                         K.layers.LSTM(5, return_sequences=False),
                         K.layers.Dense(8, activation="relu"), K.layers.Dropout(0.4),
                         K.layers.Dense(4, activation="softmax", name="scores")])


def per_step(K):
    """LSTM x2 (sequence) -> TimeDistributed(Dense) -> Activation(softmax): one answer per step."""
    return K.Sequential([K.layers.InputLayer(input_shape=(None, 3)),
                         K.layers.LSTM(4, return_sequences=True),
                         K.layers.LSTM(5, return_sequences=True),
                         K.layers.TimeDistributed(K.layers.Dense(3)),
                         K.layers.Activation("softmax")])


def bidirectional_last(K):
    """Bidirectional(go_backwards LSTM, last step, concat) -> Dense -> Softmax layer."""
    x = K.layers.Input((None, 3))
    y = K.layers.Bidirectional(K.layers.LSTM(3, return_sequences=False, go_backwards=True))(x)
    y = K.layers.Softmax()(K.layers.Dense(6)(y))
    return K.Model(x, y)


def flatten_reshape(K):
    """Fixed length: LSTM -> Flatten -> Reshape -> GlobalAveragePooling1D -> Dense(sigmoid)."""
    return K.Sequential([K.layers.InputLayer(input_shape=(STEPS, 3)),
                         K.layers.LSTM(4, return_sequences=True), K.layers.Flatten(),
                         K.layers.Reshape((STEPS * 2, 2)), K.layers.GlobalAveragePooling1D(),
                         K.layers.Dense(2, activation="sigmoid")])


@pytest.mark.parametrize("build", [classifier, per_step, bidirectional_last, flatten_reshape])
@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_head_output_equals_keras_predict(tmp_path, build, suffix):
    K = mf.keras()
    model = build(K)
    path = mf.save(model, tmp_path, build.__name__ + suffix, seed=4).path
    x = features(STEPS, 3, seed=2)
    expected, ours, head = predict_and_ours(model, path, x)
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=2e-6, rtol=0)
    assert head.layers  # the layers really ran (an empty head would pass only by chance)


def test_unsupported_layer_is_named_and_the_answer_says_so(tmp_path):
    K = mf.keras()
    model = K.Sequential([K.layers.InputLayer(input_shape=(None, 3)),
                          K.layers.LSTM(4, return_sequences=True), K.layers.Dense(3),
                          K.layers.Conv1D(2, 3, name="conv"), K.layers.Dense(2)])
    path = mf.save(model, tmp_path, "conv.h5").path
    loaded = li.load_model(path)
    head = loaded.head_for(loaded.chain[-1].name)
    assert not head.complete and "layer 'conv' (Conv1D)" in head.stopped_at
    assert [layer.kind for layer in head.layers] == ["dense"]
    x = features(STEPS, 3)
    answer = model_answer(loaded, li.run_reference(loaded, x), li.run_reference(loaded, x))
    assert answer.describe().startswith("output before the layers not run (last step)")
    assert "'conv' (Conv1D)" in answer.describe()


def test_class_names_from_the_files_attribute(tmp_path):
    K = mf.keras()
    path = mf.save(classifier(K), tmp_path, "named.h5").path
    with h5py.File(path, "a") as f:
        f.attrs["class_names"] = json.dumps(["yes", "no", "up", "down"])
    loaded = li.load_model(path)
    x = features(STEPS, 3)
    ref = li.run_reference(loaded, x)
    answer = model_answer(loaded, ref, ref)
    assert answer.names == ("yes", "no", "up", "down")
    assert answer.describe().startswith(f"model output: A '{answer.names[int(answer.a.argmax())]}'")
    assert answer.same_answer and "same answer" in answer.describe()


# ---- the bundled demo ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo():
    root = li.resources_path()
    model = li.load_model(root / "demo_digits_cudnnlstm.h5")
    return model, root


def test_demo_says_seven_on_both_paths(demo):
    model, root = demo
    x = li.load_features(root / "demo_seven.wav").data
    ref, other = li.run_reference(model, x), li.run_backend(model, x, "tf-cpu")
    answer = model_answer(model, ref, other)
    assert answer.classes and answer.same_answer
    assert answer.side(answer.a) == "'seven' 0.998" and answer.side(answer.b) == "'seven' 0.998"
    assert answer.describe().startswith("model output: A 'seven' 0.998, B 'seven' 0.998, same answer")


def test_a_wrong_reading_changes_the_demos_answer(demo):
    model, root = demo
    x = li.load_features(root / "demo_three.npy").data
    answer = model_answer(model, li.run_reference(model, x),
                          li.run_reference(model.with_reading("naive"), x))
    assert answer.side(answer.a).startswith("'three'")
    assert not answer.same_answer and "DIFFERENT answer" in answer.describe()


def test_compare_prints_and_exports_the_models_answer(demo):
    _, root = demo
    args = [sys.executable, "-m", "lstm_inspector", "compare", str(root / "demo_digits_cudnnlstm.h5"),
            str(root / "demo_seven.npy"), "--backend", "numpy64", "--no-oracle"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=240).stdout
    assert "model output: A 'seven' 0.998, B 'seven' 0.998, same answer" in out
    data = json.loads(subprocess.run(args + ["--json"], capture_output=True, text=True,
                                     timeout=240).stdout)
    answer = data["model_output"]
    assert answer["a_name"] == answer["b_name"] == "seven" and answer["same_answer"] is True
    assert answer["head"] == ["Dense(10, softmax) 'digit'"]
    assert abs(answer["a_score"] - 0.998) < 5e-4


def test_no_head_after_a_layer_cut_out_with_layer(demo):
    model, root = demo
    sub = model.sub_model(0)
    x = li.load_features(root / "demo_seven.npy").data
    ref = li.run_reference(sub, x)
    assert model_answer(sub, ref, ref) is None


# ---- outputs that are not classes: "the same" within the comparison's tolerance -------------
def test_forum_output_agrees_within_tolerance_in_text_and_json():
    """The forum file's Dense(2) output differs by ~6e-08 between float32 and float64 while both
    paths agree: the same output within atol + rtol |a|, not "values differ"."""
    root = li.resources_path()
    args = [sys.executable, "-m", "lstm_inspector", "compare",
            str(root / "forum_cudnnlstm_in1_h2.h5"), str(root / "forum_input.npy"),
            "--backend", "numpy64", "--no-oracle"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=240).stdout
    line = next(line for line in out.splitlines() if line.startswith("model output"))
    assert "same output within tolerance (largest difference 6" in line and "e-08)" in line, out
    data = json.loads(subprocess.run(args + ["--json"], capture_output=True, text=True,
                                     timeout=240).stdout)["model_output"]
    assert data["same_answer"] is True and data["classes"] is False
    assert 0 < data["largest_difference"] < 1e-6 and data["atol"] == 1e-5
    # beyond a tolerance tighter than the difference, it is called different
    tight = subprocess.run(args + ["--atol", "1e-9", "--rtol", "0"], capture_output=True,
                           text=True, timeout=240).stdout
    assert "DIFFERENT output beyond tolerance (largest difference" in tight


def test_output_tolerance_is_atol_plus_rtol_times_a():
    model = li.load_model(li.resources_path() / "forum_cudnnlstm_in1_h2.h5")
    x = features(12, 1, seed=2)
    a, b = li.run_reference(model, x), li.run_reference(model, x, dtype="float64")
    diff = model_answer(model, a, b).largest_difference
    assert 0 < diff < 1e-6
    assert model_answer(model, a, b, atol=diff * 1.01, rtol=0).same_answer
    assert not model_answer(model, a, b, atol=diff * 0.99, rtol=0).same_answer
    assert model_answer(model, a, b, atol=0, rtol=1e-3).same_answer


@pytest.mark.parametrize("pooled", [False, True])
def test_a_long_traces_answer_reads_its_output_by_blocks(monkeypatch, pooled):
    """A long trace does not hold its output (T, out): the head runs its row-wise layers on
    fixed blocks of rows read from h (issue 21: an hour's output is 368 MB, 737 MB in float64,
    per path), the whole never computed; the values are a held trace's, and those of the
    layers run on the whole output at once (within float64 rounding)."""
    import dataclasses

    from engine_models import cudnn_model
    from lstm_inspector.core import head as head_module
    from lstm_inspector.core import recurrence
    from lstm_inspector.core.head import Head, HeadLayer

    monkeypatch.setattr(head_module, "HEAD_ROWS", 64)
    model = cudnn_model(3, 6, layers=2, bidirectional=True, seed=2)
    rng = np.random.default_rng(3)
    layers = (HeadLayer("scores", "dense", "softmax", kernel=rng.normal(size=(12, 4)),
                        bias=rng.normal(size=4)),) + ((HeadLayer("pool", "global_mean"),)
                                                      if pooled else ())
    name = model.chain[-1].name
    model = dataclasses.replace(model, heads={name: Head(name, layers)})
    x = features(1000, 3)
    held = li.run_reference(model, x)
    monkeypatch.setattr(recurrence, "KEEP_GATES_BYTES", 0)
    long = li.run_reference(model, x)
    assert not long.holds_output and long.output_source is not None
    whole = long.output_source()
    long.output_source = lambda: pytest.fail("the whole output was computed")
    got, want = model_answer(model, long, long), model_answer(model, held, held)
    assert got.a.tobytes() == want.a.tobytes() and got.a.shape == (4,)
    at_once = Head._run(layers, whole)
    np.testing.assert_allclose(got.a, at_once if pooled else at_once[-1], rtol=1e-12)
    if not pooled:
        assert got.steps_a.shape == (1000, 4)
