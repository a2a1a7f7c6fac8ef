"""Streaming with carried state: chunked runs equal the one-call run; planted bugs are named."""
import numpy as np
import pytest

from engine_models import cudnn_model, features
from lstm_inspector.paths.streaming import stream_check
from lstm_inspector.core.reference import run_reference
from lstm_inspector.core.streaming import MISTAKES
from lstm_inspector.errors import InspectorError

RESET, SWAP = list(MISTAKES)[:2]
pytestmark = pytest.mark.torch_too  # torch-cpu is one of the streamed paths where installed


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    model = cudnn_model(layers=2, units=6, seed=4)
    x = features(90, 3, seed=8)
    paths = ["numpy"]
    try:
        import torch  # noqa: F401
        paths.append("torch-cpu")
    except ImportError:
        pass
    try:
        from lstm_inspector.export import export_model

        folder = tmp_path_factory.mktemp("stream")
        export_model(model, "onnx", folder / "m.onnx")
        paths.append(f"onnx:{folder / 'm.onnx'}")
    except InspectorError:  # onnx not installed
        pass
    return model, x, paths


@pytest.mark.parametrize("chunk", [1, 7, 32])
def test_chunked_run_equals_the_one_call_run(setup, chunk):
    model, x, paths = setup
    for path in paths:
        report = stream_check(model, x, path, chunk)
        assert report.agree and report.max_error < 1e-6, (path, report.text())
        assert "carried correctly" in report.verdict
    # and the one-call run itself is the reference
    from lstm_inspector.backends.streaming import numpy_runner
    from lstm_inspector.core.streaming import run_chunked, stack_of_layers

    chunked = run_chunked(model, x, 16, stack_of_layers(model, numpy_runner(model)[0]))
    np.testing.assert_allclose(chunked[-1], run_reference(model, x).output, atol=1e-6)


@pytest.mark.parametrize("bug,named", [("reset", RESET), ("swap", SWAP)])
def test_planted_streaming_bugs_are_named(setup, bug, named):
    model, x, paths = setup
    for path in paths:
        report = stream_check(model, x, path, 16, bug=bug)
        assert not report.agree
        assert report.first == (16, 0), path
        assert named in report.verdict and "first frame of chunk 1" in report.verdict, report.text()
        assert report.mistake_errors[named] < 1e-6
        assert len(report.boundaries) == 5 and report.boundaries[0]["at_boundary"] > 1e-3


def test_streaming_refuses_backward_layers_and_bad_chunks(setup):
    model, x, _ = setup
    with pytest.raises(InspectorError, match="cannot be streamed"):
        stream_check(cudnn_model(bidirectional=True), features(20, 3), "numpy", 5)
    with pytest.raises(InspectorError, match="positive number"):
        stream_check(model, x, "numpy", 0)
    with pytest.raises(InspectorError, match="one chunk only"):
        stream_check(model, x, "numpy", 500)
    with pytest.raises(InspectorError, match="streaming check runs on"):
        stream_check(model, x, "tf-gpu", 5)


def test_derived_cell_states_equal_the_references_c():
    """c derived from a path's own h (what a TFLite backward direction gets) is the reference's c."""
    from lstm_inspector.core.reference import derive_cell_states

    model = cudnn_model(units=5, seed=2)
    x = features(40, 3)
    ref = run_reference(model, x).layer(0)
    c = derive_cell_states(model.chain[0].weights("forward"), x, ref.h)
    np.testing.assert_allclose(c, ref.c, atol=1e-6)
