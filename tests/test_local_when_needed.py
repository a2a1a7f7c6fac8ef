"""b's local errors are computed when the paths part (compare's default ``local="needed"``).

They are most of an analysis's arithmetic (every step of b recomputed in float64), and an
agreement has nothing for them to explain. Where the paths part, at once or under a later
tolerance, the report is the one ``local="always"`` makes, value for value.
"""
import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.core import analysis
from lstm_inspector.core.compare import compare
from lstm_inspector.core.reference import run_reference
from lstm_inspector.errors import InspectorError


def _same_report(got, want):
    assert got.to_dict() == want.to_dict()
    assert got.verdict == want.verdict and got.kind == want.kind
    for key, (local, scale) in want.measures.local_errors().items():
        mine = got.measures.local_errors()[key]
        assert mine[0].tobytes() == local.tobytes() and mine[1].tobytes() == scale.tobytes()


def test_an_agreement_computes_no_local_error_unless_asked():
    model = cudnn_model(3, 5, seed=1, layers=2)
    x = features(40, 3)
    a, b = run_reference(model, x), run_reference(model, x, dtype="float64")
    lazy = compare(a, b, model=model)
    assert lazy.agree and lazy.local is None and not lazy.measures.local_done
    assert lazy.local_step_error(0, "forward", "h") is None
    eager = compare(a, b, model=model, local="always")
    assert eager.agree and eager.local is not None
    assert eager.local_step_error(0, "forward", "h").max() < 1e-6
    # what an agreement reports does not depend on them
    assert lazy.verdict == eager.verdict and lazy.max_error() == eager.max_error()


@pytest.mark.parametrize("reading", ["naive", "hard_sigmoid"])
def test_paths_that_part_get_the_report_always_makes(reading):
    model = cudnn_model(3, 4, seed=2)
    x = features(30, 3)
    a, b = run_reference(model, x), run_reference(model.with_reading(reading), x)
    lazy = compare(a, b, model=model)
    assert lazy.kind == "structural" and lazy.measures.local_done
    _same_report(lazy, compare(a, b, model=model, local="always"))


def test_a_tighter_tolerance_that_parts_the_paths_computes_them_then():
    model = cudnn_model(3, 5, seed=3, layers=2)
    x = features(60, 3)
    a, b = run_reference(model, x), run_reference(model, x, dtype="float64")
    loose = compare(a, b, model=model, atol=1e-3, rtol=0)
    assert loose.agree and loose.local is None
    tight = loose.with_tolerance(atol=0.0, rtol=0.0)
    assert not tight.agree and tight.local is not None
    _same_report(tight, compare(a, b, model=model, atol=0.0, rtol=0.0, local="always"))
    # the measures of the looser report are left as they were (a frozen value)
    assert loose.local is None and not loose.measures.local_done


def test_the_separate_pass_equals_the_one_pass():
    model = cudnn_model(3, 5, seed=4, layers=2)
    x = features(50, 3)
    a, b = run_reference(model, x), run_reference(model.with_reading("naive"), x)
    one = analysis.measure(a, b, model=model)
    apart = analysis.measure(a, b, model=model, local=False)
    assert not apart.local_done and apart.local_errors() == {}
    later = apart.with_local(model, b)
    assert later.local_done and set(later.local_errors()) == set(one.local_errors())
    for key, (local, scale) in one.local_errors().items():
        assert later.local_errors()[key][0].tobytes() == local.tobytes()
        assert later.local_errors()[key][1].tobytes() == scale.tobytes()


def test_an_unknown_choice_is_one_sentence():
    model = cudnn_model(2, 3, seed=5)
    x = features(5, 2)
    with pytest.raises(InspectorError, match="local='sometimes' is not one of needed, always"):
        compare(run_reference(model, x), run_reference(model, x), model=model, local="sometimes")
