"""The float64 oracle runs where the paths part (compare's default ``oracle="needed"``).

It is a second whole run of the model (which side is closer to exact arithmetic), read by the
precision and TF32 verdicts only, and it was most of the analysis of a run of up to
``ORACLE_MAX_STEPS``. Where the paths part, at once or under a later tolerance, the report is
the one ``oracle="always"`` makes, value for value; ``oracle="always"`` (the CLI's
``--oracle always``) still runs it for an agreement.
"""
import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core import analysis
from lstm_inspector.core.compare import compare
from lstm_inspector.core.reference import run_reference
from lstm_inspector.errors import InspectorError


def _nudged(model, x, by):
    """The reference's run with every h of the first layer moved by ``by`` (a path that is a
    little farther from exact arithmetic than the reference)."""
    b = run_reference(model, x)
    b.layer(0, "forward").h[:] += np.float32(by)
    return b


@pytest.fixture
def oracle_runs(monkeypatch):
    """Counts the float64 runs exact_distances makes."""
    runs = []
    real = analysis.exact_distances

    def counted(*args, **kw):
        runs.append(1)
        return real(*args, **kw)
    monkeypatch.setattr(analysis, "exact_distances", counted)
    return runs


def test_an_agreement_runs_no_oracle_unless_asked(oracle_runs):
    model = cudnn_model(3, 5, seed=1, layers=2, bidirectional=True)
    x = features(50, 3)
    a, b = run_reference(model, x), _nudged(model, x, 3e-6)
    lazy = compare(a, b, model=model)
    assert lazy.agree and oracle_runs == []
    assert lazy.closer_to_exact is None and lazy.measures.exact_error is None
    assert lazy.measures.oracle_left and lazy.to_dict()["closer_to_exact"] is None
    eager = compare(a, b, model=model, oracle="always")
    assert oracle_runs == [1] and eager.agree and eager.closer_to_exact == "a"
    assert eager.measures.exact_error["b"] > eager.measures.exact_error["a"]
    assert compare(a, b, model=model, oracle=True).closer_to_exact == "a"   # True: always
    assert lazy.verdict == eager.verdict and lazy.max_error() == eager.max_error()


def test_paths_that_part_get_the_oracle_always_gives(oracle_runs):
    model = cudnn_model(3, 4, seed=2)
    x = features(40, 3)
    a, b = run_reference(model, x), _nudged(model, x, 1e-3)
    lazy = compare(a, b, model=model)
    assert not lazy.agree and oracle_runs == [1] and not lazy.measures.oracle_left
    eager = compare(a, b, model=model, oracle="always")
    assert lazy.closer_to_exact == eager.closer_to_exact == "a"
    assert lazy.measures.exact_error == eager.measures.exact_error
    assert lazy.to_dict() == eager.to_dict()


def test_a_tighter_tolerance_that_parts_the_paths_runs_it_then(oracle_runs):
    model = cudnn_model(3, 5, seed=3, layers=2)
    x = features(60, 3)
    a, b = run_reference(model, x), _nudged(model, x, 3e-6)
    loose = compare(a, b, model=model, atol=1e-3, rtol=0)
    assert loose.agree and loose.closer_to_exact is None and oracle_runs == []
    tight = loose.with_tolerance(atol=0.0, rtol=0.0)
    assert not tight.agree and tight.closer_to_exact == "a" and oracle_runs == [1]
    assert tight.to_dict() == compare(a, b, model=model, atol=0.0, rtol=0.0,
                                      oracle="always").to_dict()
    assert loose.closer_to_exact is None and loose.measures.oracle_left   # left as it was


def test_never_and_a_bad_value(oracle_runs):
    model = cudnn_model(3, 4, seed=4)
    x = features(20, 3)
    a, b = run_reference(model, x), _nudged(model, x, 1e-3)
    never = compare(a, b, model=model, oracle="never")
    assert not never.agree and never.closer_to_exact is None and oracle_runs == []
    assert compare(a, b, model=model, oracle=False).closer_to_exact is None
    with pytest.raises(InspectorError, match="oracle='sometimes' is not one of"):
        compare(a, b, model=model, oracle="sometimes")

