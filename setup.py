"""Install lstm-inspector: ``pip install .`` (app), ``pip install .[test]`` (tests), ``.[torch]``."""
import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))
RESOURCES = ["lstm_inspector.resources"] if os.path.isdir(os.path.join(HERE, "resources")) else []

setup(
    name="lstm-inspector",
    version="0.1.0",
    description="See exactly where your port of a cuDNN LSTM parts from the real forward pass.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    # The top-level resources/ folder (demo model and utterances) ships as lstm_inspector.resources
    # so the installed command finds it; lstm_inspector.resources_path() finds either place.
    packages=find_packages(include=["lstm_inspector", "lstm_inspector.*"]) + RESOURCES,
    package_dir={"lstm_inspector.resources": "resources"} if RESOURCES else {},
    package_data={"lstm_inspector.resources": ["*", "*/*"]} if RESOURCES else {},
    python_requires=">=3.9",
    install_requires=[
        "numpy>=1.23",
        "h5py>=3.7",
        "PyQt5>=5.15",
        "pyqtgraph>=0.13.3",
        "tensorflow>=2.16",
        "tf-keras>=2.16",
        "kaldiio>=2.18",
    ],
    extras_require={
        "torch": ["torch>=2.0"],
        "test": ["pytest>=7", "pytest-qt>=4.2", "hypothesis>=6", "torch>=2.0"],
    },
    entry_points={"console_scripts": ["lstm-inspector=lstm_inspector.cli:main"]},
)
