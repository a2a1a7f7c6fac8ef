"""Your own implementation as a path: the user's function runs in a separate process, in either
form, on real files; every way their code can fail ends in one clear message and a live caller."""
import os
import time
from pathlib import Path

import numpy as np
import pytest

import lstm_inspector as li
from lstm_inspector.errors import Cancelled, InspectorError
from lstm_inspector.paths.user_impl import UserCodeError
from test_demo import FORUM, FORUM_INPUT, THREAD_NEWLSTM

IMPLS = Path(__file__).resolve().parent / "impls"


@pytest.fixture(scope="module")
def forum():
    model = li.load_model(FORUM)
    return model, np.load(FORUM_INPUT)


def test_forum_newlstm_runs_as_step_form_read_by_its_return_names(forum):
    model, x = forum
    trace = li.run_impl(model, x, f"{IMPLS / 'forum_newlstm.py'}:NewLSTM")
    assert trace.meta["form"] == "step" and trace.meta["returns"] == "c, h"
    assert trace.layer(0).how("h") == "measured" and trace.layer(0).how("c") == "measured"
    assert trace.layer(0).how("i") == "derived"
    # teacher-forced from the reference's state, as the poster did with truncated sequences:
    # the thread's own "Output with NewLSTM" column
    local = trace.teacher_forced[(0, "forward")]["h"]
    np.testing.assert_allclose(local, THREAD_NEWLSTM, rtol=0, atol=1e-6)
    ref = li.run_reference(model, x)
    assert np.abs(trace.layer(0).h[0] - ref.layer(0).h[0]).max() < 1e-6    # step 0 matches
    assert np.abs(trace.layer(0).h - ref.layer(0).h).max() > 1e-2          # then drifts


def test_return_order_read_from_the_values_when_names_say_nothing(forum):
    model, x = forum
    trace = li.run_impl(model, x, f"{IMPLS / 'anonymous_return.py'}:NewLSTM")
    assert trace.meta["returns"] == "c, h" and "step 0" in trace.meta["returns_why"]
    named = li.run_impl(model, x, f"{IMPLS / 'forum_newlstm.py'}:NewLSTM")
    np.testing.assert_array_equal(trace.layer(0).h, named.layer(0).h)


def test_correct_step_form_agrees_with_reference(forum):
    model, x = forum
    trace = li.run_impl(model, x, str(IMPLS / "correct_step.py"))
    assert trace.meta["form"] == "step" and trace.meta["returns"] == "h, c"
    result = li.diagnose(model, x, trace)
    assert result.agree and result.exit_code == 0, result.text


def test_user_exception_shows_their_traceback_lines(forum):
    model, x = forum
    with pytest.raises(UserCodeError) as err:
        li.run_impl(model, x, f"{IMPLS / 'faulty.py'}:raises")
    assert str(err.value).startswith("raises raised IndexError")
    tb = err.value.user_traceback
    assert "faulty.py" in tb and "return helper(z)" in tb and 'z["gates"]' in tb
    assert "lstm_inspector" not in tb                        # only their own lines


def test_wrong_return_shape_is_one_sentence(forum):
    model, x = forum
    with pytest.raises(UserCodeError) as err:
        li.run_impl(model, x, f"{IMPLS / 'faulty.py'}:wrong_shape")
    message = str(err.value)
    assert "shape (10, 8)" in message and "(10, 2)" in message and "\n" not in message


def test_a_list_of_per_step_h_is_read_and_three_values_are_refused(forum):
    model, x = forum
    trace = li.run_impl(model, x, f"{IMPLS / 'faulty.py'}:list_of_steps")
    assert li.diagnose(model, x, trace).agree
    with pytest.raises(UserCodeError, match="returned a tuple of 3 values; expected h of shape"):
        li.run_impl(model, x, f"{IMPLS / 'faulty.py'}:three_values")


def _children():
    """Pids of this process's live children."""
    own = os.getpid()
    kids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == own and stat[0] != "Z":
                kids.append(int(pid))
    return kids


def test_function_that_never_returns_is_stopped_and_killed(forum):
    model, x = forum
    before = set(_children())
    start = time.monotonic()
    with pytest.raises(UserCodeError, match="did not return within 2 s"):
        li.run_impl(model, x, f"{IMPLS / 'faulty.py'}:never_returns", timeout=2)
    assert time.monotonic() - start < 10
    assert set(_children()) <= before                        # the child is gone


def test_crash_of_the_interpreter_leaves_the_caller_alive(forum):
    model, x = forum
    with pytest.raises(UserCodeError, match="ended without an answer"):
        li.run_impl(model, x, f"{IMPLS / 'faulty.py'}:crashes")
    assert li.run_reference(model, x).steps == 10           # still working


def test_cancel_kills_the_child(forum):
    model, x = forum
    calls = []

    def progress(fraction, text):
        calls.append(text)
        if len(calls) > 3:
            raise Cancelled()

    before = set(_children())
    with pytest.raises(Cancelled):
        li.run_impl(model, x, f"{IMPLS / 'faulty.py'}:never_returns", progress=progress)
    assert set(_children()) <= before


def test_bad_impl_arguments_are_sentences(forum, tmp_path):
    model, x = forum
    with pytest.raises(InspectorError, match="no file"):
        li.run_impl(model, x, str(tmp_path / "absent.py"))
    with pytest.raises(InspectorError, match="Python file"):
        li.run_impl(model, x, str(FORUM))
    with pytest.raises(UserCodeError, match="defines 8 functions"):
        li.run_impl(model, x, str(IMPLS / "faulty.py"))
    with pytest.raises(UserCodeError, match="no function named 'nope'"):
        li.run_impl(model, x, f"{IMPLS / 'faulty.py'}:nope")
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy as np\n\ndef forward(x, kernel, recurrent_kernel, bias)\n")
    with pytest.raises(UserCodeError, match="importing broken.py raised SyntaxError"):
        li.run_impl(model, x, str(broken))


def test_forms_and_arguments_are_told_apart_by_names():
    from lstm_inspector.paths.impl_child import UserFault, plan_call

    def forum(kernel, recurrent_kernel, Bias, x, previous_output, previous_state, units=1):
        return previous_state, previous_output

    def with_h0(x, kernel, recurrent_kernel, bias, h0=None):
        return x

    def anonymous(arg1, arg2, arg3, arg4):
        return arg1

    def too_many(a, b, c, d, e, f, g):
        return a

    plan = plan_call(forum, "forum", None)
    assert plan["form"] == "step" and plan["by_name"] and plan["units_param"] == "units"
    assert plan["returns"] == "c, h"                     # `return previous_state, ...`
    assert plan_call(with_h0, "with_h0", None)["form"] == "sequence"
    plan = plan_call(anonymous, "anonymous", None)
    assert plan["form"] == "sequence" and not plan["by_name"]
    assert plan_call(anonymous, "anonymous", "step")["form"] == "step"
    with pytest.raises(UserFault, match="takes 7 parameters"):
        plan_call(too_many, "too_many", None)
