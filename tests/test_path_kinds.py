"""One registry of paths: a kind added at test time, in a module of its own, is spelled by the
CLI (``compare --b toy:...``), run by sweep and offered by the window's choosers, with no other
change; and every built-in kind is reached through it."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lstm_inspector import resources_path
from lstm_inspector.errors import InspectorError
from lstm_inspector.paths import registry

DEMO = resources_path() / "demo_digits_cudnnlstm.h5"
FEATURES = resources_path() / "demo_seven.npy"

#: A whole path kind, as a newcomer would write one: the reference's trace scaled by 1 + eps.
TOY_MODULE = textwrap.dedent('''
    """Path kind ``toy:EPS``: the NumPy reference with h and c scaled by 1 + EPS."""
    from lstm_inspector.paths.registry import PathKind

    PREFIX = "toy:"


    def run(eps, model, x, settings):
        from lstm_inspector.core.reference import run_reference

        trace = run_reference(model, x, progress=settings.progress)
        for layer in trace.layers:
            for record in layer.values():
                record.h = record.h * (1 + float(eps))
                record.c = record.c * (1 + float(eps))
        trace.label = f"toy x(1+{eps})"
        trace.meta["backend"] = "toy"
        return trace


    KIND = PathKind(name="toy", prefixes=(PREFIX,), listed=(PREFIX + "1e-3",), group="numpy",
                    label=lambda key: f"toy, scaled by 1+{key[len(PREFIX):]}", run=run)
''')


@pytest.fixture
def toy_kind(tmp_path, monkeypatch):
    """Write the toy kind's module in a temporary folder, import it and register its KIND."""
    (tmp_path / "toy_path_kind.py").write_text(TOY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import toy_path_kind

    registry.register(toy_path_kind.KIND)
    yield tmp_path
    registry.unregister("toy")
    sys.modules.pop("toy_path_kind", None)


def test_the_registry_spells_every_builtin_kind_once():
    names = {spec: registry.kind_of(spec).name for spec in (
        "numpy", "reference", "numpy64", "numpy:naive", "auto", "tf-gpu", "torch-cuda",
        "tf-cpu", "torch-cpu", "impl:port.py:forward", "outputs:h.npy", "onnx:m.onnx",
        "tflite:m.tflite", "file:m.py")}
    assert names == {"numpy": "reference", "reference": "reference", "numpy64": "oracle",
                     "numpy:naive": "reading", "auto": "library", "tf-gpu": "library",
                     "torch-cuda": "library", "tf-cpu": "library", "torch-cpu": "library",
                     "impl:port.py:forward": "impl", "outputs:h.npy": "outputs",
                     "onnx:m.onnx": "exported", "tflite:m.tflite": "exported",
                     "file:m.py": "exported"}
    assert [k.name for k in registry.kinds() if k.executes_code] == ["impl"]
    assert registry.settings_key("numpy") == ("reference", "float32")
    assert registry.settings_key("torch-cpu", registry.PathSettings(tf32=True)) == \
        ("torch-cpu", True, False)
    with pytest.raises(InspectorError, match="unknown path 'toy:1'.*impl:FILE.py"):
        registry.kind_of("toy:1")


def test_run_path_is_the_api_of_every_kind(small_demo):
    import lstm_inspector as li
    from lstm_inspector.core.reference import run_reference

    model, x = small_demo
    reference = run_reference(model, x)
    for spec in ("numpy", "reference"):
        assert np.array_equal(li.run_path(spec, model, x).layer(0).h, reference.layer(0).h)
    assert li.run_path("numpy64", model, x).layer(0).h.dtype == np.float64
    assert li.run_path("numpy", model, x, dtype="float64").layer(0).h.dtype == np.float64
    naive = li.run_path("numpy:naive", model, x)
    assert naive.meta["reading"] == "naive"


@pytest.fixture
def small_demo():
    from lstm_inspector import load_features, load_model, run_front

    model, x = run_front(load_model(DEMO), load_features(FEATURES).data[:30])
    return model, x


def test_a_toy_kind_runs_in_compare_and_the_api(toy_kind, small_demo):
    import lstm_inspector as li
    from lstm_inspector.core.reference import run_reference

    model, x = small_demo
    toy = li.run_path("toy:1e-3", model, x)
    np.testing.assert_allclose(toy.layer(0).h, run_reference(model, x).layer(0).h * 1.001,
                               rtol=1e-6)
    # the command line: a fresh process registers the same module, then runs compare --b toy:
    code = (f"import sys; sys.path.insert(0, {str(toy_kind)!r}); import toy_path_kind\n"
            "from lstm_inspector.paths.registry import register; register(toy_path_kind.KIND)\n"
            "from lstm_inspector import cli\n"
            f"sys.exit(cli.main(['compare', {str(DEMO)!r}, {str(FEATURES)!r}, '--b', "
            "'toy:1e-3', '--no-oracle']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 1, out.stdout + out.stderr   # 1e-3 of |h| is out of tolerance
    assert "b:         toy x(1+1e-3)" in out.stdout
    assert "verdict: Precision drift" in out.stdout  # every step is off by the same 1e-3


def test_a_toy_kind_runs_in_a_sweep(toy_kind, tmp_path):
    from lstm_inspector.sweep.command import run_sweep
    from lstm_inspector.sweep.work import SweepSettings

    folder = tmp_path / "feats"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for k in range(2):
        np.save(folder / f"u{k}.npy", rng.standard_normal((25, 13)).astype(np.float32))
    result = run_sweep(SweepSettings(str(DEMO), backend="toy:1e-3"), folder)
    assert result["backend"] == "toy:1e-3"
    assert [r["backend"] for r in result["rows"]] == ["toy", "toy"]
    assert all(r["kind"] in ("precision", "structural") and 1e-5 < r["max_error"] < 1e-1
               for r in result["rows"]), result["rows"]
