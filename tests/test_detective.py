"""The detective names the convention a port got wrong: planted bugs in ports of a real
tf-keras-written CuDNNLSTM file (input width 3, H = 4), each named, each fix checked; and the
search itself on every single fault, with and without the port's c."""
from pathlib import Path

import numpy as np
import pytest

import lstm_inspector as li
from engine_models import cudnn_model, features
from lstm_inspector.core.detective import Detective, Hypothesis
from lstm_inspector.core.fixes import make_fix
from lstm_inspector.core.reference import run_reference
from lstm_inspector.core.weights import Reading
from model_files import write_cudnn_model
from test_demo import FORUM, FORUM_INPUT

IMPLS = Path(__file__).resolve().parent / "impls"


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    written = write_cudnn_model(tmp_path_factory.mktemp("det"), input_size=3, units=4, seed=5)
    model = li.load_model(written.path)
    x = np.random.default_rng(2).standard_normal((40, 3)).astype(np.float32)
    return model, x


PLANTED = {
    "wrong_gate_order": (("order", "iofc"),),
    "input_bias_only": (("bias", "input"),),
    "with_hard_sigmoid": (("rec_act", "hard_sigmoid"),),
    "untransposed_kernel": (("kernel", "keras"),),
    "forget_bias_plus_one": (("forget", 1.0),),
    "order_and_hard_sigmoid": (("order", "icfo"), ("rec_act", "hard_sigmoid")),
}


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_planted_bug_is_named_and_its_fix_checked(keras_file, name):
    model, x = keras_file
    trace = li.run_impl(model, x, f"{IMPLS / 'planted.py'}:{name}")
    result = li.diagnose(model, x, trace)
    assert result.exit_code == 1
    (finding,) = result.findings
    assert finding.best is not None, finding.text()
    assert finding.best.hypothesis.faults == PLANTED[name]
    assert finding.fix.check_error < 1e-6
    if finding.fix.arrays_only:            # the user's own function, re-run on the fixed arrays
        assert finding.rerun_ok, finding.text()
    assert "best match" in result.text and "fix:" in result.text


def test_correct_sequence_port_agrees(keras_file):
    model, x = keras_file
    result = li.diagnose(model, x, li.run_impl(model, x, f"{IMPLS / 'planted.py'}:correct"))
    assert result.agree and result.exit_code == 0 and "agrees" in result.text


def test_h_only_port_is_diagnosed_with_c_carried_by_the_hypothesis(keras_file):
    model, x = keras_file
    trace = li.run_impl(model, x, f"{IMPLS / 'planted.py'}:correct_h_only")
    assert trace.layer(0).how("c") == "derived"
    assert li.diagnose(model, x, trace).agree


def test_three_faults_are_not_matched_and_the_first_local_step_is_named(keras_file):
    model, x = keras_file
    result = li.diagnose(model, x, li.run_impl(model, x, f"{IMPLS / 'planted.py'}:three_faults"))
    (finding,) = result.findings
    assert finding.best is None and finding.local_step["step"] == 0
    assert finding.local_step["gate"] in ("c", "o")
    assert "no convention" in result.text and "first leaves the file's equations" in result.text
    gated = li.run_impl(model, x, f"{IMPLS / 'planted.py'}:three_faults_with_gates")
    assert gated.layer(0).how("i") == "measured"
    (finding,) = li.diagnose(model, x, gated).findings
    assert finding.local_step["gate"] == "i" and "in the i gate of unit" in finding.text()


def test_forum_function_is_told_to_transpose_each_recurrent_block():
    """The done-when of the issue: the forum's NewLSTM on the forum's own file."""
    model, x = li.load_model(FORUM), np.load(FORUM_INPUT)
    result = li.diagnose(model, x, li.run_impl(model, x, f"{IMPLS / 'forum_newlstm.py'}:NewLSTM"))
    (finding,) = result.findings
    assert finding.best.hypothesis.faults == (("recurrent", "keras"),)
    assert "transpose each gate block of recurrent_kernel" in finding.fix.sentence
    assert finding.rerun_ok and finding.rerun_error < 1e-6
    assert result.marked_step == (0, "forward", 1)          # step 0 (h = 0) still matches
    # the window already holds the comparison: diagnose reuses it
    from lstm_inspector.core.compare import compare

    report = compare(li.run_reference(model, x), result.report.b, model=model)
    again = li.diagnose(model, x, result.report.b, report=report)
    assert again.report is report and again.text == result.text


# ---- the search itself, on ports simulated by readings (no process, no file) ----------------
SINGLE = [
    Reading("p", gate_order="fico"), Reading("p", gate_order="ofci"),
    Reading("p", kernel_layout="keras"), Reading("p", kernel_layout="whole"),
    Reading("p", recurrent_layout="keras"), Reading("p", recurrent_layout="whole"),
    Reading("p", bias="input"), Reading("p", bias="recurrent"), Reading("p", bias="input-twice"),
    Reading("p", bias="recurrent-twice"), Reading("p", recurrent_activation="hard_sigmoid"),
    Reading("p", recurrent_activation="hard_sigmoid_keras3"), Reading("p", forget_bias=1.0),
]


def _faults(reading: Reading):
    names = {"gate_order": "order", "kernel_layout": "kernel", "recurrent_layout": "recurrent",
             "bias": "bias", "recurrent_activation": "rec_act", "forget_bias": "forget"}
    return tuple((names[k], getattr(reading, k)) for k in names if getattr(reading, k))


@pytest.mark.parametrize("c_known", [True, False])
@pytest.mark.parametrize("reading", SINGLE, ids=lambda r: "-".join(map(str, _faults(r)[0])))
def test_every_single_fault_is_found(reading, c_known):
    model, x = cudnn_model(n_in=3, units=4, seed=1), features(60, 3)
    port = run_reference(model.with_reading(reading), x).layer(0)
    det = Detective(model.chain[0].directions["forward"], x, port.h, port.c if c_known else None)
    best = det.search()[0]
    order = ("order", "kernel", "recurrent", "bias", "rec_act", "forget")
    assert best.fits and best.hypothesis.faults == tuple(sorted(_faults(reading), key=lambda f: order.index(f[0])))


def test_swap_and_shift_are_found():
    model, x = cudnn_model(n_in=3, units=4, seed=2), features(60, 3)
    stored = model.chain[0].directions["forward"]
    true = run_reference(model, x).layer(0)
    swapped = Detective(stored, x, true.c, true.h).search()[0]
    assert swapped.fits and swapped.hypothesis.faults == (("swap", True),)
    late_h = np.vstack([np.zeros((1, 4)), true.h[:-1]])    # h[t] is h of step t-1
    late_c = np.vstack([np.zeros((1, 4)), true.c[:-1]])
    late = Detective(stored, x, late_h, late_c).search()[0]
    assert late.fits and late.hypothesis.faults == (("shift", -1),)


def test_no_op_faults_are_not_tried_for_input_width_one():
    model = cudnn_model(n_in=1, units=2, seed=3)
    det = Detective(model.chain[0].directions["forward"], features(10, 1), np.zeros((10, 2)))
    assert det.alternatives()["kernel"] == []                # reshape of a (1, H) block is a no-op
    assert det.alternatives()["recurrent"] == ["keras", "whole"]


def test_fix_lines_are_what_is_checked(monkeypatch):
    """Plant a wrong fix line: the check must catch it (the lines are executed, not trusted)."""
    from lstm_inspector.core import fixes

    model, x = cudnn_model(n_in=3, units=4, seed=4), features(30, 3)
    stored = model.chain[0].directions["forward"]
    hyp = Hypothesis((("recurrent", "keras"),))
    fix = make_fix(stored, hyp, x)
    assert fix.check_error < 1e-12 and fix.arrays_only
    assert "transpose each gate block of recurrent_kernel" in fix.sentence
    monkeypatch.setattr(fixes, "_layout_fix", lambda *a: ("a wrong fix", [
        "recurrent_kernel = recurrent_kernel[:, ::-1]"]))
    assert make_fix(stored, hyp, x).check_error > 1e-2


def test_arithmetic_difference_is_not_called_a_convention(tmp_path):
    """A port that follows every convention but computes tanh roughly (float16 storage of its
    states) is told so: no fix, the local difference named as arithmetic."""
    from lstm_inspector.core.port_trace import PortTrace, port_layer_trace

    model, x = cudnn_model(n_in=3, units=4, seed=6), features(80, 3)
    true = run_reference(model, x).layer(0)
    h16, c16 = true.h.astype(np.float16).astype(np.float64), true.c.astype(np.float16).astype(np.float64)
    stored = model.chain[0].directions["forward"]
    trace = PortTrace(layers=[{"forward": port_layer_trace(stored.read(), x, h16, c16)}],
                      layer_names=["lstm_0"], x=x, output=h16, label="float16 port")
    (finding,) = li.diagnose(model, x, trace).findings
    assert not finding.agrees and finding.best is None and finding.fix is None
    assert finding.precision is not None and finding.precision < 5e-3
    assert "not a convention" in finding.text()


def _planted_reading(draw):
    """One or two faults in different dimensions, drawn with ``draw`` (hypothesis)."""
    import itertools as it

    from hypothesis import strategies as st

    options = {
        "gate_order": ["".join(p) for p in it.permutations("ifco")][1:],
        "kernel_layout": ["keras", "whole"], "recurrent_layout": ["keras", "whole"],
        "bias": ["input", "recurrent", "input-twice", "recurrent-twice"],
        "recurrent_activation": ["hard_sigmoid", "hard_sigmoid_keras3"], "forget_bias": [1.0],
    }
    dims = draw(st.lists(st.sampled_from(sorted(options)), min_size=1, max_size=2, unique=True))
    return Reading("planted", **{d: draw(st.sampled_from(options[d])) for d in dims})


def test_any_one_or_two_faults_are_found_and_fixed():
    """Property: on random shapes and weights, one or two planted faults are matched by a
    hypothesis that computes what the planted reading computes, and its fix checks out."""
    from hypothesis import given, settings, strategies as st
    from lstm_inspector.core.weights import read_stored

    @settings(max_examples=30, deadline=None)
    @given(st.integers(2, 5), st.integers(2, 6), st.integers(10, 40), st.integers(0, 10_000),
           st.data())
    def check(n_in, units, steps, seed, data):
        planted = _planted_reading(data.draw)
        model, x = cudnn_model(n_in=n_in, units=units, seed=seed), features(steps, n_in, seed)
        stored = model.chain[0].directions["forward"]
        port = run_reference(model.with_reading(planted), x).layer(0)
        best = Detective(stored, x, port.h, port.c).search()[0]
        assert best.fits, (planted, best)
        found = read_stored(stored.kernel, stored.recurrent_kernel, stored.bias,
                            best.hypothesis.reading(stored.true_reading))
        want = model.with_reading(planted).chain[0].weights()
        assert found.recurrent_activation == want.recurrent_activation
        assert np.allclose(found.weight_ih, want.weight_ih) and np.allclose(found.weight_hh, want.weight_hh)
        assert np.allclose(found.bias_ih + found.bias_hh, want.bias_ih + want.bias_hh)
        assert make_fix(stored, best.hypothesis, x).check_error < 1e-6   # float32 arrays

    check()
