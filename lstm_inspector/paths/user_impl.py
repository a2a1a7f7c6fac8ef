"""Your own forward pass as a path: run the user's Python function in a separate process.

``run_impl(model, x, "my_port.py:NewLSTM")`` loads the function from the file, in a *separate
process* (a fresh Python interpreter), calls it on every selected layer direction with the
arrays exactly as stored (``get_weights()`` order and shapes: ``kernel (in, 4H)``,
``recurrent_kernel (H, 4H)``, ``bias (8H,)``, read-only) and returns a :class:`ImplTrace`:

* h is *measured* (what the function returned); c is measured when the function returns it,
  else *derived*; gates are measured when a sequence-form function returns them in a dict,
  else *derived* from the function's own states (``core.port_trace``).
* Each layer is fed the reference's input to that layer (the features for layer 0, the NumPy
  reference's output of the layer below otherwise), so every layer is judged on its own.
* A bidirectional layer's function is one direction's: it runs once per direction, the
  backward one on the time-reversed input; results are stored by input time.
* Step-form functions also run *teacher-forced*: every step from the reference's (h, c) at
  t-1, giving the local error of each step (``ImplTrace.teacher_forced``).

The two forms and how arguments and return values are matched are in ``impl_child.py``.

Safety: the user's code runs only when asked (this call), never in the caller's process, and
under a time limit: a hang is killed after ``timeout`` seconds, a crash (even a segfault) ends
only the child, ``progress`` raising (the GUI's Cancel) kills it at once. An exception in their
code becomes a :class:`UserCodeError` carrying their own traceback lines; a return value of the
wrong shape becomes one sentence.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from dataclasses import dataclass

import numpy as np

from ..core.port_trace import PortTrace, port_layer_trace, to_input_time
from ..core.analysis import reversed_direction
from ..core.reference import layer_output, run_reference
from ..core.trace import Trace
from ..errors import InspectorError

DEFAULT_TIMEOUT = 120.0   # seconds for the whole run, start of the process included
FORMS = ("sequence", "step")


class UserCodeError(InspectorError):
    """The user's function raised, returned the wrong thing, hung or crashed.

    ``str(error)`` is one sentence; ``user_traceback`` holds the traceback lines of the user's
    own file when their code raised ("" otherwise).
    """

    def __init__(self, sentence: str, user_traceback: str = ""):
        super().__init__(sentence)
        self.user_traceback = user_traceback


@dataclass(frozen=True)
class ImplSpec:
    """``FILE.py[:NAME]`` and the form (None: told apart by the parameter names)."""

    path: str
    name: str | None = None
    form: str | None = None

    @classmethod
    def parse(cls, text, form: str | None = None) -> "ImplSpec":
        if isinstance(text, ImplSpec):
            return text if form is None else ImplSpec(text.path, text.name, form)
        text = os.fspath(text)
        path, name = text, None
        head, sep, tail = text.rpartition(":")
        if sep and tail.isidentifier() and head:
            path, name = head, tail
        if form not in (None,) + FORMS:
            raise InspectorError(f"form '{form}' is not 'sequence' or 'step'")
        if not path.endswith(".py"):
            raise InspectorError(f"--impl takes a Python file (FILE.py or FILE.py:NAME), not '{text}'")
        if not os.path.isfile(path):
            raise InspectorError(f"there is no file '{path}'")
        return cls(os.path.abspath(path), name, form)

    def describe(self) -> str:
        return os.path.basename(self.path) + (f":{self.name}" if self.name else "")


ImplTrace = PortTrace   # the user's function's trace; see ``core.port_trace``


def layer_inputs(model, reference: Trace, layers) -> dict:
    """``{k: (T, in)}``: the reference's input to each chain layer ``k`` in ``layers``."""
    chain = model.chain
    out = {}
    for k in layers:
        out[k] = reference.x if k == 0 else layer_output(chain[k - 1], reference.layers[k - 1])
    return out


def selected_layers(model, layer) -> list:
    """The chain indices to run: ``[layer]``, or all of them when ``layer`` is None."""
    n = len(model.chain)
    if layer is None:
        return list(range(n))
    if not 0 <= int(layer) < n:
        raise InspectorError(f"the model has {n} runnable recurrent layer(s); --layer {layer} "
                             f"is not one of them (0 to {n - 1})")
    return [int(layer)]


#: Model files whose arrays are nn.LSTM's: a function written for them gets those, not Keras's.
TORCH_FORMATS = ("pytorch-state-dict", "safetensors")


def impl_arrays(model, stored, arrays=None) -> dict:
    """What the user's function receives for one direction: ``arrays`` (default: the stored
    ``(kernel, recurrent_kernel, bias)``) as the file stores them, or, for a PyTorch checkpoint,
    nn.LSTM's own ``weight_ih (4H, in), weight_hh (4H, H), bias_ih, bias_hh`` (an exact
    reshuffle of the same numbers, under the roles kernel, recurrent_kernel, bias, bias_hh), and
    with ``proj_size=P`` also ``weight_hr (P, H)`` (``weight_hh`` is then ``(4H, P)``); for
    an nn.GRU, its ``weight_ih (3H, in), weight_hh (3H, H), bias_ih, bias_hh`` (gates r, z, n)."""
    from ..core.gru_weights import read_gru
    from ..core.weights import read_stored

    arrays = (stored.kernel, stored.recurrent_kernel, stored.bias) if arrays is None else arrays
    if model.file_format not in TORCH_FORMATS:
        return dict(zip(("kernel", "recurrent_kernel", "bias"), arrays))
    if getattr(stored, "cell", "lstm") == "gru":
        w = read_gru(*arrays, stored.true_reading, stored.activation, stored.recurrent_activation)
    else:
        w = read_stored(*arrays, stored.true_reading,
                        projection=getattr(stored, "projection", None))
    weight_ih, weight_hh, bias_ih, bias_hh = w.to_torch()
    out = {"kernel": weight_ih, "recurrent_kernel": weight_hh, "bias": bias_ih,
           "bias_hh": bias_hh, "units": w.units}
    if getattr(stored, "projection", None) is not None:   # nn.LSTM(proj_size=P): h = W_hr m
        out["weight_hr"], out["proj_size"] = np.array(stored.projection), stored.proj_size
    return out


def _jobs(model, reference, layers, with_teacher: bool):
    chain, inputs, jobs, keys = model.chain, layer_inputs(model, reference, layers), [], []
    for k in layers:
        layer = chain[k]
        for d in layer.directions:
            stored = layer.directions[d]
            reverse = reversed_direction(model, k, d)
            ref_lt = reference.layer(k, d)
            job = {**impl_arrays(model, stored),
                   "x": np.ascontiguousarray(to_input_time(inputs[k], reverse), np.float32)}
            if with_teacher:
                if ref_lt.c is not None:   # a GRU's step has no c to force (core.gru)
                    job["teacher"] = (to_input_time(ref_lt.h, reverse),
                                      to_input_time(ref_lt.c, reverse))
            jobs.append(job)
            keys.append((k, d, reverse))
    return jobs, keys, inputs


def run_impl(model, x, impl, layer=None, form=None, reference: Trace | None = None,
             timeout: float = DEFAULT_TIMEOUT, progress=None) -> ImplTrace:
    """Run the user's LSTM function as a path and return its trace.

    Parameters
    ----------
    model : Model
        The model file's layers (its stored arrays are what the function receives).
    x : array (T, in)
        The model's input features.
    impl : str or ImplSpec
        ``"FILE.py"`` or ``"FILE.py:NAME"``; without NAME a function called ``forward`` or
        ``step`` is taken, or the file's only function.
    layer : int, optional
        Run only chain layer ``layer`` (default: every layer, each fed the reference's input).
    form : "sequence", "step" or None (told apart by the parameter names).
    reference : Trace, optional
        The float32 NumPy reference on ``x`` (computed when not given).
    timeout : float
        Seconds before a function that does not return is stopped.
    progress : callable(fraction, text), optional
        Called about every 0.05 s while the function runs; raising from it (the GUI's Cancel)
        stops the process.

    Returns
    -------
    ImplTrace
        Layers not run hold an empty dict. Raises :class:`UserCodeError` when the function
        raises, returns the wrong shape, hangs or crashes.
    """
    spec = ImplSpec.parse(impl, form)
    layers = selected_layers(model, layer)
    if any(model.chain[k].cell == "gru" for k in layers):
        # the step form passes an LSTM's (h, c); a GRU function runs the whole sequence
        if spec.form == "step":
            raise InspectorError("a GRU layer's function runs in the sequence form only: "
                                 "forward(x, kernel, recurrent_kernel, bias) returning h (T, H)")
        spec = ImplSpec(spec.path, spec.name, "sequence")
    if reference is None:
        reference = run_reference(model, x)
    x = reference.x
    jobs, keys, inputs = _jobs(model, reference, layers, with_teacher=True)
    reply = _run_in_child(spec, jobs, timeout, progress)
    plan = reply["plan"]
    chain = model.chain
    trace_layers = [dict() for _ in range(max(layers) + 1)]
    teacher_forced = {}
    for (k, d, reverse), job, result in zip(keys, jobs, reply["results"]):
        w = chain[k].weights(d)
        if "sequence" in result:
            seq = result["sequence"]
            h, c, gates = seq["h"], seq["c"], seq["gates"]
        else:
            (h, c), gates = result["free"], None
            th, tc = result["teacher"]
            teacher_forced[(k, d)] = {"h": to_input_time(th, reverse), "c": to_input_time(tc, reverse)}
        trace_layers[k][d] = port_layer_trace(w, job["x"], h, c, gates, reverse, np.float64)
    last = max(layers)
    output = layer_output(chain[last], trace_layers[last])
    name = reply["name"]
    meta = {"backend": "impl", "impl": f"{os.path.basename(spec.path)}:{name}",
            "form": plan["form"], "device": "CPU (your code)", "dtype": "float64",
            "tf32": "n/a", "layers": ",".join(map(str, layers))}
    if plan["form"] == "step":
        meta["returns"] = plan["returns"]
        if plan.get("returns_why"):
            meta["returns_why"] = plan["returns_why"]
    if plan.get("units_param"):
        meta["units_passed"] = chain[layers[0]].units
    return ImplTrace(layers=trace_layers, layer_names=[chain[k].name for k in range(last + 1)],
                     x=x, output=output, label=f"your {name} ({os.path.basename(spec.path)})",
                     meta=meta, teacher_forced=teacher_forced, impl=spec,
                     layer_inputs={k: inputs[k] for k in layers})


def run_impl_arrays(spec: ImplSpec, jobs: list, timeout: float = DEFAULT_TIMEOUT,
                    progress=None) -> dict:
    """Run ``spec`` on prepared jobs (see ``_jobs``) in the child; returns its reply dict.

    Used by the detective's fix check: the same function on *fixed* arrays."""
    return _run_in_child(spec, jobs, timeout, progress)


def _run_in_child(spec: ImplSpec, jobs: list, timeout: float, progress) -> dict:
    """Start ``python -c serve(...)`` on the jobs (a temporary pickle), relay its progress,
    return its answer; kill it on timeout, on a raising ``progress``, or when it is done.

    A plain subprocess (not ``multiprocessing``) so that a caller's script without an
    ``if __name__ == "__main__"`` guard is never re-run in the child."""
    what = spec.name or os.path.basename(spec.path)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    read_fd, write_fd = os.pipe()
    with tempfile.NamedTemporaryFile("wb", suffix=".pkl", delete=False) as job_file:
        pickle.dump({"path": spec.path, "name": spec.name, "form": spec.form, "jobs": jobs},
                    job_file, protocol=pickle.HIGHEST_PROTOCOL)
    code = ("import sys; from lstm_inspector.paths.impl_child import serve; "
            "serve(int(sys.argv[1]), sys.argv[2])")
    try:
        proc = subprocess.Popen([sys.executable, "-c", code, str(write_fd), job_file.name],
                                pass_fds=(write_fd,), env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL if _quiet() else None)
    except OSError as exc:
        os.close(read_fd)
        os.close(write_fd)
        os.unlink(job_file.name)
        raise InspectorError(f"could not start a Python process for {what} ({exc})") from None
    os.close(write_fd)
    receiver = Connection(read_fd)
    deadline = time.monotonic() + float(timeout)
    fraction, text = 0.0, f"running {what} in a separate process"
    try:
        while True:
            if progress is not None:
                progress(fraction, text)      # may raise Cancelled: the finally kills the child
            if receiver.poll(0.05):
                try:
                    msg = receiver.recv()
                except (EOFError, OSError):
                    proc.wait(5)
                    raise UserCodeError(_crash_sentence(what, proc.returncode)) from None
                if msg[0] == "progress":
                    fraction, text = msg[1], msg[2]
                    continue
                if msg[0] == "error":
                    raise UserCodeError(msg[1], msg[2])
                return msg[1]
            if proc.poll() is not None and not receiver.poll(0):
                raise UserCodeError(_crash_sentence(what, proc.returncode))
            if time.monotonic() > deadline:
                raise UserCodeError(
                    f"{what} did not return within {timeout:g} s, so it was stopped "
                    f"(an endless loop? raise the limit with --timeout if it is only slow)")
    finally:
        receiver.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        os.unlink(job_file.name)


def _quiet() -> bool:
    """The user's prints go to our stderr (the child moves them); stdout stays the tool's."""
    return False


def _crash_sentence(what: str, exitcode) -> str:
    how = f"signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit code {exitcode}"
    return (f"the process running {what} ended without an answer ({how}): its code crashed "
            f"the interpreter or exited; the inspector itself is unaffected")
