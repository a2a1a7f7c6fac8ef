"""The instrumented NumPy forward pass: every gate, cell state and output at every timestep.

For one direction with canonical weights (gate blocks i, f, c~, o; see ``weights.py``)::

    z_t  = W x_t + R h_{t-1} + b_W + b_R          (4H,)   pre-activations
    i_t  = sigma(z_i)   f_t = sigma(z_f)   o_t = sigma(z_o)     (sigma: recurrent_activation)
    c~_t = act(z_c)                                            (act: activation, tanh for cuDNN)
    c_t  = f_t * c_{t-1} + i_t * c~_t
    h_t  = o_t * act(c_t)
    h_{-1} = h0, c_{-1} = c0          (zeros unless an initial state is given)

With a mask (``core.masking``; a ``Masking`` layer before the chain) a masked step still
evaluates z and the gates, as Keras does, but carries the state: ``c_t = c_{t-1}``,
``h_t = h_{t-1}``.

``dtype="mixed_float16"`` follows Keras's ``mixed_float16`` policy on its CPU LSTM kernel: the
float32 weights and the input are cast to float16 and every operation's result is rounded to
float16 (matrix products accumulate in float32 first); the trace stores the float16 values as
float32.

A backward direction (and a ``go_backwards`` layer) runs t = T-1 ... 0; its "previous" state is
the one of step t+1. Everything is recorded indexed by input time (see ``trace.py``).

Teacher-forced mode replaces (h_{t-1}, c_{t-1}) and each layer's input by another path's
recorded values, so every step is computed from the same state as that path: the difference
at step t is then the *local* error of step t, not error carried over from earlier steps. With
the previous states known, no recurrence remains and the whole layer is one matrix product.

The stored CuDNNLSTM layout is handled once, in ``weights.read_stored``; this module only sees
canonical weights. A GRU layer (``layer.cell == "gru"``) runs ``core.gru``'s equations instead,
through the same driver (stacking, directions, masks, teacher forcing).
"""
from __future__ import annotations

import numpy as np

from ..errors import InspectorError, plural
from . import half_precision, masking, side_by_side
from .gru import GRUStepWeights, gru_teacher_step, prepared, run_gru_direction
from .model import Model
from .projection import run_any_direction
from .recurrence import _Weights, cell_states_between, fixed_blocks, steps_compiled
from .teacher import TeacherWeights, teacher_step  # noqa: F401  (teacher_step: port_trace's)
from .trace import LayerTrace, Trace
from .weights import LSTMWeights

#: Rows per teacher-forced product (:func:`teacher_forced_layer`); divides ``analysis.CHUNK``.
TEACHER_BLOCK = 256

def check_input(model: Model, x) -> np.ndarray:
    """``x`` as a 2-D (T, in) array, or an InspectorError sentence saying what is wrong."""
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    if x.ndim == 1 and model.input_size == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise InspectorError(f"features have shape {x.shape}; expected (frames, {model.input_size})")
    if x.shape[0] == 0:
        raise InspectorError("the features have no frames")
    if x.shape[1] != model.input_size:
        layer = "the model's first layer" if model.first_layer == 0 else model.layer_label(0)
        raise InspectorError(f"the features have {plural(x.shape[1], 'column')} but {layer} "
                             f"expects {plural(model.input_size, 'input')}{width_hint(model)}")
    if not np.issubdtype(x.dtype, np.number):
        raise InspectorError(f"features of type {x.dtype} are not numbers")
    bad = ~np.isfinite(x)
    if bad.any():
        t, j = np.argwhere(bad)[0]
        raise InspectorError(
            f"the features contain {int(bad.sum())} NaN/Inf values, the first at frame {t}, column {j}")
    return x


def width_hint(model: Model) -> str:
    """" (...)" naming the layer that feeds the first LSTM (an Embedding: say what to give), or ""."""
    feeder = next((n for n in model.notes if " is fed by " in n), "")
    front = model.front
    if front is not None and front.runs and not front.ran and model.features_are != "lstm-input":
        return (f" (the features are the model's input, which the layers before the first "
                f"LSTM read; --features-are lstm-input gives the LSTM's own input, "
                f"(frames, {model.input_size}))")
    if "(Embedding)" in feeder:
        return (f" ({feeder.split(', so ')[0]}: the tool does not run the Embedding, so give "
                f"its output vectors, (frames, {model.input_size}), not token ids)")
    return f" ({feeder})" if feeder else ""


def layer_output(layer, dir_traces: dict, keep=None) -> np.ndarray:
    """The layer's output sequence as Keras returns it, (T, out), from the recorded h.

    A direction that runs reversed returns its outputs in processing order (Keras's
    ``go_backwards``); ``Bidirectional`` reverses the backward one back before merging.
    ``keep`` (T,) bool: the mask, whose masked steps output what ``core.masking`` says.
    ``merge_mode=None`` (two outputs, last layer only) returns them side by side, forward first.
    """
    outs = []
    for direction, lt in dir_traces.items():
        reverse = layer.processing_reversed(direction)
        y = lt.h[::-1] if reverse else lt.h  # processing order
        if keep is not None:
            zero = layer.zero_output_for_mask or layer.bidirectional
            y = masking.masked_output(y, keep[::-1] if reverse else keep, zero)
        if direction == "backward":
            y = y[::-1]
        outs.append(y)
    if len(outs) == 1:
        return outs[0]
    fwd, bwd = outs
    mode = layer.merge_mode
    if mode in ("concat", None):
        return np.concatenate([fwd, bwd], axis=1)
    if mode == "sum":
        return fwd + bwd
    if mode == "mul":
        return fwd * bwd
    if mode == "ave":
        return (fwd + bwd) / fwd.dtype.type(2)
    raise InspectorError(f"layer '{layer.name}' has merge mode {mode!r}, which the tool does not know")


def layer_output_rows(layer, dir_traces: dict, lo: int, hi: int) -> np.ndarray:
    """Rows ``lo:hi`` of :func:`layer_output` (the layer's output sequence), reading only them."""
    picked = {}
    for direction, lt in dir_traces.items():
        T = lt.h.shape[0]
        # a go_backwards layer returns its sequence reversed: output row t is h[T-1-t]
        picked[direction] = _States(lt.h[T - hi:T - lo] if layer.go_backwards else lt.h[lo:hi])
    return layer_output(layer, picked)


class _CellRows:
    """``cells[lo:hi]``: rows of a trace's c that it recomputes (``LayerTrace.cell_rows``)."""

    def __init__(self, lt):
        self.lt = lt
        self.shape = (lt.steps, lt.units)

    def __getitem__(self, rows: slice) -> np.ndarray:
        return self.lt.cell_rows(rows.start, rows.stop)


class _States:
    """Just the ``h`` that :func:`layer_output` reads."""

    def __init__(self, h):
        self.h = h


def previous_states(h: np.ndarray, c: np.ndarray, reverse: bool, lo: int, hi: int, dtype) -> tuple:
    """``(h_{t-1}, c_{t-1})`` for input-time rows ``lo:hi`` in processing order (zeros at the start).

    Forward: the previous step of t is t-1; reversed: t+1 (the step that ran before it)."""
    T = h.shape[0]
    h_prev = np.zeros((hi - lo, h.shape[1]), dtype)   # h is P wide under a projection
    c_prev = np.zeros((hi - lo, c.shape[1]), dtype)
    if reverse:
        src = slice(lo + 1, min(hi + 1, T))
        n = src.stop - src.start
        h_prev[:n], c_prev[:n] = h[src], c[src]
    else:
        src = slice(max(lo - 1, 0), hi - 1)
        n = src.stop - src.start
        h_prev[hi - lo - n:], c_prev[hi - lo - n:] = h[src], c[src]
    return h_prev, c_prev


def teacher_forced_layer(model: Model, index: int, teacher: Trace, dtype="float64",
                         layer_in=None, rows: tuple | None = None, directions=None,
                         half: bool = False, weights: dict | None = None,
                         names: str = "zach") -> dict:
    """Layer ``index`` of ``model.chain`` computed step by step from ``teacher``'s states.

    Its input is ``layer_in`` (the whole (T, in) sequence) or, if None, the teacher's output of
    the layer below (``x`` for the first layer). ``rows=(lo, hi)`` computes only input-time
    steps ``lo:hi`` (bounded memory for long inputs). ``directions`` limits it to those (default:
    all of the layer's). Returns ``{direction: LayerTrace}``; no recurrence: one product per
    block of ``TEACHER_BLOCK`` rows. The products always run on the same aligned blocks
    (``recurrence.fixed_blocks``), whatever ``rows`` asks for, so any window's values are those
    rows of the whole, bit for bit, on every CPU. ``weights``: :func:`layer_weights` (or
    ``{direction: LSTMWeights}``), given by a caller that calls this chunk after chunk.
    ``names``: the arrays returned (the others None); without ``c`` and ``h`` only the gates
    are computed, which read no previous c (``z = W x + R h_prev + b``), the same bits.
    """
    T = teacher.steps
    dtype = np.dtype(dtype)
    lo, hi = (0, T) if rows is None else (int(rows[0]), int(rows[1]))
    chain, keep = model.chain, teacher.mask
    if layer_in is None and index > 0 and keep is not None:
        # a masked step's output repeats an earlier one: rows looked up (LayerInput), a window
        # reads its own (a long run's derived gates are read window by window)
        below = teacher.layers[index - 1]
        layer_in = LayerInput(chain[index - 1], below, next(iter(below.values())).h.dtype, keep)
    if weights is None:
        weights = layer_weights(model, index, dtype, directions)
    weights = {d: prepared(w, dtype) for d, w in weights.items()}
    blocks = list(fixed_blocks(lo, hi, T, TEACHER_BLOCK)) or [(lo, hi)]
    gates_only = not half and "c" not in names and "h" not in names
    parts = [_forced_block(model, index, teacher, dtype, layer_in, b_lo, b_hi, weights, half,
                           gates_only) for b_lo, b_hi in blocks]
    start = blocks[0][0]
    out = {}
    for direction in weights:
        arrays = {name: [getattr(part[direction], name) if name in names else None
                         for part in parts] for name in "zach"}
        whole = {name: None if a[0] is None else a[0] if len(a) == 1 else np.concatenate(a)
                 for name, a in arrays.items()}
        rows = {name: None if v is None else v[lo - start:hi - start] for name, v in whole.items()}
        if rows["h"] is None:   # not asked for: no columns (a trace's length is its h's)
            rows["h"] = next(v for v in rows.values() if v is not None)[:, :0]
        out[direction] = LayerTrace(**rows, cell=parts[0][direction].cell)
    return out


def layer_weights(model: Model, index: int, dtype, directions=None) -> dict:
    """``{direction: TeacherWeights}`` of layer ``index`` in ``dtype``: what
    :func:`teacher_forced_layer` multiplies by, to be passed to it when it is called often."""
    layer = model.chain[index]
    return {d: prepared(layer.weights(d), np.dtype(dtype))
            for d in (layer.directions if directions is None else directions)}


def _forced_block(model: Model, index: int, teacher: Trace, dtype, layer_in, lo: int, hi: int,
                  weights: dict, half: bool, gates_only: bool = False) -> dict:
    """Rows ``lo:hi`` of :func:`teacher_forced_layer`, one block: one product per direction of
    ``weights`` ``{direction: TeacherWeights in dtype}`` (``gates_only``: z and a alone, no
    previous c read)."""
    chain = model.chain
    layer = chain[index]
    T = teacher.steps
    keep = teacher.mask
    if layer_in is not None:
        layer_in = np.asarray(layer_in[lo:hi])
    elif index == 0:
        layer_in = chain_input(teacher.x[lo:hi], None if keep is None else keep[lo:hi])
    else:
        layer_in = layer_output_rows(chain[index - 1], teacher.layers[index - 1], lo, hi)
    layer_in = np.asarray(layer_in).astype(dtype, copy=False)
    out = {}
    for direction, w in weights.items():
        tt = teacher.layer(index, direction)
        reverse = layer.processing_reversed(direction)
        gru = isinstance(w, GRUStepWeights)
        # a GRU has no c (h stands in); a long trace: only these rows of c; gates: none
        cells = (tt.h if gru else np.broadcast_to(np.zeros(1, dtype), (T, layer.units))
                 if gates_only else tt.c if tt.holds_cells else _CellRows(tt))
        h_prev, c_prev = previous_states(tt.h, cells, reverse, lo, hi, dtype)
        first = T - 1 if reverse else 0  # the first processed step starts from the initial state
        if lo <= first < hi and teacher.initial_state:
            h_prev[first - lo], c_prev[first - lo] = teacher.start_state(
                index, direction, layer.units, dtype, layer.out_units)
        if gru:   # no cell state: each step from h_{t-1} alone (core.gru)
            lt = gru_teacher_step(w, layer_in, h_prev)
        else:
            lt = teacher_step(w, layer_in, h_prev, c_prev, dtype, half, gates_only)
        if keep is not None and not (gates_only and not gru):  # masked: the state is carried
            masked = ~keep[lo:hi]
            lt.h[masked] = h_prev[masked]
            if not gru:
                lt.c[masked] = c_prev[masked]
        out[direction] = lt
    return out


def chain_input(x: np.ndarray, keep) -> np.ndarray:
    """What the first layer reads: ``x``, its masked frames zeroed as ``Masking`` does."""
    return x if keep is None else masking.masked_input(x, keep)


def model_mask(model: Model, x: np.ndarray):
    """(T,) bool mask of ``x`` under the model's ``Masking`` layer, or the mask the front
    computed (``core.front.run_front``), or None when it has none."""
    if model.input_mask is not None:
        keep = np.asarray(model.input_mask, bool)
        if keep.shape != (len(x),):
            raise InspectorError(f"the front's mask has {keep.size} steps but the LSTM's input "
                                 f"has {len(x)}")
        return keep
    length = getattr(model, "sequence_length", None)
    if length is not None and length > len(x):
        raise InspectorError(f"the model's sequence length is {length} steps (ONNX "
                             f"sequence_lens) but the features have {len(x)} frames")
    keep = None if length is None or length == len(x) else np.arange(len(x)) < length
    if model.mask_value is None:
        return keep
    by_value = masking.input_mask(x, model.mask_value)
    return by_value if keep is None else by_value & keep


def check_initial_state(model: Model, initial_state) -> dict | None:
    """``{(layer, direction): (h0, c0)}`` checked against ``model.chain`` (shapes, finite)."""
    if not initial_state:
        return None
    chain = model.chain
    out = {}
    for key, (h0, c0) in initial_state.items():
        k, direction = key
        if k >= len(chain) or direction not in chain[k].directions:
            raise InspectorError(f"the initial state names layer {k} {direction}, which is not "
                                 f"in the runnable chain ({len(chain)} layers)")
        H, P = chain[k].units, chain[k].out_units
        h0, c0 = np.asarray(h0, np.float64).reshape(-1), np.asarray(c0, np.float64).reshape(-1)
        if h0.shape != (P,) or c0.shape != (H,):
            raise InspectorError(f"the initial state of layer {k} ({chain[k].name}) {direction} "
                                 f"has h0 {h0.shape} and c0 {c0.shape}; expected "
                                 + (f"({H},) each" if P == H else f"({P},) and ({H},)"))
        if not (np.isfinite(h0).all() and np.isfinite(c0).all()):
            raise InspectorError(f"the initial state of layer {k} {direction} is not finite")
        out[(k, direction)] = (h0, c0)
    return out


PRECISIONS = ("float32", "float64", "mixed_float16")


def steps_compiled_layer(layer, dtype) -> bool:
    """Whether every direction of ``layer`` steps on the compiled loop in ``dtype`` (an LSTM
    without a projection, whose prepared weights the loop handles)."""
    return layer.cell == "lstm" and not layer.proj_size and all(
        steps_compiled(_Weights.of(layer.weights(d).astype(dtype), dtype), dtype)
        for d in layer.directions)


def run_reference(model: Model, x, dtype="float32", teacher: Trace | None = None,
                  progress=None, gates: bool | None = None, initial_state=None,
                  on_block=None) -> Trace:
    """Run ``model.chain`` on ``x`` (T, in) and record every quantity at every step.

    Parameters
    ----------
    model : Model
    x : array (T, in)
    dtype : "float32" (what cuDNN computes), "float64" (an exact-arithmetic oracle) or
        "mixed_float16" (Keras's mixed precision policy, see the module docstring).
    teacher : Trace, optional
        Another path's trace; each step then starts from the teacher's (h, c) at the previous
        step and each layer reads the teacher's output of the layer below (local error only).
    progress : callable(fraction, text), optional; may raise ``errors.Cancelled``.
    gates : keep every step's z and a (True), or keep c and h and recompute the gates of any
        window exactly when asked for (False); None: keep them unless they would take more
        than ``recurrence.KEEP_GATES_BYTES`` per direction (long inputs).
    initial_state : ``{(layer index, direction): (h0 (H,), c0 (H,))}``, optional; missing
        entries start from zeros (``io.initial_state`` reads them from an npz).
    on_block : ``on_block(layer index, direction)`` -> a callback or None, optional: the
        callback gets each loop block of a long run as it is computed
        (``recurrence.run_direction``'s ``on_block``); ``core.streamed`` takes the differences
        with another path there.

    A model with a ``Masking`` layer (``model.mask_value``) runs under its mask
    (``trace.mask``).
    """
    precision = str(np.dtype(dtype) if dtype != "mixed_float16" else dtype)
    if precision not in PRECISIONS:
        raise InspectorError(f"precision {dtype} is not one of {', '.join(PRECISIONS)}")
    half = precision == "mixed_float16"
    dtype = np.dtype(np.float32 if half else precision)
    x = check_input(model, x)
    chain = model.chain
    if half and any(layer.proj_size for layer in chain):
        raise InspectorError("the mixed_float16 reference does not compute nn.LSTM's "
                             "proj_size projection; use float32 or float64")
    if teacher is not None and len(teacher.layers) < len(chain):
        raise InspectorError("the teacher trace has fewer layers than the model's chain")
    initial_state = check_initial_state(model, initial_state)
    keep = model_mask(model, x)
    layer_in = chain_input(x, keep).astype(dtype, copy=False)  # float32 input: no copy
    layers, names = [], []
    jobs = sum(len(layer.directions) for layer in chain)
    done = 0
    for k, layer in enumerate(chain):
        if teacher is not None:
            if progress is not None:
                progress(done / jobs, f"NumPy reference (teacher-forced): layer {layer.name}")
            dir_traces = teacher_forced_layer(model, k, teacher, dtype, layer_in)
            done += len(layer.directions)
        else:
            def run_one(direction, tick, k=k, layer=layer, layer_in=layer_in):
                w = layer.weights(direction).astype(dtype)
                h0, c0 = (initial_state or {}).get((k, direction), (None, None))
                reverse = layer.processing_reversed(direction)
                if layer.cell == "gru":
                    if half:
                        raise InspectorError(f"layer '{layer.name}' is a GRU: the reference "
                                             f"computes GRUs in float32 and float64 only")
                    return run_gru_direction(w, layer_in, reverse, dtype, tick, h0, keep, gates,
                                             None if on_block is None else on_block(k, direction))
                if half:
                    return half_precision.run_direction_half(w, layer_in, reverse, h0, c0, keep)
                return run_any_direction(w, layer_in, reverse, dtype, tick, gates, h0, c0, keep,
                                         None if on_block is None else on_block(k, direction))

            def tick_from(base, text, width=1, T=len(layer_in)):
                if progress is None:
                    return None
                return lambda steps_done: progress((base + width * steps_done / T) / jobs, text)

            if side_by_side.worth_it(layer, not half and steps_compiled_layer(layer, dtype)):
                dir_traces = side_by_side.run_both(
                    run_one, layer.directions,
                    tick_from(done, f"NumPy reference: layer {layer.name}, both directions", 2))
                done += 2
            else:
                dir_traces = {}
                for direction in layer.directions:
                    dir_traces[direction] = run_one(direction, tick_from(
                        done, f"NumPy reference: layer {layer.name} {direction}"))
                    done += 1
        layers.append(dir_traces)
        names.append(layer.name)
        long_run = not all(lt.holds_gates for lt in dir_traces.values())
        if k + 1 < len(chain):
            if teacher is None and long_run:
                # a long run does not hold the next layer's (T, out) input: it reads its rows
                layer_in = LayerInput(layer, dir_traces, dtype, keep)
            else:
                layer_in = layer_output(layer, dir_traces if teacher is None else teacher.layers[k],
                                        keep)
                layer_in = layer_in.astype(dtype, copy=False)
    if progress is not None:
        progress(1.0, "NumPy reference done")
    return reference_trace(model, x, layers, names, precision, keep, initial_state, teacher)


def reference_trace(model: Model, x, layers: list, names: list, precision: str, keep=None,
                    initial_state=None, teacher: Trace | None = None) -> Trace:
    """The reference's Trace of ``model.chain`` on ``x`` from its per-layer ``{direction:
    LayerTrace}`` (``run_reference``'s, or ``core.batched``'s): output, label and meta."""
    chain = model.chain
    dtype = np.dtype(np.float32 if precision == "mixed_float16" else precision)
    last, last_dirs = chain[-1], layers[-1]
    long_run = not all(lt.holds_gates for lt in last_dirs.values())
    output = None if long_run else layer_output(last, last_dirs, keep)
    reading = model.reading or "file"
    label = "NumPy reference" if reading == "file" else f"NumPy, '{reading}' reading"
    backend = "numpy64" if dtype == np.float64 else "numpy"
    meta = {"backend": backend if reading == "file" else f"numpy:{reading}",
            "device": "CPU", "dtype": precision, "tf32": "n/a", "reading": reading,
            "numpy": np.__version__}
    from .weights import READINGS

    matmul = getattr(READINGS.get(reading), "matmul", None)
    if matmul:
        meta["tf32"] = "emulated (x @ W)" if matmul == "tf32" else "emulated (x @ W, h @ R)"
    if teacher is not None:
        label += f" (teacher-forced by {teacher.label or 'another path'})"
        meta["teacher"] = teacher.label
    trace = Trace(layers=layers, layer_names=names, x=x, output=output,
                  label=f"{label} ({precision})", meta=meta, first_layer=model.first_layer,
                  mask=keep, initial_state=initial_state)
    if output is None:
        trace.output_source = lambda: layer_output(last, last_dirs, keep)
    return trace


class LayerInput:
    """A layer's output as the next layer reads it, row ranges computed on demand (in ``dtype``):
    ``layer_input[lo:hi]`` is ``layer_output(layer, dir_traces, keep)[lo:hi]``, never the whole.
    Under a mask a masked step outputs an earlier kept step's h (or zeros): each direction's
    output row is looked up in ``masking.output_sources`` (T indices, made once), so a window
    reads its own rows only (it read the whole output once per window: an hour's second layer,
    88 blocks a direction, each computing 368 MB)."""

    ndim = 2   # a (T, out) sequence to whoever reads it by rows (``head.Head.apply``)

    def __init__(self, layer, dir_traces: dict, dtype, keep=None):
        self.layer, self.dir_traces, self.dtype = layer, dir_traces, np.dtype(dtype)
        self.keep = keep
        steps = next(iter(dir_traces.values())).steps
        self.shape = (steps, layer.output_size)
        self.sources = None if keep is None else {
            d: _output_sources(layer, d, keep) for d in dir_traces}

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        lo, hi, _ = rows.indices(self.shape[0])
        if self.keep is None:
            out = layer_output_rows(self.layer, self.dir_traces, lo, hi)
        else:
            picked = {}
            for d, lt in self.dir_traces.items():
                y = masking.gathered(lt.h, self.sources[d][lo:hi], 0)
                picked[d] = _States(y[::-1] if _flipped(self.layer, d) else y)
            out = layer_output(self.layer, picked)
        return out.astype(self.dtype, copy=False)


def _flipped(layer, direction: str) -> bool:
    """Whether ``layer_output`` reverses this direction's h on its way to the output: once for
    a reversed direction, once more for a backward one (so rows handed in reverse come out as
    they are)."""
    return layer.processing_reversed(direction) != (direction == "backward")


def _output_sources(layer, direction: str, keep) -> np.ndarray:
    """(T,) for each row of a direction's part of ``layer_output(layer, ..., keep)``: the row
    of its h (input time) that the row is, or -1 for zeros (``masking.carried_steps`` under
    the output's rule, in the output's order)."""
    steps = masking.carried_steps(keep, layer.processing_reversed(direction),
                                  zero=layer.zero_output_for_mask or layer.bidirectional)
    return steps[::-1].copy() if _flipped(layer, direction) else steps


def run_direction_from(weights: LSTMWeights, x, h0=None, c0=None, dtype="float32") -> LayerTrace:
    """One forward-running direction on ``x`` (n, in) from ``(h0, c0)``: a chunk of a stream."""
    dtype = np.dtype(dtype)
    return run_any_direction(weights.astype(dtype), np.asarray(x, dtype), False, dtype, None,
                             h0=h0, c0=c0)


def derive_cell_states(weights: LSTMWeights, x_proc, h_proc) -> np.ndarray:
    """c (T, H) of a path that gives only h, in processing order: the gates by the NumPy
    equations from the path's own h, ``z_t = W x_t + R h_{t-1} + b``, then the one recurrence
    left, ``c_t = f_t c_{t-1} + i_t c~_t`` from ``c_{-1} = 0`` (float32; provenance "derived").
    This is :func:`recurrence.cell_states_between` with no measured c to restart from."""
    c, _ = cell_states_between(weights, x_proc, np.asarray(h_proc, np.float32), {})
    return c
