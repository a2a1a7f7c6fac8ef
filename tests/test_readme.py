"""Every code block of the README runs as pasted from the repository root (issue 20).

Blocks are read from README.md itself, so an edited example is tested as edited:

- ``bash`` blocks: every ``lstm-inspector ...`` line runs (as ``python -m lstm_inspector``) and
  exits as the README says (0, or 1 where it shows a divergence); the install blocks
  (``pip install``) are what ``.ci/run`` runs, checked against it;
- transcripts (a block whose first line is ``$ lstm-inspector ...``): the command runs and every
  line shown appears in its output (times, e-notation numbers and the absolute path normalised;
  ``...`` stands for lines left out);
- ``python`` blocks: run in order in one namespace, the way a reader pastes them into one
  session; the adapter example (``from my_port import lstm_cell``) runs as ``--impl`` with a
  ``my_port.py`` holding a correct cell, the reader's own module it stands for;
- blocks without a language (diagrams, equations, output excerpts) and ``text`` ones are text.

Commands run in a folder that mirrors the repository root (a link per top-level entry), so the
files they write (``out.png``, ``port.py``, ...) land there, not in the checkout.
"""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def code_blocks() -> list:
    """``(first line number, language, text)`` of every fenced block of the README."""
    blocks, lang, start, lines = [], None, 0, []
    for number, line in enumerate(README.splitlines(), 1):
        if line.startswith("```"):
            if lang is None:
                lang, start, lines = line[3:].strip() or "-", number + 1, []
            else:
                blocks.append((start, lang, "\n".join(lines)))
                lang = None
        elif lang is not None:
            lines.append(line)
    return blocks


BLOCKS = code_blocks()
INSTALL = [b for b in BLOCKS if b[1] == "bash" and "pip install" in b[2]]
COMMANDS = [(n + k, " ".join(shlex.split(line, comments=True)))
            for n, lang, text in BLOCKS if lang == "bash" and "pip install" not in text
            for k, line in enumerate(text.splitlines()) if line.startswith("lstm-inspector")]
TRANSCRIPTS = [b for b in BLOCKS if b[1] == "-" and b[2].startswith("$ lstm-inspector ")]
PYTHON = [b for b in BLOCKS if b[1] == "python"]
ADAPTER = [b for b in PYTHON if "from my_port import" in b[2]]
SESSION = [b for b in PYTHON if b not in ADAPTER]
#: Commands that show a divergence on purpose: exit 1.
DIVERGES = ("--backend numpy:naive", "diagnose ")
#: Commands that import TensorFlow (auto, exports through Keras) or draw the window: slow.
QUICK = ("info ", "backends", "--version", "numpy:naive", "diagnose ", "--to numpy", "--to onnx")


def test_every_block_is_run_or_declared_text():
    """Nothing slips through: each block is one of the kinds above, and there are some of each."""
    run = INSTALL + TRANSCRIPTS + PYTHON + [b for b in BLOCKS if b[1] == "bash"]
    text = [b for b in BLOCKS if b not in run]
    assert all(lang in ("-", "text") and not body.startswith("$ ") for _, lang, body in text), text
    assert all("lstm-inspector" not in body or lang != "-" or not body.lstrip().startswith(
        "lstm-inspector") for _, lang, body in text)
    assert len(COMMANDS) >= 10 and len(TRANSCRIPTS) >= 3 and len(SESSION) >= 2 and ADAPTER
    for _, _, body in BLOCKS:
        for word in re.findall(r"resources/[\w.]+", body):   # only files that ship
            assert (REPO / word).exists(), word


def test_the_install_blocks_are_what_ci_runs():
    ci = (REPO / ".ci" / "run").read_text()
    quick_start = next(body for _, _, body in INSTALL if "python -m pytest" in body)
    assert 'pip install ".[test]" && python -m pytest' in quick_start
    assert "'pip install \".[test]\" && python -m pytest'" in ci   # verbatim, without torch
    torch_block = next(body for _, _, body in INSTALL if "torch" in body)
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_block
    assert "--index-url https://download.pytorch.org/whl/cpu" in ci


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A folder that looks like the repository root: one link per top-level entry."""
    folder = tmp_path_factory.mktemp("root")
    for entry in REPO.iterdir():
        if entry.name not in (".git", "build") and not entry.name.startswith(".venv"):
            (folder / entry.name).symlink_to(entry)
    return folder


def run_command(line: str, cwd: Path):
    args = shlex.split(line)
    assert args[0] == "lstm-inspector", line
    env = {k: v for k, v in os.environ.items() if k != "LSTM_INSPECTOR_DEBUG"}
    env["XDG_CONFIG_HOME"] = str(cwd / ".config")
    return subprocess.run([sys.executable, "-m", "lstm_inspector", *args[1:]], cwd=str(cwd),
                          env=env, capture_output=True, text=True, timeout=600)


def _param(line_no, command):
    marks = () if any(key in command for key in QUICK) else (pytest.mark.slow,)
    return pytest.param(command, id=f"README:{line_no}", marks=marks)


@pytest.mark.parametrize("command", [_param(*c) for c in COMMANDS])
def test_every_command_runs_as_pasted(root, command):
    out = run_command(command, root)
    expected = 1 if any(key in command for key in DIVERGES) else 0
    assert out.returncode == expected, f"{command}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    assert "Traceback" not in out.stderr and "nternal error" not in out.stderr
    if "--screenshot" in command:
        assert (root / command.split("--screenshot")[1].split()[0]).stat().st_size > 10_000


def normalised(line: str) -> str:
    """A line without what differs from machine to machine: the checkout's absolute path,
    times (``0.44s``), e-notation numbers (``1.34e-05``), runs of spaces."""
    line = re.sub(r"/\S*/resources/", "ROOT/resources/", line)
    line = re.sub(r"\b\d+\.\d+s\b", "TIME", line)
    line = re.sub(r"-?\d+(\.\d+)?e[+-]\d+", "NUMBER", line)
    return " ".join(line.split())


@pytest.mark.parametrize("block", [pytest.param(b[2], id=f"README:{b[0]}",
                                                marks=() if "diagnose" in b[2] else
                                                (pytest.mark.slow,)) for b in TRANSCRIPTS])
def test_every_transcript_is_what_the_command_prints(root, block):
    command, *shown = block.splitlines()
    out = run_command(command[2:], root)
    assert out.returncode in (0, 1), out.stderr[-3000:]
    printed = [normalised(line) for line in out.stdout.splitlines()]
    for line in shown:
        if not line.strip() or line.strip() == "...":
            continue
        want = normalised(line)
        if want.endswith("..."):
            assert any(p.startswith(want[:-3].rstrip()) for p in printed), (line, out.stdout)
        else:
            assert want in printed, f"README line not printed: {line!r}\n{out.stdout}"


@pytest.mark.slow
def test_the_python_blocks_run_in_one_session(root, monkeypatch, capsys):
    """The API snippet and the detective's, pasted one after the other into one session."""
    monkeypatch.chdir(root)
    namespace = {"__name__": "__readme__"}
    for line_no, _, body in SESSION:
        exec(compile(body, f"README.md:{line_no}", "exec"), namespace)   # noqa: S102
    printed = capsys.readouterr().out
    assert "quantity='i', step=1," in printed and printed.startswith("Divergence(layer=0, ")
    assert "Structural divergence from step 1 in i of layer 0" in printed
    assert "seven" in printed                       # the demo model's answer, from "three"'s state
    assert namespace["result"].exit_code == 1 and namespace["fix"].lines
    assert np.array_equal(namespace["theirs"].layer(0).h, namespace["mine"].layer(0).h)


MY_PORT = '''import numpy as np


def lstm_cell(x, W, U, b, h, c):
    """A correct cuDNN cell in another argument order (the reader's own module)."""
    H = h.shape[-1]
    rows = lambda m, g: m[:, g * H:(g + 1) * H]
    z = [rows(W, g).reshape(H, -1) @ x + rows(U, g) @ h + b[g * H:(g + 1) * H]
         + b[(4 + g) * H:(5 + g) * H] for g in range(4)]
    sig = lambda v: 1 / (1 + np.exp(-v))
    i, f, g, o = sig(z[0]), sig(z[1]), np.tanh(z[2]), sig(z[3])
    c = f * c + i * g
    return o * np.tanh(c), c
'''


def test_the_adapter_block_is_a_working_step_function(root):
    """Two lines of the reader's own file put their cell's argument order right: with a correct
    cell behind it, diagnose finds nothing wrong."""
    (root / "my_port.py").write_text(MY_PORT)
    (root / "adapter.py").write_text(ADAPTER[0][2] + "\n")
    out = run_command("lstm-inspector diagnose resources/forum_cudnnlstm_in1_h2.h5 "
                      "resources/forum_input.npy --impl adapter.py:step", root)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "agrees" in out.stdout
