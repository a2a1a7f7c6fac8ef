"""Install lstm-inspector: ``pip install .`` (app), ``pip install .[test]`` (tests), ``.[torch]``.

torch is its own extra, never part of ``test``: on Linux, PyPI's torch is the CUDA build
(several GB of nvidia-* wheels), so a CPU machine installs it from the CPU index (README).
"""
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
RESOURCES = ["lstm_inspector.resources"] if os.path.isdir(os.path.join(HERE, "resources")) else []

#: One version, the package's (``lstm-inspector --version`` prints it), read here without importing.
VERSION = re.search(r'^__version__ = "([^"]+)"',
                    open(os.path.join(HERE, "lstm_inspector", "__init__.py"), encoding="utf-8").read(),
                    re.M).group(1)

setup(
    name="lstm-inspector",
    version=VERSION,
    description="See exactly where your port of a cuDNN LSTM parts from the real forward pass.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    # The top-level resources/ folder (demo model and utterances) ships as lstm_inspector.resources
    # so the installed command finds it; lstm_inspector.resources_path() finds either place.
    packages=find_packages(include=["lstm_inspector", "lstm_inspector.*"]) + RESOURCES,
    package_dir={"lstm_inspector.resources": "resources"} if RESOURCES else {},
    package_data={"lstm_inspector.resources": ["*", "*/*"]} if RESOURCES else {},
    python_requires=">=3.11",
    # Lower bounds are the versions this was verified with (Python 3.11, CPU; 3.12 too, README):
    # numpy 2.4.6, h5py 3.14, PyQt5 5.15.11, pyqtgraph 0.14.0, TensorFlow 2.21 + tf-keras 2.21,
    # kaldiio 2.18.1, rich 15.0, dask 2026.8 (cluster), torch 2.13, pytest 9.2, pytest-qt 4.5,
    # hypothesis 6.155, scipy 1.17, import-linter 2.17 (tests); onnx 1.23.2, onnxruntime 1.32.0 (export);
    # numba 0.68.1 (fast, test).
    install_requires=[
        "numpy>=2.4",
        "h5py>=3.14",
        "PyQt5>=5.15.11",
        "pyqtgraph>=0.14",
        "tensorflow>=2.21",
        "tf-keras>=2.21",
        "kaldiio>=2.18.1",
        "rich>=15",  # sweep's progress bar
    ],
    extras_require={
        "torch": ["torch>=2.13"],
        "test": ["pytest>=9", "pytest-qt>=4.5", "hypothesis>=6.100", "scipy>=1.17",
                 "import-linter>=2.17",
                 "dask[distributed]>=2026.8", "onnx>=1.23", "onnxruntime>=1.32",
                 "numba>=0.68"],  # the tests hold the compiled engine to the NumPy loop's bits
        # the reference's compiled step loop (core.compiled_loop); without it, the NumPy loop
        "fast": ["numba>=0.68"],
        # sweep --scheduler tcp://HOST:PORT: the same sweep on a Dask distributed cluster
        "cluster": ["dask[distributed]>=2026.8"],
        # export --to onnx and --onnx FILE paths (CPU wheels: onnxruntime, not onnxruntime-gpu)
        "export": ["onnx>=1.23", "onnxruntime>=1.32"],
    },
    entry_points={"console_scripts": ["lstm-inspector=lstm_inspector.cli:main"]},
)
