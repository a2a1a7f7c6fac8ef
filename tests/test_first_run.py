"""What a new user meets first: the install (Python version, extras), optional torch, the
``backends`` listing and the README's GPU setup section that quotes it."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from optional import installed

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def setup_kwargs() -> dict:
    """The literal keyword arguments of setup.py's ``setup(...)`` call (read, not run)."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") == "setup")
    out = {}
    for kw in call.keywords:
        try:
            out[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            continue
    return out


def run_cli(*args):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *args], capture_output=True,
                          text=True, timeout=240)
    return proc.returncode, proc.stdout, proc.stderr


# ---- install -----------------------------------------------------------------------------
def test_readme_python_version_is_python_requires():
    requires = setup_kwargs()["python_requires"]
    assert requires == ">=3.11"  # numpy>=2.4 needs 3.11; verified on 3.11
    quick = re.search(r"## Quick start \(two commands, on a fresh machine with Python ([\d.]+)\)",
                      README)
    assert quick and requires == f">={quick.group(1)}"
    # every Python version README names is one that was verified
    assert set(re.findall(r"Python (3\.\d+)", README)) <= {"3.11", "3.12"}, \
        re.findall(r"Python 3\.\d+\+?", README)


def test_test_extra_pulls_no_torch():
    """``pip install ".[test]"`` must not resolve a (CUDA) torch: torch is its own extra."""
    extras = setup_kwargs()["extras_require"]
    assert not any(req.lower().startswith("torch") for req in extras["test"])
    assert any(req.lower().startswith("torch") for req in extras["torch"])
    assert not any("torch" in req.lower() for req in setup_kwargs()["install_requires"])
    assert "download.pytorch.org/whl/cpu" in README and "download.pytorch.org/whl/cpu" in \
        (REPO / ".ci" / "run").read_text()


def _pytest_without_torch(*args, ci=False, declared=False, hide_torch=True):
    """Run pytest in a child where ``import torch`` fails, as on a machine without the extra.
    ``declared``: the run says it is meant to be without torch (optional.WITHOUT_TORCH)."""
    import optional

    code = (("import sys; sys.modules['torch'] = None; " if hide_torch else "import sys; ") +
            f"import pytest; sys.exit(pytest.main({list(args)!r}))")
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("CI", optional.WITHOUT_TORCH)}
    if ci:
        env["CI"] = "true"
    if declared:
        env[optional.WITHOUT_TORCH] = "1"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=240, env=env)


#: Tests that run torch, each found another way by conftest: an explicit mark, a torch backend
#: parameter, a fixture named for torch (issue 20: the first and last failed without torch).
TORCH_TESTS = ["tests/test_backends.py::test_tf32_is_ignored_on_the_cpu_with_a_note",
               "tests/test_fidelity.py::test_backends_run_the_mask_and_agree[torch-cpu]",
               "tests/test_chaotic.py::test_torch_pairs_h_and_c_of_one_run[one-call]",
               "tests/test_fidelity.py::test_merge_mode_none_last_layer_runs_both_outputs"]


@pytest.mark.slow
def test_torch_tests_skip_cleanly_without_torch_and_fail_in_ci():
    proc = _pytest_without_torch("-q", "-rs", "-p", "no:cacheprovider", *TORCH_TESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(TORCH_TESTS)} skipped" in proc.stdout, proc.stdout
    assert "torch is not installed" in proc.stdout
    proc = _pytest_without_torch("-q", "-p", "no:cacheprovider", TORCH_TESTS[0], ci=True)
    assert proc.returncode != 0
    assert "CI=true but torch (CPU build) is not installed" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_ci_run_declared_without_torch_skips_them_and_must_be_without_torch():
    """.ci/run's README run: CI=true and LSTM_INSPECTOR_TESTS_WITHOUT_TORCH=1 skip the torch
    tests (every other optional library still required); with torch installed it refuses."""
    proc = _pytest_without_torch("-q", "-rs", "-p", "no:cacheprovider", *TORCH_TESTS,
                                 ci=True, declared=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(TORCH_TESTS)} skipped" in proc.stdout, proc.stdout
    if installed("torch"):
        proc = _pytest_without_torch("-q", "-p", "no:cacheprovider", TORCH_TESTS[0], ci=True,
                                     declared=True, hide_torch=False)
        assert proc.returncode != 0
        assert "LSTM_INSPECTOR_TESTS_WITHOUT_TORCH=1 but torch is installed" in (proc.stdout
                                                                                 + proc.stderr)


def test_the_torch_mark_selects_exactly_the_tests_that_run_torch():
    """``-m "torch or torch_too"`` (CI's run with torch) picks the torch tests by what they need;
    tests that never touch torch stay out."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "-m", "torch or torch_too",
                           "tests/test_backends.py", "tests/test_fidelity.py",
                           "tests/test_chaotic.py", "tests/test_long_input.py"],
                          cwd=REPO, capture_output=True, text=True, timeout=240)
    picked = set(proc.stdout.split())
    assert set(TORCH_TESTS) <= picked, proc.stdout + proc.stderr
    assert "tests/test_backends.py::test_stepping_loop_measures_c" in picked  # torch_too
    assert "tests/test_fidelity.py::test_backends_run_the_mask_and_agree[tf-cpu]" not in picked
    assert not any("test_long_input.py::test_chunked" in name for name in picked)


# ---- backends ----------------------------------------------------------------------------
def test_backends_lists_every_path_aligned_and_explained():
    from lstm_inspector.backends import NUMPY_BACKENDS, REAL_BACKENDS

    code, out, err = run_cli("backends")
    assert code == 0 and err.strip() == "", err
    lines = out.splitlines()
    columns = set()
    for name in REAL_BACKENDS + NUMPY_BACKENDS:
        line = next(l for l in lines if l.startswith(f"  {name} "))
        columns.add(len(line) - len(line[2 + len(name):].lstrip()))
    assert len(columns) == 1, f"the second column starts at {sorted(columns)}"
    for name in NUMPY_BACKENDS:
        if name.startswith("numpy:"):
            line = next(l for l in lines if l.startswith(f"  {name} "))
            assert "reads the weights" in line, line
    assert "numpy:naive" in out and "x @ kernel + h @ recurrent_kernel" in out
    gpu = next(l for l in lines if l.startswith("  tf-gpu "))
    assert "available" in gpu


def test_unavailable_gpu_backends_say_what_is_missing():
    from types import SimpleNamespace

    from lstm_inspector.backends import _torch_no_gpu
    from lstm_inspector.backends.tf_cudnn import no_gpu_sentence

    assert "tensorflow[and-cuda]" in no_gpu_sentence({"is_cuda_build": False})
    cuda = no_gpu_sentence({"is_cuda_build": True, "cuda_version": "12.5.1", "cudnn_version": "9"})
    assert "CUDA 12.5.1" in cuda and "nvidia-smi" in cuda and "tensorflow[and-cuda]" in cuda
    cpu_torch = SimpleNamespace(__version__="2.13.0+cpu", version=SimpleNamespace(cuda=None))
    assert "CPU build" in _torch_no_gpu(cpu_torch)
    gpu_torch = SimpleNamespace(__version__="2.13.0", version=SimpleNamespace(cuda="12.8"))
    assert "nvidia-smi" in _torch_no_gpu(gpu_torch)


def test_readme_gpu_section_quotes_what_backends_prints():
    """The README's example of missing GPU pieces is exactly what ``backends`` prints for them."""
    from types import SimpleNamespace

    from lstm_inspector.backends import NUMPY_BACKENDS, _torch_no_gpu
    from lstm_inspector.backends.listing import backends_table
    from lstm_inspector.backends.tf_cudnn import no_gpu_sentence

    section = README[README.index("### GPU setup"):]
    section = section[:section.index("\n## ")]
    quoted = [l for l in section.splitlines() if l.startswith(("  tf-gpu ", "  torch-cuda "))]
    assert len(quoted) == 2
    reasons = {
        "tf-gpu": no_gpu_sentence({"is_cuda_build": True, "cuda_version": "12.5.1",
                                   "cudnn_version": "9"}),
        "torch-cuda": _torch_no_gpu(SimpleNamespace(__version__="2.13.0+cpu",
                                                    version=SimpleNamespace(cuda=None))),
        "tf-cpu": "", "torch-cpu": "", **dict.fromkeys(NUMPY_BACKENDS, ""),
    }
    printed = backends_table(reasons).splitlines()
    for line in quoted:
        assert line in printed, line
    assert "lstm-inspector backends" in section and "tensorflow[and-cuda]" in section
