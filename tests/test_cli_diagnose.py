"""``lstm-inspector diagnose`` and ``compare --impl/--outputs`` as a user runs them: exit codes
0 / 1 / 2, the fix on stdout, the user's own traceback lines on stderr, valid JSON."""
import json
from pathlib import Path

import numpy as np

from test_cli import run_cli
from test_demo import FORUM, FORUM_INPUT

IMPLS = Path(__file__).resolve().parent / "impls"
NEWLSTM = f"{IMPLS / 'forum_newlstm.py'}:NewLSTM"


def test_forum_function_gets_the_transpose_fix_and_exit_1():
    code, out, err = run_cli("diagnose", FORUM, FORUM_INPUT, "--impl", NEWLSTM)
    assert code == 1, err
    assert "best match: recurrent kernel as stored (h @ recurrent_kernel)" in out
    assert ("fix: Your port computes h @ recurrent_kernel; cuDNN computes R_g @ h per gate: "
            "transpose each gate block of recurrent_kernel.") in out
    assert "recurrent_kernel = np.concatenate([blk.T for blk in np.split(recurrent_kernel, 4, axis=1)], axis=1)" in out
    assert "re-run on the fixed arrays agrees with the reference" in out


def test_json_and_agreeing_function_exit_0():
    code, out, err = run_cli("diagnose", FORUM, FORUM_INPUT, "--impl", NEWLSTM, "--json")
    assert code == 1, err
    data = json.loads(out)
    (finding,) = data["findings"]
    assert finding["match"]["faults"] == "recurrent=keras" and finding["fix"]["check_error"] < 1e-6
    assert finding["kind"] == "convention" and data["marked_step"]["step"] == 1
    assert data["path"]["meta"]["returns"] == "c, h"
    code, out, err = run_cli("diagnose", FORUM, FORUM_INPUT, "--impl", IMPLS / "correct_step.py")
    assert code == 0, err
    assert "agrees with the reference" in out


def test_user_exception_exit_2_with_their_traceback():
    code, out, err = run_cli("diagnose", FORUM, FORUM_INPUT, "--impl",
                             f"{IMPLS / 'faulty.py'}:raises", "--form", "sequence")
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("lstm-inspector: raises raised IndexError")
    assert any("faulty.py" in line and "in raises" in line for line in lines)
    assert "lstm_inspector/" not in err


def test_wrong_shape_and_hang_are_one_line_each():
    code, _, err = run_cli("diagnose", FORUM, FORUM_INPUT, "--impl", f"{IMPLS / 'faulty.py'}:wrong_shape")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "shape (10, 8)" in err
    code, _, err = run_cli("diagnose", FORUM, FORUM_INPUT, "--impl",
                           f"{IMPLS / 'faulty.py'}:never_returns", "--timeout", "2")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "did not return within 2 s" in err


def test_user_prints_do_not_break_json():
    code, out, err = run_cli("diagnose", FORUM, FORUM_INPUT, "--impl",
                             f"{IMPLS / 'faulty.py'}:chatty", "--json")
    assert code == 1
    json.loads(out)
    assert "debug: my port starts" in err


def test_outputs_and_compare_with_impl(tmp_path):
    x = np.load(FORUM_INPUT)
    from lstm_inspector import load_model, run_reference

    np.save(tmp_path / "h.npy", run_reference(load_model(FORUM).with_reading("naive"), x).layer(0).h)
    code, out, err = run_cli("diagnose", FORUM, FORUM_INPUT, "--outputs", tmp_path / "h.npy")
    assert code == 1, err
    assert "recurrent kernel as stored" in out and "c carried by each hypothesis" in out
    code, out, err = run_cli("compare", FORUM, FORUM_INPUT, "--impl", NEWLSTM, "--no-oracle")
    assert code == 1, err
    assert "your NewLSTM" in out
    code, out, err = run_cli("diagnose", FORUM, FORUM_INPUT)
    assert code == 2 and "--impl" in err


def test_a_backend_path_is_diagnosed_too():
    code, out, err = run_cli("diagnose", FORUM, FORUM_INPUT, "--backend", "numpy:onnx-order")
    assert code == 1, err
    assert "best match: gate order iofc" in out and "reproduces every step of its h and c" in out
