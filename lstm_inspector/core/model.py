"""A model as the inspector sees it: its recurrent layers in order, with what each needs to run.

Loaders (``lstm_inspector.io``) build a :class:`Model`; engines run its *runnable chain*: the
recurrent layers from the first one on, fed one into the next, until a layer the tool cannot
reimplement or a layer between them that is not identity at inference (Dropout is; Dense is
not). Any single LSTM layer can still be run on its own with features of its input width
(:meth:`Model.sub_model`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from ..errors import InspectorError, UnsupportedLayerError
from .memo import PerObject
from .weights import LSTMWeights, Reading, StoredLSTM

MERGE_MODES = ("concat", "sum", "mul", "ave", None)
#: What the user's features are: the model's input (the front runs first), the first LSTM's.
FEATURES_ARE = ("model-input", "lstm-input")
#: stored direction -> {reading: weights read} (:meth:`RecurrentLayer.weights`)
_READ = PerObject()


@dataclass(frozen=True, eq=False)
class RecurrentLayer:
    """One recurrent layer (both directions when bidirectional).

    Attributes
    ----------
    name : the layer's name in the file (``"lstm_1"``, ``"bidirectional"``...).
    kind : the Keras class, e.g. ``"CuDNNLSTM"``, ``"LSTM"``, ``"CuDNNGRU"``, ``"GRU"``.
    input_size, units : input width and hidden size H.
    directions : ``{"forward": StoredLSTM}`` or ``{"forward": ..., "backward": ...}``; empty
        for a layer the tool cannot run.
    merge_mode : Bidirectional merge (``concat``, ``sum``, ``mul``, ``ave`` or None) when
        bidirectional, else None.
    go_backwards, return_sequences : as in Keras. A go_backwards layer's output sequence is in
        processing (reversed) order, as Keras returns it; its trace is indexed by input time.
    unsupported : a sentence saying why the tool cannot run this layer, or "".
    feeds_next : False when what follows this layer in the file is not identity at inference
        (so the runnable chain ends here).
    use_bias, stateful : as in Keras (a layer without bias stores none; the tool reads zeros).
    dtype_policy : the Keras dtype policy its config records (``"mixed_float16"``...), "" if none.
    zero_output_for_mask : Keras outputs 0 (not the last output) at masked steps; set by
        ``Bidirectional`` when it returns sequences.
    initial_state_from : names of the model's tensors the file feeds it as initial state
        (empty: it starts from zeros in the file too).
    """

    name: str
    kind: str
    input_size: int
    units: int
    directions: dict = field(default_factory=dict)
    merge_mode: str | None = None
    go_backwards: bool = False
    return_sequences: bool = True
    unsupported: str = ""
    feeds_next: bool = True
    use_bias: bool = True
    stateful: bool = False
    dtype_policy: str = ""
    zero_output_for_mask: bool = False
    initial_state_from: tuple = ()

    @property
    def bidirectional(self) -> bool:
        return "backward" in self.directions

    @property
    def cell(self) -> str:
        """The equations the layer runs: ``"lstm"`` or ``"gru"`` (GRU, CuDNNGRU, nn.GRU)."""
        if self.directions:
            return getattr(self.directions["forward"], "cell", "lstm")
        return "gru" if "GRU" in self.kind else "lstm"

    def processing_reversed(self, direction: str) -> bool:
        """Whether ``direction`` reads the input from the last frame to the first: a backward
        direction, or a ``go_backwards`` layer's forward one (both: forward again). The one
        place this rule lives."""
        return self.go_backwards != (direction == "backward")

    @property
    def runnable(self) -> bool:
        return not self.unsupported and bool(self.directions)

    @property
    def proj_size(self) -> int | None:
        """P of ``nn.LSTM(proj_size=P)`` (h is P wide, c stays ``units`` wide), else None."""
        return getattr(self.directions["forward"], "proj_size", None) if self.directions else None

    @property
    def out_units(self) -> int:
        """The width of one direction's h: ``proj_size`` when projected, else ``units``."""
        return self.proj_size or self.units

    @property
    def output_size(self) -> int:
        # merge_mode None returns two outputs; the tool puts them side by side (forward first)
        two = self.bidirectional and self.merge_mode in ("concat", None)
        return 2 * self.out_units if two else self.out_units

    @property
    def convention(self) -> str:
        """The stored convention in words, e.g. ``'CuDNNLSTM (cuDNN layout, 8H bias)'``."""
        if not self.directions:
            return self.kind
        stored = self.directions["forward"]
        layout = "cuDNN layout" if stored.true_reading.layout == "cudnn" else "x @ kernel layout"
        if self.cell == "gru":
            order = ",".join(stored.true_reading.gate_order or "zrn").replace("n", "h")
            bias = "no bias" if stored.bias is None or not self.use_bias else \
                f"{stored.bias.size // self.units}H bias"
            return (f"{layout}, gates {order}, {bias}, "
                    f"reset_after={stored.reset_after}")
        if not self.use_bias:
            return f"{layout}, no bias"
        return f"{layout}, {stored.bias.shape[0] // self.units}H bias"

    @property
    def activation(self) -> str:
        return self.directions["forward"].activation if self.directions else ""

    @property
    def recurrent_activation(self) -> str:
        return self.directions["forward"].recurrent_activation if self.directions else ""

    def weights(self, direction: str = "forward", reading: Reading | str | None = None) -> LSTMWeights:
        """Canonical weights of ``direction`` under ``reading`` (default: the file's true reading)."""
        if self.unsupported:
            raise UnsupportedLayerError(self.unsupported)
        try:
            stored: StoredLSTM = self.directions[direction]
        except KeyError:
            raise InspectorError(f"layer '{self.name}' has no {direction} direction") from None
        # read once per reading and kept while the stored arrays live: a sweep asks for every
        # layer's weights for every utterance (nothing writes into weights once read)
        return _READ.get(stored, reading, lambda: stored.read(reading))

    def with_reading(self, reading: Reading | str) -> "RecurrentLayer":
        """The same layer whose true reading is replaced by ``reading`` (resolved against it)."""
        if self.cell == "gru":
            from .gru_weights import get_gru_reading

            reading = get_gru_reading(reading)
            return replace(self, directions={
                d: replace(s, true_reading=reading.resolve(s.true_reading),
                           activation=reading.activation or s.activation,
                           recurrent_activation=reading.recurrent_activation
                           or s.recurrent_activation)
                for d, s in self.directions.items()})
        from .weights import get_reading

        reading = get_reading(reading)
        new_dirs = {
            d: replace(s, true_reading=reading.resolve(s.true_reading),
                       activation=reading.activation or s.activation,
                       recurrent_activation=reading.recurrent_activation or s.recurrent_activation)
            for d, s in self.directions.items()
        }
        return replace(self, directions=new_dirs)

    def describe(self) -> str:
        if self.unsupported:
            return f"{self.name}: {self.kind} (not supported: {self.unsupported})"
        kind = f"Bidirectional({self.kind}, merge={self.merge_mode})" if self.bidirectional else self.kind
        extra = " go_backwards" if self.go_backwards else ""
        if self.bidirectional and self.merge_mode is None:
            extra += " (two outputs: forward, backward)"
        if self.stateful:
            extra += " stateful"
        if self.dtype_policy and self.dtype_policy != "float32":
            extra += f" dtype_policy={self.dtype_policy}"
        if self.initial_state_from:
            extra += f" initial_state<-{','.join(self.initial_state_from)}"
        if self.proj_size:
            extra += f" proj_size={self.proj_size}"
        extra += f" cell={self.cell}"
        return (f"{self.name}: {kind} in={self.input_size} units={self.units} "
                f"activation={self.activation} recurrent_activation={self.recurrent_activation} "
                f"[{self.convention}]{extra}")


@dataclass(frozen=True, eq=False)
class Model:
    """Recurrent layers in file order plus where they came from.

    ``source`` is the file path, ``file_format`` e.g. ``"keras-h5"``, ``"keras-h5-weights"``,
    ``"tf-checkpoint"``; ``keras_version`` as the file says (``"2.2.4-tf"``...); ``notes`` are
    sentences the loader wants the user to see (e.g. "inferred CuDNNLSTM from the 8H bias").
    ``reading`` names the reading applied with :meth:`with_reading` (None: the file's own).
    ``first_layer`` is the file's number of ``layers[0]`` (not 0 for :meth:`sub_model`), so
    reports label layers as the file numbers them. ``heads`` maps a recurrent layer's name to
    the plain layers that follow it to the model's output (``core.head.Head``), when the file
    has an architecture.
    ``mask_value``: a ``Masking`` layer's value when one feeds the first layer (None: no mask);
    see ``core.masking``. ``assumptions``: sentences naming what the loader had to guess
    (weights-only files); they are notes too, and the verdict repeats them.
    ``not_computed``: sentences naming what the file's model computes that the tool does not
    (an option it does not reimplement, a mask it does not follow...); each one makes every
    path's verdict "not what the file's model computes" (``core.fidelity``).
    ``front``: the layers between the model's input and the first LSTM
    (:class:`~lstm_inspector.core.front.Front`), or None when the LSTM reads the model's input.
    ``features_are``: ``"model-input"`` (the user's features are the model's input: the front
    runs first) or ``"lstm-input"`` (the user says they are already what the LSTM reads).
    ``input_mask``: the mask the front computed for the features it ran on (set by
    ``core.front.behind_front``; None otherwise).
    ``sequence_length``: L when the file fixes how many leading steps are real (an ONNX LSTM's
    constant ``sequence_lens``): steps ``t >= L`` are padding, masked as ``core.masking`` masks
    (the state carried, a zero output), so padding never enters the state; None: every step.
    """

    layers: tuple
    source: str = ""
    file_format: str = ""
    keras_version: str = ""
    notes: tuple = ()
    reading: str | None = None
    first_layer: int = 0
    heads: dict = field(default_factory=dict)
    mask_value: float | None = None
    assumptions: tuple = ()
    not_computed: tuple = ()
    front: object = None
    features_are: str = "model-input"
    input_mask: object = field(default=None, repr=False)
    sequence_length: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "assumptions", tuple(self.assumptions))
        object.__setattr__(self, "not_computed", tuple(self.not_computed))
        if self.features_are not in FEATURES_ARE:
            raise InspectorError(f"features_are '{self.features_are}' is not one of "
                                 f"{', '.join(FEATURES_ARE)}")
        if not self.layers:
            raise InspectorError(f"{self.source or 'the model'} has no recurrent layer")

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def chain(self) -> tuple:
        """The runnable chain: layers from the first, each fed by the one before."""
        chain = []
        for layer in self.layers:
            if not layer.runnable:
                break
            if chain and layer.input_size != chain[-1].output_size:
                break
            chain.append(layer)
            if not layer.feeds_next or (layer.bidirectional and layer.merge_mode is None):  # last
                break
            if not layer.return_sequences:
                break
        if not chain:
            first = self.layers[0]
            raise UnsupportedLayerError(self._in_file(
                first.unsupported or f"layer '{first.name}' cannot be run"))
        return tuple(chain)

    def _in_file(self, sentence: str) -> str:
        """``sentence`` prefixed with the model's file (``"m.h5: GRU layers are..."``)."""
        return f"{self.source}: {sentence}" if self.source else sentence

    def sub_model(self, index: int) -> "Model":
        """A model of the single layer ``index`` (fed features of that layer's input width)."""
        layer = self.layers[index]
        if not layer.runnable:
            raise UnsupportedLayerError(self._in_file(
                layer.unsupported or f"layer '{layer.name}' cannot be run"))
        others = {_node_name(l.name) for l in self.layers} - {_node_name(layer.name)}
        notes = tuple(n for n in self.notes if _note_subject(n) not in others)
        # the mask is computed from the model's input: it holds for the first layer only
        own = tuple(n for n in self.not_computed
                    if _note_subject(n) == _node_name(layer.name))
        # the features of a layer run alone are that layer's input: no front runs before it
        return replace(self, layers=(replace(layer, feeds_next=False),), notes=notes,
                       first_layer=self.first_layer + index,
                       mask_value=self.mask_value if index == 0 else None,
                       not_computed=own, front=None, features_are="lstm-input",
                       input_mask=None)

    def unfaithful(self, features_given: bool = True) -> tuple:
        """Sentences naming what the file's model computes that no path here computes: the
        loader's ``not_computed`` about what runs (a sentence about one recurrent layer counts
        only when it is in the runnable chain), and a front layer the tool cannot run while
        the features are the model's input (or a front that did not run on them:
        ``features_given`` False leaves that out, for a model described before any run)."""
        try:
            running = {_node_name(l.name) for l in self.chain}
        except InspectorError:
            running = set()
        idle = {_node_name(l.name) for l in self.layers} - running
        out = [n for n in self.not_computed if _note_subject(n) not in idle]
        if self.front is not None:
            out += list(self.front.unfaithful(self.features_are, features_given))
        return tuple(dict.fromkeys(out))

    def run_notes(self) -> tuple:
        """The loader's notes that concern what runs: a note about one layer (``"layer 'name'
        ..."``) is kept only when that layer is in the runnable chain."""
        try:
            running = {_node_name(l.name) for l in self.chain}
        except InspectorError:
            running = set()
        idle = {_node_name(l.name) for l in self.layers} - running
        notes = tuple(n for n in self.notes if _note_subject(n) not in idle)
        if self.front is not None and self.front.ran:
            notes += (f"the features are the model's input: the layers before the first LSTM "
                      f"({self.front.names()}) ran in NumPy, as Keras computes them, and every "
                      f"path compared the LSTMs on their output, shape "
                      f"{self.front.output_shape}",)
        return notes

    def with_reading(self, reading: Reading | str) -> "Model":
        """Every runnable layer read under ``reading`` instead of its true reading.

        A reading is an LSTM reading (``weights.READINGS``) or a GRU one
        (``gru_weights.GRU_READINGS``); each applies to the layers of its cell kind (a name
        both tables know, like ``naive``, to both), and one that fits no layer is refused."""
        from .gru_weights import GRU_READINGS, GRUReading, get_gru_reading
        from .weights import READINGS, get_reading

        def fits(layer) -> bool:
            table, kind = (GRU_READINGS, GRUReading) if layer.cell == "gru" else (READINGS, Reading)
            return reading in table if isinstance(reading, str) else isinstance(reading, kind)

        runnable = [l for l in self.layers if l.runnable]
        if not any(fits(l) for l in runnable):
            name = getattr(reading, "name", reading)
            cells = {l.cell for l in runnable}
            if cells == {"gru"}:
                get_gru_reading(reading)   # an unknown name: the sentence listing GRU readings
            get_reading(reading)           # an unknown name: the sentence listing LSTM readings
            raise InspectorError(f"reading '{name}' does not apply to this model's "
                                 f"{' and '.join(sorted(c.upper() for c in cells))} layers")
        layers = tuple(l.with_reading(reading) if l.runnable and fits(l) else l
                       for l in self.layers)
        return replace(self, layers=layers, reading=getattr(reading, "name", reading))

    def head_for(self, name: str):
        """The :class:`~lstm_inspector.core.head.Head` after recurrent layer ``name``, or None."""
        return self.heads.get(name)

    def layer_label(self, index: int) -> str:
        """``"layer N (name)"`` for ``layers[index]``, N as the file numbers it."""
        return f"layer {self.first_layer + index} ({self.layers[index].name})"

    def describe(self) -> str:
        head = f"{self.source} ({self.file_format}"
        head += f", keras {self.keras_version})" if self.keras_version else ")"
        lines = [head] + [f"  [{self.first_layer + k}] {layer.describe()}"
                        for k, layer in enumerate(self.layers)]
        if self.mask_value is not None:
            lines.append(f"  mask: steps whose every feature equals {self.mask_value:g} are "
                         f"masked (Masking before the first layer)")
        if self.sequence_length is not None:
            lines.append(f"  sequence length: {self.sequence_length} (steps from "
                         f"{self.sequence_length} on are padding, which never enters the state)")
        if self.front is not None:
            lines.append(f"  {self.front.describe()}")
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  NOT COMPUTED: {n}" for n in self.unfaithful(features_given=False)]
        return "\n".join(lines)


def _node_name(name: str) -> str:
    """The file's layer a recurrent layer belongs to (``"rnn/cell_1"`` is a cell of ``"rnn"``)."""
    return name.split("/")[0]


def _note_subject(note: str) -> str | None:
    """The layer a loader note is about (notes about one layer start ``layer 'name'``), or None."""
    match = re.match(r"layer '([^']+)'", note)
    return _node_name(match.group(1)) if match else None
