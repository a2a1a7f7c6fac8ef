"""A chaotic model: every path is locally right, and rounding differences grow into O(1) ones.

Weights drawn from N(0, 0.5^2) with H = 64 put an LSTM in a chaotic regime: two float32 runs that
differ only in the last bits of one product part after a few hundred steps. torch's one-call run
and its step-by-step run are two such runs; pairing the one-call h with the stepped c (h and c
from two trajectories) made the teacher-forced analysis report a "Structural divergence" with a
local error of O(1). Each path must be analysed on one trajectory, and the verdict must say what
happened: every step locally right, the dynamics amplify the differences.
"""
import numpy as np
import pytest

from lstm_inspector.core.compare import compare
from lstm_inspector.core.model import Model, RecurrentLayer
from lstm_inspector.core.reference import run_reference
from lstm_inspector.core.weights import READINGS, StoredLSTM

STEPS, UNITS, WIDTH = 500, 64, 8


def chaotic_model(seed=0):
    """Bidirectional CuDNNLSTM(64) with every weight drawn from N(0, 0.5^2), and its input."""
    rng = np.random.default_rng(seed)

    def stored():
        return StoredLSTM(rng.normal(0, 0.5, (WIDTH, 4 * UNITS)).astype(np.float32),
                          rng.normal(0, 0.5, (UNITS, 4 * UNITS)).astype(np.float32),
                          rng.normal(0, 0.5, (8 * UNITS,)).astype(np.float32),
                          true_reading=READINGS["cudnn"], recurrent_activation="sigmoid")

    layer = RecurrentLayer("chaotic", "CuDNNLSTM", WIDTH, UNITS,
                           {"forward": stored(), "backward": stored()}, merge_mode="concat")
    x = rng.normal(0, 0.5, (STEPS, WIDTH)).astype(np.float32)
    return Model([layer], source="<chaotic>", file_format="in-memory"), x


@pytest.fixture(scope="module", params=["one-call", "stepped"])
def chaotic_torch_report(request):
    pytest.importorskip("torch")
    from lstm_inspector.backends import run_backend

    model, x = chaotic_model()
    ref = run_reference(model, x)
    return compare(ref, run_backend(model, x, backend="torch-cpu",
                                    stepped=request.param == "stepped"), model=model)


def test_the_model_is_chaotic():
    """float32 and float64 runs of the same equations part by 1e5 times their first difference."""
    model, x = chaotic_model()
    f32, f64 = run_reference(model, x), run_reference(model, x, dtype="float64")
    report = compare(f32, f64, model=model)
    assert report.step_error(0, "backward", "h").max() > 1e-2  # from 1e-7 at the start
    assert report.kind == "precision"


def test_torch_pairs_h_and_c_of_one_run(chaotic_torch_report):
    b = chaotic_torch_report.b
    lt = b.layer(0, "backward")
    if b.meta["road"] == "one-call":   # c derived from the one call's own h: one trajectory
        assert (lt.how("h"), lt.how("c")) == ("measured", "derived")
        assert b.meta["derivation_max_abs"] < 1e-4
        return
    assert lt.how("h") == lt.how("c") == "stepped"
    # the one-call run really parts from the stepped one here: the finding is kept, as a note
    gap = {g["direction"]: g for g in b.meta["one_call_gap"]}
    assert gap["backward"]["max_abs"] > 1e-3 and gap["backward"]["first_step"] is not None
    assert any("one-call run and its step-by-step run part" in n for n in chaotic_torch_report.notes)


def test_chaotic_divergence_reads_as_amplified_precision_not_structure(chaotic_torch_report):
    report = chaotic_torch_report
    assert not report.agree and report.step_error(0, "backward", "h").max() > 1e-2
    assert report.kind == "precision", report.verdict
    assert report.local["true_worst"] < 1e-4
    assert "not a bug" in report.verdict and "amplify" in report.verdict
    assert 1 < report.growth() < STEPS
    d = report.to_dict()
    assert d["kind"] == "precision" and d["steps_per_tenfold_growth"] == report.growth()
    assert d["notes"] == report.notes
