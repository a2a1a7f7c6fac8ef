"""What every backend shares: the chain driver, the trace it builds, lazy TensorFlow import.

A backend only knows how to run *one layer* on a (T, in) float32 input and hand back, per
direction, ``h`` and ``c`` as (T, H) arrays indexed by input time plus how ``c`` was obtained.
:func:`run_chain` feeds the layers one into the next exactly as Keras does (through
``core.reference.layer_output``, so every path merges directions and reverses ``go_backwards``
output the same way), builds the :class:`~lstm_inspector.core.trace.Trace` and fills the gates
with ``core.derived_gates.derive_gates`` (cuDNN never exposes them: provenance ``"derived"``).
"""
from __future__ import annotations

import platform

import numpy as np

from ..core.cells import DerivedCells, DerivedEnds, HeldDerivation, KeptRows, MaskedCells
from ..core.model import Model
from ..core.progress import sub_progress
from ..core.recurrence import keep_gates
from ..core.derived_gates import derive_gates
from ..core.reference import layer_output
from ..core.trace import LayerTrace, Trace
from ..errors import InspectorError

CUDNN_ACTIVATIONS = ("tanh", "sigmoid")  # (activation, recurrent_activation) cuDNN hard-wires


def stepped_direction(layer, layer_in, direction: str, index: int, h, step, part, label: str,
                      gaps: list) -> tuple:
    """``(h, c, "stepped")`` of one direction whose library gives c only for the last step.

    ``step(x_proc, report) -> (h_step, c)`` reruns the direction one step at a time from its
    previous (h, c) on ``x_proc`` (the input in processing order); the results are put back in
    input time. Both h and c are the *stepped* run's: one trajectory, so that the teacher-forced
    analysis pairs an h with the c it came with. (In a chaotic model the one-call run and the
    stepped run part after a few dozen steps; pairing the one-call h with the stepped c would
    read as a structural error.) The gap between the one-call ``h`` and the stepped h goes to
    ``gaps`` as its own finding: ``{"layer", "direction", "max_abs", "first_step"}`` where
    ``first_step`` is the first processed step (input time) at which they differ by more than
    1e-5, or None.
    """
    reverse = layer.processing_reversed(direction)
    x_proc = layer_in[::-1] if reverse else layer_in
    report = None
    if part is not None:
        k = len(layer.directions)
        lo, hi = (index + 0.1) / k, (index + 1) / k
        text = f"{label}: layer {layer.name} {direction}, stepping for c"

        def report(f):
            part(lo + (hi - lo) * f, text)
    h_step, c = step(x_proc, report)
    gap = np.abs(h_step - (h[::-1] if reverse else h)).max(axis=1)  # (T,) processing order
    apart = np.flatnonzero(gap > 1e-5)
    first = None
    if apart.size:
        first = int(len(gap) - 1 - apart[0]) if reverse else int(apart[0])
    if reverse:
        h_step, c = h_step[::-1], c[::-1]
    gaps.append({"layer": layer.name, "direction": direction,
                 "max_abs": float(gap.max()) if gap.size else 0.0, "first_step": first})
    return np.ascontiguousarray(h_step), np.ascontiguousarray(c), "stepped"


#: The roads a library backend can take (``trace.meta["road"]``).
ONE_CALL, STEPPED = "one-call", "stepped"


def one_call_direction(layer, layer_in, direction: str, start, run_call, refused, lengths: dict,
                       checks: list) -> tuple:
    """``(h, c, provenance)`` of one direction from one library call over the sequence.

    This is what the model itself runs (``model.predict``: one call per layer direction), so
    h at every step is *measured* from that call. Where the library refuses a length
    (``refused(exc)`` says that ``exc`` is the library's own error for it, e.g. cuDNN's
    ``CUDNN_STATUS_NOT_SUPPORTED`` beyond 65,535 steps), the call is retried on chunks of half
    the length until the library takes it, each chunk from the (h, c) the previous one returned
    (state carried: the same recurrence); ``lengths`` (shared by every direction of a run)
    remembers the chunk length that ran and the lengths refused, so the limit is found once.

    ``run_call(x_rows (n, in), state (h0, c0), lo, hi, out (n, H)) -> (h (n, H) or None,
    (h_last, c_last), c (n, H) or None)`` runs the library on steps ``lo:hi`` of the processing
    order. ``x_rows`` and ``out`` are views of the layer's input and of this direction's h
    (reversed for a backward direction, so any strides): a run_call copies what its library
    reads (``float32(x_rows)``), and either writes h into ``out`` and returns None for it, or
    returns h (then copied into ``out``). Writing into ``out`` saves a second (T, H) array and
    a pass over it (an hour's h is 184 MB a direction); copying x piece by piece saves a
    reversed copy of the whole input.

    When the library gives c only for its last step (cuDNN, ``nn.LSTM``), c between is
    *derived* from the measured h by the NumPy equations (``core.recurrence.cell_states_between``,
    the contractive recursion ``c_t = f_t c_{t-1} + i_t c~_t`` with gates from the measured
    ``h_{t-1}``), restarting from the c each call returned; the c and h the last call returns
    are a measured check of that derivation. ``checks`` gets ``{"layer", "direction", "calls",
    "max_abs", "h_last_max_abs"}``: how far the derived c, carried to the end of each call,
    lands from the c the call returned, and how far the returned h is from the last output.

    A GRU (``layer.cell == "gru"``) has no cell state: ``run_call`` returns ``c_last`` and
    ``c`` None, the state carried is h alone, and the c returned here is None (its gates are
    derived from h alone: ``core.gru``).
    A short run returns its derived c as a ``cells.HeldDerivation``, with the gates the
    derivation computed (the trace's gates: ``run_chain`` holds them, nothing derives them again).
    A long run (``recurrence.keep_gates`` false) does not hold the derived c: it returns a
    ``cells.DerivedEnds`` (c at block ends) from which ``run_chain`` makes the trace recompute
    any window of c, bit for bit (``cells.DerivedCells``).
    """
    from ..core.recurrence import cell_states_between

    gru = layer.cell == "gru"
    reverse = layer.processing_reversed(direction)
    x_proc = layer_in[::-1] if reverse else layer_in   # a view: run_call copies what it reads
    T, H = x_proc.shape[0], layer.units
    h, c = np.empty((T, layer.out_units), np.float32), None  # input time; c if the library gives it
    h_proc = h[::-1] if reverse else h                        # a view, processing order
    checkpoints, state, lo, calls = {}, start, 0, 0
    measured_c, h_gap = True, 0.0
    size = min(lengths.get("chunk") or T, T)
    while lo < T:
        hi = min(lo + size, T)
        try:
            h_chunk, (h_last, c_last), c_chunk = run_call(x_proc[lo:hi], state, lo, hi,
                                                          h_proc[lo:hi])
        except Exception as exc:
            if hi - lo < 2 or not refused(exc):
                raise
            lengths.setdefault("refused", []).append(
                (hi - lo, (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]))
            size = lengths["chunk"] = (hi - lo) // 2
            continue
        if size < T:
            lengths["chunk"] = size
        calls += 1
        if h_chunk is not None:
            h_proc[lo:hi] = h_chunk
            del h_chunk
        h_gap = max(h_gap, float(np.abs(np.asarray(h_last, np.float32) - h_proc[hi - 1]).max()))
        if gru:
            pass
        elif c_chunk is None:
            measured_c = False
            checkpoints[hi - 1] = np.asarray(c_last, np.float32)
        else:
            if c is None:
                c = np.empty((T, H), np.float32)
            (c[::-1] if reverse else c)[lo:hi] = c_chunk
        state = (float32(h_last), None if gru else float32(c_last))
        lo = hi
    gap = None
    if gru:
        checks.append({"layer": layer.name, "direction": direction, "calls": calls,
                       "max_abs": None, "h_last_max_abs": h_gap, "cell": "gru"})
        return h, None, ("measured", None)
    if not measured_c:
        if keep_gates(T, H, np.float32):   # a short run holds c; a long one its block ends
            c = np.empty((T, H), np.float32)
            # the gates the derivation computes are the trace's: kept (processing order)
            gates = None if layer.proj_size else tuple(np.empty((T, 4 * H), np.float32)
                                                      for _ in 'za')
            gap = cell_states_between(layer.weights(direction), x_proc, h_proc, checkpoints,
                                      out=c[::-1] if reverse else c, h0=start[0], c0=start[1],
                                      gates=gates)
            if gates is not None:
                z, a = (np.ascontiguousarray(g[::-1]) if reverse else g for g in gates)
                c = HeldDerivation(c, z, a)
        else:
            ends = {}
            gap = cell_states_between(layer.weights(direction), x_proc, h_proc, checkpoints,
                                      h0=start[0], c0=start[1], ends=ends)
            c = DerivedEnds(checkpoints, ends, start[0], start[1])
    elif c is None:
        c = np.empty((0, H), np.float32)
    checks.append({"layer": layer.name, "direction": direction, "calls": calls, "max_abs": gap,
                   "h_last_max_abs": h_gap})
    return h, c, ("measured", "measured" if measured_c else "derived")


def record_one_call(meta: dict, checks: list, lengths: dict, library: str) -> None:
    """Into a one-call backend's ``meta``: the road, the derivation checks, the chunking (and
    why), and the notes that say so."""
    meta["road"] = ONE_CALL
    meta["derivation_checks"] = checks
    meta["one_call_chunk"] = lengths.get("chunk")
    meta["length_refused"] = [n for n, _ in lengths.get("refused", ())]
    if not checks:   # no call ran (every step masked): nothing to say about one
        return
    derived = [c for c in checks if c["max_abs"] is not None]
    note = (f"{library} ran each layer direction in one call over the whole sequence, as the "
            f"model does; h is measured at every step")
    if derived:
        worst = max(c["max_abs"] for c in derived)
        meta["derivation_max_abs"] = worst
        note += (f"; c and the gates are derived from that h by the NumPy equations (the c the "
                 f"call returned at its last step is within {worst:.2g} of the derived one)")
    elif all(c.get("cell") == "gru" for c in checks):
        note += ("; a GRU's state is h alone, so its gates (r, z, n, Rh) are derived from that "
                 "h by the NumPy equations")
    else:
        note += ", c too (the same call)"
    meta["notes"].append(note)
    if lengths.get("refused"):
        longest, error = max(lengths["refused"])
        meta["notes"].append(
            f"{library} refused {longest} steps in one call ({error}), so it ran in chunks of "
            f"{lengths['chunk']} steps (halving the length until the library took it), each from the (h, c) the previous "
            f"chunk returned: the state is carried, as in one call")


def steps_in_input_time(gaps: list, keep) -> None:
    """Put the gaps' ``first_step`` back in input time when the layers ran on the kept steps
    of a mask only (``run_chain``); in place."""
    if keep is None:
        return
    kept = np.flatnonzero(keep)
    for gap in gaps:
        if gap.get("first_step") is not None and gap["first_step"] < kept.size:
            gap["first_step"] = int(kept[gap["first_step"]])


def record_one_call_gap(meta: dict, gaps: list, library: str) -> None:
    """Into a stepped backend's ``meta``: the gaps between its one-call h and the stepped h
    (``one_call_gap``), the largest (``stepped_h_max_abs_diff``) and a note saying so."""
    worst = max(gaps, key=lambda g: g["max_abs"])
    note = (f"h and c were measured by stepping {library} one call per step (one trajectory); "
            f"the one-call h differs from the stepped h by at most {worst['max_abs']:.3g}")
    if worst["first_step"] is not None:
        where = f"layer {worst['layer']}" + (
            "" if worst["direction"] == "forward" else f" {worst['direction']}")
        note += f" (beyond 1e-05 from step {worst['first_step']} of {where})"
    meta["stepped_h_max_abs_diff"] = worst["max_abs"]
    meta["one_call_gap"] = gaps
    meta["notes"].append(note)


def cudnn_activation_problem(model: Model, library: str) -> str:
    """A sentence naming the first chain layer whose activations ``library`` cannot compute, or ""."""
    for layer in model.chain:
        for direction, stored in layer.directions.items():  # a backward layer has its own
            pair = (stored.activation, stored.recurrent_activation)
            if pair != CUDNN_ACTIVATIONS:
                half = "" if direction == "forward" else "'s backward layer"
                return (f"layer '{layer.name}'{half} uses activation={pair[0]} and "
                        f"recurrent_activation={pair[1]}, but {library} computes only "
                        f"tanh/sigmoid")
    return ""


def projection_problem(model: Model, library: str) -> str:
    """A sentence naming the first chain layer with nn.LSTM's ``proj_size``, which ``library``
    (Keras's LSTM, CuDNNLSTM) has no place for, or ""."""
    for layer in model.chain:
        if layer.proj_size:
            return (f"layer '{layer.name}' is an nn.LSTM with proj_size={layer.proj_size} "
                    f"(h = W_hr (o * tanh(c))), which {library} cannot compute; use backend "
                    f"torch-cpu, torch-cuda or numpy")
    return ""


def refuse_reading(model: Model) -> None:
    """Backends run the file's true weights; a wrong reading is a NumPy-only experiment."""
    if model.reading is not None:
        raise InspectorError(
            f"backends run the file's own weights, but this model is read as '{model.reading}'; "
            f"run the reading with backend 'numpy:{model.reading}' beside a backend on the file's model")


def run_chain(model: Model, x: np.ndarray, run_layer, meta: dict, label: str,
              progress=None, initial_state=None, native_mask: bool = False) -> Trace:
    """Run ``model.chain`` on ``x`` layer by layer with ``run_layer`` and build the trace.

    Parameters
    ----------
    model : Model (its true weights; see :func:`refuse_reading`).
    x : (T, in) float32, already checked.
    run_layer : callable(layer, layer_in (T, in_k) float32, progress, start, keep) ->
        ``{direction: (h (T, H), c (T, H), provenance)}``, indexed by input time; h and c come
        from one run, and ``provenance`` ("measured" or "stepped") says how, for both, or is a
        pair ``(h's, c's)`` (e.g. ``("measured", "derived")``).
        ``start`` is ``{direction: (h0 (H,), c0 (H,))}`` float32, ``keep`` the mask (T,) or None.
    meta : what ran (backend, device, versions, tf32, dtype, notes); stored on the trace.
    label : the trace's human name, e.g. ``"PyTorch nn.LSTM (CPU)"``.
    initial_state : ``{(layer, direction): (h0, c0)}`` (checked), or None for zeros.
    native_mask : True when ``run_layer`` applies a mask itself (Keras); otherwise a masked
        model's layers run on the kept steps only and the states are put back at input time
        with the state carried through masked steps (``core.masking``): the same states.
    """
    from ..core.masking import carried_steps, describe, holes, kept_rows
    from ..core.reference import chain_input, check_initial_state, model_mask

    chain = model.chain
    initial_state = check_initial_state(model, initial_state)
    keep = model_mask(model, x)
    layer_in = np.ascontiguousarray(chain_input(x, keep), dtype=np.float32)  # (T, in)
    if keep is not None:
        how = ("Keras's own mask" if native_mask else
               "running only the kept steps (the state carried through the masked ones, as "
               "Keras does)")
        meta["notes"].append(f"{label}: the mask ({describe(keep)}) was applied by {how}")
        if not native_mask and holes(keep):
            meta["notes"].append(
                f"{label}: cuDNN's own sequence lengths cover right padding only and this mask "
                f"has holes, so the library never saw a masked step: they were dropped before "
                f"the call")
    layers, names = [], []
    with_gates = set()   # (layer, direction) whose c derivation kept its gates
    for k, layer in enumerate(chain):
        part = sub_progress(progress, k / len(chain), (k + 1) / len(chain))
        start = {}
        for d in layer.directions:
            h0, c0 = (initial_state or {}).get(
                (k, d), (np.zeros(layer.out_units), np.zeros(layer.units)))
            start[d] = (float32(h0), float32(c0))
        if keep is None or native_mask:
            states = run_layer(layer, layer_in, part, start, keep)
        elif keep.any():
            kept_in = (np.ascontiguousarray(layer_in[keep]) if layer_in is not None
                       else kept_input(chain[k - 1], layers[k - 1], keep))
            kept = run_layer(layer, kept_in, part, start, None)
            del kept_in   # a long run's c reads its kept rows again from the layer below's h
            steps = np.flatnonzero(keep)
            states = {d: _carried(layer, d, state, kept_rows(keep, layer.processing_reversed(d)),
                                  start[d], KeptRows.reading(_input_rows(chain, k, layer_in,
                                                                         layers), steps),
                                  steps)
                      for d, state in kept.items()}
        else:  # every step masked: every state is the initial one
            T = len(keep)
            gru = layer.cell == "gru"
            states = {d: (np.tile(h0, (T, 1)), None if gru else np.tile(c0, (T, 1)), "measured")
                      for d, (h0, c0) in start.items()}
        if native_mask and keep is not None:  # masked steps: the carried state, not the output
            states = {d: _carried(layer, d, state,
                                  carried_steps(keep, layer.processing_reversed(d)), start[d],
                                  lambda lo, hi, rows=layer_in: rows[lo:hi])
                      for d, state in states.items()}
        dir_traces = {}
        rows_in = _input_rows(chain, k, layer_in, layers)
        for direction, (h, c, how) in states.items():
            h_how, c_how = (how, how) if isinstance(how, str) else how
            h = np.ascontiguousarray(h, dtype=np.float32)
            held = c if isinstance(c, HeldDerivation) else None   # c with its gates
            if held is not None:
                c = held.c
                with_gates.add((k, direction))
            cells = None if c is None else _cells(c, layer, direction, h, rows_in)
            # gate windows with c's (a masked run's gates are teacher-forced at every step)
            windows = isinstance(cells, DerivedCells) and not layer.proj_size
            if windows:
                with_gates.add((k, direction))
            lt = LayerTrace(
                # gates: the c derivation's, or derive_gates fills them (or recomputes windows)
                z=None if held is None else held.z, a=None if held is None else held.a,
                c=None if c is None or cells is not None else np.ascontiguousarray(c, np.float32),
                h=h, cell=layer.cell,
                cell_source=cells,  # a long derived c: its windows recomputed (cells.py)
                gate_source=cells.gates if windows else None)
            lt.provenance.update(dict.fromkeys(("z",) + lt.gates, "derived"))
            lt.provenance.update({"h": h_how} if c is None else {"c": c_how, "h": h_how})
            dir_traces[direction] = lt
        layers.append(dir_traces)
        names.append(layer.name)
        if k + 1 < len(chain):
            # under a mask the library runs the next layer's kept steps alone: they are read
            # from this layer's h (kept_input), and the whole (T, out) is never built
            layer_in = None if keep is not None and not native_mask else \
                np.ascontiguousarray(layer_output(layer, dir_traces, keep), dtype=np.float32)
    meta.setdefault("dtype", "float32")
    meta.setdefault("reading", "file")
    last, last_dirs = chain[-1], layers[-1]
    hold = keep_gates(x.shape[0], last.units, np.float32)  # a long run computes it when asked
    trace = Trace(layers=layers, layer_names=names, x=x, label=label, meta=meta,
                  output=np.ascontiguousarray(layer_output(last, last_dirs, keep)) if hold else None,
                  first_layer=model.first_layer, mask=keep, initial_state=initial_state)
    if not hold:
        trace.output_source = lambda: layer_output(last, last_dirs, keep)
    if progress is not None:
        progress(1.0, f"{label}: deriving gates")
    return derive_gates(model, trace, derived=frozenset(with_gates))


def kept_input(below, below_dirs: dict, keep, rows: int = 8192) -> np.ndarray:
    """The kept steps' rows of the output of layer ``below`` (K, out) float32: what a masked
    run's next layer reads, ``layer_output(below, below_dirs, keep)[keep]`` (at a kept step the
    output is its h), read ``rows`` kept steps at a time from h (``layer_output_rows``)."""
    from ..core.reference import layer_output_rows

    steps = np.flatnonzero(keep)
    out = np.empty((len(steps), below.output_size), np.float32)
    for start in range(0, len(steps), rows):
        picked = steps[start:start + rows]
        first = int(picked[0])
        out[start:start + len(picked)] = layer_output_rows(
            below, below_dirs, first, int(picked[-1]) + 1)[picked - first]
    return out


def _input_rows(chain, k: int, layer_in, layers):
    """``(lo, hi) -> rows`` of what layer ``k`` read, unmasked: the first layer's input as held
    (the features), a later one's recomputed from the layer below's h (``layer_output_rows``:
    the same values as the whole output it ran on), so the whole need not be kept."""
    from ..core.reference import layer_output_rows

    if k == 0:
        return lambda lo, hi: layer_in[lo:hi]
    below, below_dirs = chain[k - 1], layers[k - 1]
    return lambda lo, hi: np.ascontiguousarray(layer_output_rows(below, below_dirs, lo, hi),
                                               dtype=np.float32)


def _carried(layer, direction: str, state: tuple, index, start: tuple, rows_in,
             steps=None) -> tuple:
    """A masked run's ``(h, c, provenance)`` at every input step from the states a library
    computed (``state``; the kept steps' alone, or every step's under a native mask): each
    step holds the state of the row ``index[t]`` (``masking.kept_rows`` / ``carried_steps``),
    ``start`` where -1 (before any kept step). A long run's derived c stays recomputed by
    window (``cells.MaskedCells``) from ``rows_in(lo, hi)``, the rows that run read, and its
    h; ``steps``: the input steps the run's rows are (its h then read back from the whole
    h: ``cells.KeptRows``, so the kept steps' copy of h is not held beside it)."""
    from ..core.masking import gathered

    h, c, how = state
    h0, c0 = start
    h_full = gathered(h, index, h0)
    if isinstance(c, DerivedEnds):
        run_h = h if steps is None else KeptRows(h_full, steps)
        c = MaskedCells(_cells(c, layer, direction, run_h, rows_in), index, c0)
    elif c is not None:   # a GRU has none
        c = gathered(c.c if isinstance(c, HeldDerivation) else c, index, c0)
    return h_full, c, how


def _cells(c, layer, direction: str, h, rows_in):
    """None when ``c`` is an array; for a long run's ``cells.DerivedEnds`` the
    ``cells.DerivedCells`` that recomputes its windows from ``h`` (input time) and ``rows_in``;
    a masked long run's ``cells.MaskedCells`` as it is."""
    from ..core.recurrence import derived_cells

    if isinstance(c, MaskedCells):
        return c
    if not isinstance(c, DerivedEnds):
        return None
    reverse = layer.processing_reversed(direction)
    T = len(h)
    x_proc = ((lambda lo, hi: rows_in(T - hi, T - lo)[::-1]) if reverse else rows_in)
    return derived_cells(c, layer.weights(direction), x_proc, h[::-1] if reverse else h, reverse)


def base_meta(backend: str, device: str, tf32, versions: dict, notes=()) -> dict:
    """The ``trace.meta`` every backend starts from."""
    return {"backend": backend, "device": device, "tf32": tf32, "dtype": "float32",
            "reading": "file", "versions": dict(versions, numpy=np.__version__,
                                                python=platform.python_version()),
            "notes": list(notes)}


def import_tf():
    """``(tensorflow, tf_keras)``, imported on first use with the Keras 2 API selected.

    ``TF_USE_LEGACY_KERAS=1`` must be set before TensorFlow is imported for
    ``tf.compat.v1.keras.layers.CuDNNLSTM`` to exist; GPU memory is grown on demand so that
    TensorFlow and torch can share one GPU in the same process.
    """
    from ..io.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    try:
        import tf_keras
    except ImportError as exc:
        raise InspectorError(
            f"TensorFlow with tf-keras is needed for this backend but could not be imported ({exc}); "
            f"install them with 'pip install tensorflow tf-keras'") from None
    try:
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except (RuntimeError, ValueError):
        pass  # already initialised: memory growth can no longer change, which is harmless
    return tf, tf_keras


class quiet_retracing:
    """Silence TensorFlow's "triggered tf.function retracing" warning inside the block.

    Each layer and direction gets its own small ``tf.function`` (a graph loop is 10-20x faster
    than eager here); TensorFlow counts those as retraces of one function and warns.
    """

    def __init__(self, tf):
        self.logger = tf.get_logger()

    def __enter__(self):
        self.level = self.logger.level
        self.logger.setLevel("ERROR")

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


def tf_versions(tf, tf_keras) -> dict:
    return {"tensorflow": tf.__version__, "tf_keras": tf_keras.__version__}


def float32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def torch_input(rows: np.ndarray, copies: list | None = None) -> np.ndarray:
    """``rows`` as ``torch.from_numpy`` takes them: float32, C-contiguous, no negative stride
    (a backward direction's rows; one reversed row counts as contiguous) and writeable (torch
    warns on an ark's read-only mapping); copied only where they are not. ``copies`` (a list
    kept across a call's pieces): the copy goes into ``copies[0]``, made by the first piece
    copied and reused by the next (one allocation per call, not one of fresh memory per piece;
    the library has read a piece when its call returns)."""
    if (rows.dtype == np.float32 and rows.flags.c_contiguous and rows.flags.writeable
            and min(rows.strides, default=0) >= 0):
        return rows
    if copies is None:
        return np.array(rows, np.float32, order="C")
    if not copies or copies[0].shape[0] < len(rows) or copies[0].shape[1:] != rows.shape[1:]:
        copies[:] = [np.empty(rows.shape, np.float32)]
    piece = copies[0][:len(rows)]
    piece[...] = rows
    return piece
