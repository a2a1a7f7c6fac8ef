"""What runs inside the separate process: load the user's file, call their function, send back.

Nothing here runs in the caller's process. The parent (``user_impl.py``) starts a fresh Python
running :func:`serve` and reads its answers from a pipe: ``("progress", fraction, text)`` while it works, then ``("ok", results)``
or ``("error", sentence, user_traceback_text)``.

Two forms, told apart by the function's parameter names (``--form`` overrides):

* sequence form ``forward(x, kernel, recurrent_kernel, bias)``: returns h, (h, c), or a dict with
  ``h`` and optionally ``c`` and gates ``i f g o`` (``g`` also as ``c~``/``c_tilde``).
* step form ``step(x, h_prev, c_prev, kernel, recurrent_kernel, bias)``: one step, returns the
  new (h, c) (or a dict). A function whose return statement names its values (``return state,
  out``) is read by those names: ``state``/``c``/``cell`` is c, ``out``/``h``/``output`` is h.

A PyTorch checkpoint's function gets nn.LSTM's own arrays instead: ``forward(x, weight_ih,
weight_hh, bias_ih, bias_hh)`` / ``step(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih,
bias_hh)`` (``weight_ih (4H, in)``, gates i, f, g, o). An ``nn.LSTM(proj_size=P)`` layer's
function also gets ``weight_hr (P, H)`` (sequence form only: ``forward(x, weight_ih, weight_hh,
bias_ih, bias_hh, weight_hr)`` returning h (T, P), and c (T, H) if it likes; or ``step(x,
h_prev (P,), c_prev (H,), ..., weight_hr)`` returning (h, c); a parameter ``proj_size`` receives P).

Parameters are matched by name (case-insensitive: ``x``/``inputs``, ``h_prev``/
``previous_output``/``h``, ``c_prev``/``previous_state``/``c``, ``kernel``/``W``,
``recurrent_kernel``/``U``/``R``, ``bias``/``b``; a parameter ``units`` receives H), else
positionally in the documented order.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import sys
import textwrap
import traceback

import numpy as np

ROLE_NAMES = {
    "x": ("x", "xt", "inputs", "input", "xin", "frame", "inp"),
    "h": ("hprev", "prevh", "htm1", "previousoutput", "prevoutput", "lastoutput", "h", "hidden",
          "h0", "ht1", "hpast"),
    "c": ("cprev", "prevc", "ctm1", "previousstate", "prevstate", "laststate", "c", "cell",
          "state", "c0", "ct1", "cpast"),
    "kernel": ("kernel", "w", "wx", "wih", "weightih", "inputkernel"),
    "recurrent_kernel": ("recurrentkernel", "u", "r", "wh", "whh", "weighthh", "recurrent", "rk"),
    "bias": ("bias", "b", "biases", "biasih", "bih", "inputbias"),
    "bias_hh": ("biashh", "bhh", "recurrentbias", "hiddenbias"),
    "units": ("units", "hiddensize", "nunits", "numunits", "hsize", "nhidden"),
    "weight_hr": ("weighthr", "whr", "projection", "proj", "wproj", "wp", "wr"),
    "proj_size": ("projsize", "nproj", "psize", "projectionsize"),
}
SEQUENCE_ORDER = ("x", "kernel", "recurrent_kernel", "bias")
STEP_ORDER = ("x", "h", "c", "kernel", "recurrent_kernel", "bias")
#: the same roles as nn.LSTM names them: kernel = weight_ih, recurrent_kernel = weight_hh,
#: bias = bias_ih, then bias_hh (a PyTorch checkpoint's function, ``torch=True``)
TORCH_NAMES = {"kernel": "weight_ih", "recurrent_kernel": "weight_hh", "bias": "bias_ih"}
C_RETURN_NAMES = ("c", "ct", "cnew", "newc", "cnext", "nextc", "cell", "cellstate", "state",
                  "newstate", "cstate", "cout", "s")
H_RETURN_NAMES = ("h", "ht", "hnew", "newh", "hnext", "nexth", "out", "output", "hidden", "y",
                  "hout", "outi", "outit1")


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalpha() or ch.isdigit()).rstrip("_")


def _role(param: str) -> str | None:
    key = _norm(param)
    for role, names in ROLE_NAMES.items():
        if key in names:
            return role
    return None


class UserFault(Exception):
    """A problem in or with the user's function: a sentence, and their traceback if it raised."""

    def __init__(self, sentence: str, user_traceback: str = ""):
        super().__init__(sentence)
        self.user_traceback = user_traceback


def load_function(path: str, name: str | None):
    """Import ``path`` as a module and return ``(function, its name)``."""
    path = os.path.abspath(path)
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)   # their file may import its neighbours
    spec = importlib.util.spec_from_file_location("user_impl_module", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 -- anything their file does is reported
        raise UserFault(f"importing {os.path.basename(path)} raised {_exc_line(exc)}",
                        user_traceback(exc, path)) from None
    if name:
        fn = getattr(module, name, None)
        if not callable(fn):
            raise UserFault(f"{os.path.basename(path)} defines no function named '{name}'")
        return fn, name
    own = [n for n, v in vars(module).items()
           if inspect.isfunction(v) and v.__module__ == module.__name__ and not n.startswith("_")]
    for default in ("forward", "step"):
        if default in own:
            return getattr(module, default), default
    if len(own) == 1:
        return getattr(module, own[0]), own[0]
    listed = ", ".join(own) or "none"
    raise UserFault(f"{os.path.basename(path)} defines {len(own)} functions ({listed}); "
                    f"name the one to run as FILE.py:NAME")


def plan_call(fn, name: str, form: str | None, torch: bool = False,
              projected: bool = False) -> dict:
    """How to call ``fn``: its form, keyword or positional arguments, and its return order
    (``torch``: nn.LSTM's four arrays, two biases)."""
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    except (TypeError, ValueError):
        params = []
    roles = {p.name: _role(p.name) for p in params}
    found = {r for r in roles.values() if r}
    if form is None:   # a required previous state makes a step (an optional h0 does not)
        form = "step" if any(roles[p.name] in ("h", "c") for p in params
                             if p.default is p.empty) else "sequence"
    order = _order(form, torch, projected)
    required = [p.name for p in params if p.default is p.empty]
    by_name = (set(order) <= found and len([r for r in roles.values() if r in order]) == len(order)
               and all(roles[n] for n in required))
    if not by_name and len(required) > len(order):
        raise UserFault(
            f"{name} takes {len(required)} parameters ({', '.join(required)}) that the tool "
            f"cannot match; name them {', '.join(_doc_names(order))} or wrap it (README: Bring "
            f"your own implementation)")
    if projected and "weight_hr" not in found and len(params) < len(order):
        raise UserFault(f"{name} takes no weight_hr, but this nn.LSTM has proj_size (h = W_hr "
                        f"(o * tanh(c)) is P wide): write forward(x, weight_ih, weight_hh, "
                        f"bias_ih, bias_hh, weight_hr) returning h (T, P)")
    plan = {"form": form, "by_name": by_name, "roles": roles if by_name else {}, "torch": torch,
            "projected": projected,
            "units_param": next((n for n, r in roles.items() if r == "units"), None),
            "proj_param": next((n for n, r in roles.items() if r == "proj_size"), None),
            "returns": "h, c"}
    if form == "step":
        plan["returns"], plan["returns_why"] = _return_order(fn)
    return plan


def _order(form: str, torch: bool, projected: bool = False) -> tuple:
    order = STEP_ORDER if form == "step" else SEQUENCE_ORDER
    order = order + ("bias_hh",) if torch else order
    return order + ("weight_hr",) if projected else order


def _doc_names(order):
    torch = "bias_hh" in order
    return [{"h": "h_prev", "c": "c_prev", **(TORCH_NAMES if torch else {})}.get(r, r)
            for r in order]


def _return_order(fn) -> tuple:
    """``("h, c" or "c, h", why)`` from the names in the function's ``return a, b`` statements."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError, IndentationError):
        return "h, c", ""
    func = tree.body[0] if tree.body else None
    for node in ast.walk(func) if func is not None else ():
        if (isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple)
                and len(node.value.elts) == 2
                and all(isinstance(e, ast.Name) for e in node.value.elts)):
            first, second = (_norm(e.id) for e in node.value.elts)
            if (first in C_RETURN_NAMES + ROLE_NAMES["c"]
                    and second in H_RETURN_NAMES + ROLE_NAMES["h"]):
                names = ", ".join(e.id for e in node.value.elts)
                return "c, h", f"its return statement names them ({names})"
    return "h, c", ""


def _arguments(plan: dict, values: dict, units: int) -> tuple:
    """``(args, kwargs)`` for one call, ``values`` keyed by role."""
    order = _order(plan["form"], plan.get("torch", False), plan.get("projected", False))
    kwargs = {}
    if plan["units_param"]:
        kwargs[plan["units_param"]] = units
    if plan.get("proj_param") and "weight_hr" in values:
        kwargs[plan["proj_param"]] = values["weight_hr"].shape[0]
    if plan["by_name"]:
        for pname, role in plan["roles"].items():
            if role in order:
                kwargs[pname] = values[role]
        return (), kwargs
    return tuple(values[r] for r in order), kwargs


def _pair(out, plan, what):
    """(h, c) from a step's return value."""
    if isinstance(out, dict):
        if "h" not in out or "c" not in out:
            raise UserFault(f"{what} returned a dict with keys {sorted(out)}; a step returns "
                            f"(h, c) or a dict with 'h' and 'c'")
        return out["h"], out["c"]
    if isinstance(out, (tuple, list)) and len(out) == 2:
        return (out[1], out[0]) if plan["returns"] == "c, h" else (out[0], out[1])
    raise UserFault(f"{what} returned {_kind(out)}; a step returns the new (h, c)")


def sequence_states(out, T: int, H: int, name: str, P: int | None = None) -> dict:
    """``{"h", "c" (or None), "gates"}`` from a sequence-form return value: h (T, P) (``P``:
    nn.LSTM's proj_size, else H), c and gates (T, H)."""
    from ..core.port_trace import GATE_KEYS, check_states
    from ..errors import InspectorError

    P = P or H
    expected = f"h of shape ({T}, {P}), (h, c), or a dict with 'h' (and 'c', gates)"
    if isinstance(out, dict):
        unknown = sorted(k for k in out if k not in ("h", "c") and k not in GATE_KEYS)
        if "h" not in out or unknown:
            raise UserFault(f"{name} returned a dict with keys {sorted(out)}; expected {expected}"
                            + (f" (unknown: {', '.join(map(str, unknown))})" if unknown else ""))
        h, c = out["h"], out.get("c")
        gates = {k: v for k, v in out.items() if k in GATE_KEYS}
    elif (isinstance(out, (tuple, list)) and len(out) == 2 and np.size(out[0]) == T * P
          and np.size(out[1]) == T * H):
        (h, c), gates = out, {}
    elif isinstance(out, (tuple, list)) and len(out) == T and all(np.size(v) == P for v in out):
        h, c, gates = np.stack([np.reshape(v, P) for v in out]), None, {}   # one h per step
    elif isinstance(out, (tuple, list)):
        raise UserFault(f"{name} returned {_kind(out)}; expected {expected}")
    else:
        h, c, gates = out, None, {}
    try:
        return {"h": check_states("h", h, T, P, name).astype(np.float64),
                "c": None if c is None else check_states("c", c, T, H, name).astype(np.float64),
                "gates": {k: check_states(k, v, T, H, name).astype(np.float64)
                          for k, v in gates.items()}}
    except InspectorError as exc:
        raise UserFault(f"{exc}; expected {expected}") from None


def _kind(out) -> str:
    if isinstance(out, np.ndarray):
        return f"an array of shape {out.shape}"
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)} values"
    return f"a {type(out).__name__}"


def _vector(value, H, what, name):
    arr = np.asarray(value)
    if arr.dtype == object or arr.size != H:
        raise UserFault(f"{what} returned {name} of shape {np.shape(value)}; expected {H} values "
                        f"(one per unit)")
    return arr.reshape(H).astype(np.float64)


def run_job(fn, name, plan, job, progress) -> dict:
    """Run the function on one layer direction's job; arrays in processing order."""
    names = (("kernel", "recurrent_kernel", "bias") + (("bias_hh",) if "bias_hh" in job else ())
             + (("weight_hr",) if "weight_hr" in job else ()))
    weights = {k: np.array(job[k]) for k in names}
    for arr in weights.values():
        arr.setflags(write=False)   # their code gets the stored arrays, and cannot change ours
    x = np.array(job["x"])
    T, H = x.shape[0], job.get("units") or weights["recurrent_kernel"].shape[0]
    P = job.get("proj_size") or H   # nn.LSTM(proj_size): h is P wide, c H wide
    if plan["form"] == "sequence":
        x.setflags(write=False)
        args, kwargs = _arguments(plan, {"x": x, **weights}, H)
        return {"sequence": sequence_states(_call(fn, name, args, kwargs), T, H, name,
                                            job.get("proj_size"))}
    if not plan.get("returns_why"):
        _sniff_return_order(fn, name, plan, x, weights, H)
    result = {}
    runs = [("free", None)] + ([("teacher", job["teacher"])] if job.get("teacher") else [])
    for r, (mode, teacher) in enumerate(runs):
        hs, cs = np.zeros((T, P)), np.zeros((T, H))
        h, c = np.zeros(P, x.dtype), np.zeros(H, x.dtype)
        for t in range(T):
            if teacher is not None and t > 0:
                h, c = teacher[0][t - 1], teacher[1][t - 1]
            values = {"x": x[t].copy(), "h": np.array(h, x.dtype), "c": np.array(c, x.dtype), **weights}
            args, kwargs = _arguments(plan, values, H)
            out = _call(fn, name, args, kwargs, step=t)
            what = f"{name} (step {t})"
            h_new, c_new = _pair(out, plan, what)
            if P != H and np.size(h_new) == H and np.size(c_new) == P:   # widths tell (c, h)
                h_new, c_new = c_new, h_new
            hs[t], cs[t] = _vector(h_new, P, what, "h"), _vector(c_new, H, what, "c")
            h, c = hs[t], cs[t]
            if t % 64 == 0:
                progress((r + t / T) / len(runs), f"{name}: {mode} step {t}/{T}")
        result[mode] = (hs, cs)
    return result


def _sniff_return_order(fn, name, plan, x, weights, H) -> None:
    """When the names do not say it: a cell's h never exceeds its c in magnitude
    (``|h| = |o tanh(c)| <= |c|``), so a first step whose first value is at least the second
    everywhere, and larger somewhere, returned (c, h). Recorded in the plan with the reason."""
    zeros = np.zeros(H, x.dtype)
    if "weight_hr" in weights:   # h and c of two widths: told apart by their sizes
        plan.setdefault("returns_why", "")
        return
    args, kwargs = _arguments(plan, {"x": x[0].copy(), "h": zeros, "c": zeros.copy(), **weights}, H)
    out = _call(fn, name, args, kwargs, step=0)
    if isinstance(out, (tuple, list)) and len(out) == 2:
        try:
            first, second = (np.abs(np.asarray(v, np.float64)).reshape(-1) for v in out)
        except (TypeError, ValueError):
            return
        if first.shape == second.shape and (first >= second).all() and (first > second).any():
            plan["returns"] = "c, h"
            plan["returns_why"] = ("its first value is never smaller than its second at step 0, "
                                   "as c is not (|h| = |o tanh c| <= |c|)")
    plan.setdefault("returns_why", "")


def _call(fn, name, args, kwargs, step=None):
    try:
        return fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 -- their exception is the message
        where = f" at step {step}" if step is not None else ""
        raise UserFault(f"{name} raised {_exc_line(exc)}{where}",
                        user_traceback(exc, inspect.getsourcefile(fn) or "")) from None


def _exc_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return type(exc).__name__ + (f": {text[0]}" if text else "")


def user_traceback(exc: BaseException, path: str) -> str:
    """The traceback lines of the user's own files (not the tool's, not the standard library)."""
    here = os.path.dirname(os.path.abspath(__file__))
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not os.path.abspath(f.filename).startswith(here)
              and "importlib" not in f.filename and not f.filename.startswith("<frozen")]
    lines = ["Traceback (your code, most recent call last):\n"] + traceback.format_list(frames)
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def serve(fd: int, job_file: str) -> None:
    """Entry point of the separate process: read the jobs, answer on pipe ``fd``."""
    import pickle
    from multiprocessing.connection import Connection

    with open(job_file, "rb") as fh:
        request = pickle.load(fh)
    os.dup2(2, 1)   # the user's prints (Python or C) go to stderr, never into the tool's stdout
    conn = Connection(fd)
    child_main(conn, request["path"], request["name"], request["form"], request["jobs"])


def child_main(conn, path, name, form, jobs) -> None:
    """Load, plan, run every job; see the module docstring for the protocol."""
    try:
        fn, name = load_function(path, name)
        plan = plan_call(fn, name, form, torch=bool(jobs) and "bias_hh" in jobs[0],
                         projected=bool(jobs) and "weight_hr" in jobs[0])
        results = []
        for j, job in enumerate(jobs):
            def progress(fraction, text, j=j):
                conn.send(("progress", (j + fraction) / len(jobs), text))
            results.append(run_job(fn, name, plan, job, progress))
        conn.send(("ok", {"name": name, "plan": {k: v for k, v in plan.items() if k != "roles"},
                          "results": results}))
    except UserFault as fault:
        conn.send(("error", str(fault), fault.user_traceback))
    except BaseException as exc:  # noqa: BLE001 -- the parent turns this into one sentence
        conn.send(("error", f"running {name or 'your function'} failed: {_exc_line(exc)}",
                   user_traceback(exc, path)))
    finally:
        conn.close()
