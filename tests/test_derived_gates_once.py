"""A short one-call run derives its gates once: those its c derivation computed.

cuDNN and ``nn.LSTM`` return h at every step and c at the last one; c between is derived from
h by the NumPy equations, which compute every step's gates on the way. Those gates are the
trace's (provenance ``derived``): teacher forcing does not compute them a second time. Where
they cannot serve (a masked model runs its kept steps only; the gates of every step are
wanted), teacher forcing still derives them. Both are the same equations: they agree to the
last few bits.
"""
from dataclasses import replace

import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector import run_backend
from lstm_inspector.core import reference
from lstm_inspector.core.recurrence import cell_states_between

@pytest.fixture
def forced(monkeypatch):
    """The (layer, directions) teacher forcing derived gates for (float32 calls)."""
    seen = []
    real = reference.teacher_forced_layer

    def spy(model, index, teacher, dtype="float64", *args, **kwargs):
        if np.dtype(dtype) == np.float32:
            seen.append((index, tuple(kwargs.get("directions") or ())))
        return real(model, index, teacher, dtype, *args, **kwargs)
    monkeypatch.setattr("lstm_inspector.core.derived_gates.teacher_forced_layer", spy)
    return seen


@pytest.mark.torch
def test_the_gates_are_the_c_derivations_own(forced):
    pytest.importorskip("torch")
    model = cudnn_model(3, 6, layers=2, bidirectional=True, seed=7)
    x = features(70, 3, seed=3)
    trace = run_backend(model, x, "torch-cpu")
    assert forced == []                       # nothing derived them a second time
    for k, layer in enumerate(model.chain):
        rows_in = x if k == 0 else reference.layer_output(model.chain[0], trace.layers[0])
        for direction in layer.directions:
            lt = trace.layer(k, direction)
            assert lt.holds_gates and lt.how("i") == "derived" and lt.how("c") == "derived"
            # the derivation, again: its gates are the trace's, bit for bit
            reverse = layer.processing_reversed(direction)
            flip = (lambda v: v[::-1]) if reverse else (lambda v: v)
            gates = np.empty((2, 70, 4 * layer.units), np.float32)
            c = np.empty((70, layer.units), np.float32)
            cell_states_between(layer.weights(direction), flip(rows_in), flip(lt.h),
                                {69: flip(lt.c)[69]}, out=c, gates=gates)
            assert flip(gates[0]).tobytes() == lt.z.tobytes()
            assert flip(gates[1]).tobytes() == lt.a.tobytes()
            assert flip(c).tobytes() == lt.c.tobytes()
            # teacher forcing's gates: the same equations, rounded in another order
            teacher = reference.teacher_forced_layer(model, k, trace, np.float32, names="za",
                                                     directions=[direction])[direction]
            assert np.abs(teacher.a - lt.a).max() < 1e-6
            assert np.abs(teacher.z - lt.z).max() < 1e-5


@pytest.mark.torch
def test_a_masked_model_gets_every_steps_gates_from_teacher_forcing(forced):
    pytest.importorskip("torch")
    model = cudnn_model(3, 5, seed=2)
    x = features(40, 3, seed=4)
    x[30:] = 0.0                              # right padding, masked
    trace = run_backend(replace(model, mask_value=0.0), x, "torch-cpu")
    assert forced and trace.layer(0, "forward").holds_gates
    assert trace.layer(0, "forward").z.shape == (40, 20)


def test_a_measured_c_leaves_the_gates_to_teacher_forcing(forced):
    """tf-cpu measures c in its call (nothing derived): its gates come from teacher forcing."""
    pytest.importorskip("tf_keras")
    model = cudnn_model(3, 4, bidirectional=True, seed=1)
    trace = run_backend(model, features(30, 3, seed=5), "tf-cpu")
    assert trace.layer(0, "forward").how("c") == "measured"
    assert forced == [(0, ("forward", "backward"))]
    assert trace.layer(0, "backward").how("i") == "derived"


@pytest.mark.torch
def test_a_long_runs_gate_windows_are_the_held_runs_gates(monkeypatch, forced):
    """A long run keeps neither c nor the gates: any window of them is its derivation's block,
    recomputed (cells.DerivedCells), the very values a short run holds."""
    pytest.importorskip("torch")
    from lstm_inspector.core import cells, recurrence

    model = cudnn_model(3, 6, layers=2, bidirectional=True, seed=8)
    x = features(500, 3, seed=6)
    monkeypatch.setattr(recurrence, "BLOCK", 96)
    held = run_backend(model, x, "torch-cpu")
    monkeypatch.setattr(recurrence, "KEEP_GATES_BYTES", 0)
    monkeypatch.setattr(cells, "EVERY", 64)
    lean = run_backend(model, x, "torch-cpu")
    assert forced == []
    for k, d, lt in held.items():
        other = lean.layer(k, d)
        assert not other.holds_gates and not other.holds_cells
        for lo, hi in ((0, 500), (95, 97), (130, 331), (404, 500)):
            z, a = other.gate_rows(lo, hi)
            assert z.tobytes() == lt.z[lo:hi].tobytes(), (k, d, lo, hi)
            assert a.tobytes() == lt.a[lo:hi].tobytes(), (k, d, lo, hi)
            assert other.rows("c", lo, hi).tobytes() == lt.c[lo:hi].tobytes()
