"""The registry of paths: every way of running the model that yields a Trace, registered once.

A *path* is one way of executing the model on the input ``x`` (T, in) that yields a
:class:`~lstm_inspector.core.trace.Trace`. Each *kind* of path is one :class:`PathKind` in one
module of this package, listed once in :data:`BUILTIN_KINDS`:

==============  ========================================  =================================
kind            spelled                                   module
==============  ========================================  =================================
reference       ``numpy`` (also ``reference``)            ``paths.reference``
oracle          ``numpy64``                               ``paths.oracle``
reading         ``numpy:<reading>`` (``numpy:naive``)     ``paths.reading``
library         ``auto``, ``tf-gpu``, ``torch-cuda``,     ``paths.library``
                ``tf-cpu``, ``torch-cpu``
impl            ``impl:FILE.py[:NAME]`` (runs your code)  ``paths.impl``
outputs         ``outputs:FILE``                          ``paths.outputs``
exported        ``onnx:FILE``, ``tflite:FILE``,           ``paths.exported``
                ``file:FILE.py``
==============  ========================================  =================================

The CLI (``--a`` / ``--b`` and their short forms), the window's A/B choosers, sweep and the API
(``lstm_inspector.run_path``) all read this registry; nothing else parses a path's spelling.
Adding a kind is one module defining ``KIND = PathKind(...)`` and one entry in
:data:`BUILTIN_KINDS` (or :func:`register` at run time, as the tests do).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from ..errors import InspectorError

#: The modules of this package that each define one ``KIND``, in the choosers' order.
BUILTIN_KINDS = ("reference", "library", "oracle", "reading", "impl", "outputs", "exported")

REFERENCE = "reference"   # the reference's key in the window (``numpy`` on the command line)


@dataclass
class PathSettings:
    """Everything a path may be run with besides the model and ``x``; each kind reads the
    fields it names in ``PathKind.depends_on`` (for the trace cache) and ignores the others.

    dtype : the reference's precision; tf32, stepped : the hardware libraries' TF32 and road;
    initial_state : ``{(layer, direction): (h0, c0)}``; progress : callable(fraction, text);
    reference : the float32 reference trace on ``x`` (your implementation is fed its layer
    inputs; computed when None); layer, form, timeout : how your implementation is called;
    on_block : the reference's ``run_reference(on_block=...)`` (``core.streamed``: a
    comparison's differences taken while it runs).
    """

    dtype: str = "float32"
    tf32: bool | None = None
    stepped: bool = False
    initial_state: dict | None = None
    progress: Callable | None = None
    reference: object = None
    layer: int | None = None
    form: str | None = None
    timeout: float | None = None
    on_block: Callable | None = None


@dataclass(frozen=True)
class PathKind:
    """One kind of path.

    name : the kind's name; names : its exact spellings (``aliases`` map others onto them);
    prefixes : spellings that start with one of these carry an argument (``impl:FILE``);
    listed : spellings the choosers offer without being asked; group : the choosers' group;
    label : ``label(spec) -> str`` for the choosers; executes_code : running it executes code
    the user brought (only ever on their explicit request); depends_on : the
    :class:`PathSettings` fields its trace depends on (a cached trace is reused while they are
    unchanged); run : ``run(argument, model, x, settings) -> Trace`` (argument: what follows
    the prefix, ``port.py:forward`` for ``impl:port.py:forward``, else the key); usage : how the unknown-path
    sentence writes it; libraries : ``libraries(key)`` the heavy libraries it imports
    ("tensorflow", "torch"), for preloading; streams : ``streams(key)`` the streaming check's
    runner for it (``("numpy", None)``, ``("torch-cpu", None)``, ``("onnx", FILE)``,
    ``("tflite", FILE)``; ``backends.streaming.runner``), None where the path takes no carried
    state; resolve : ``resolve(key)`` the key with its file made absolute (one
    sentence when the file does not exist), for workers and windows in another folder;
    reads_reference : it reads ``PathSettings.reference`` (your implementation is fed the
    reference's layer inputs), so the reference runs before it (``paths.pair``).
    """

    name: str
    run: Callable
    label: Callable
    group: str
    names: tuple = ()
    prefixes: tuple = ()
    aliases: dict = field(default_factory=dict)
    listed: tuple = ()
    executes_code: bool = False
    depends_on: tuple = ()
    usage: str = ""
    libraries: Callable = staticmethod(lambda key: ())
    streams: Callable = staticmethod(lambda key: None)
    resolve: Callable = staticmethod(lambda key: key)
    reads_reference: bool = False

    def spells(self, spec: str) -> bool:
        return spec in self.names or spec in self.aliases or spec.startswith(self.prefixes)

    def key(self, spec: str) -> str:
        """The one spelling of ``spec`` the window and the trace cache use."""
        return self.aliases.get(spec, spec)


@dataclass(frozen=True)
class PathChoice:
    """One entry of the A/B choosers: key (what :func:`run_path` runs), label, group, and
    executes_code (True when running it executes code the user brought)."""

    key: str
    label: str
    group: str
    executes_code: bool = False


_kinds: list = []


def kinds() -> list:
    """Every registered :class:`PathKind`, built-in ones first."""
    if not _kinds:
        for module in BUILTIN_KINDS:
            _kinds.append(importlib.import_module(f"{__package__}.{module}").KIND)
    return list(_kinds)


def register(kind: PathKind) -> PathKind:
    """Add ``kind`` (replacing a kind of the same name); it is at once spelled in the CLI,
    offered in new windows' choosers and run by sweep and the API."""
    unregister(kind.name)
    _kinds.append(kind)
    return kind


def unregister(name: str) -> None:
    kinds()
    _kinds[:] = [k for k in _kinds if k.name != name]


def kind_of(spec) -> PathKind:
    """The kind that spells ``spec``; an unknown spelling is one sentence naming them all."""
    spec = str(spec).strip()
    for kind in kinds():
        if kind.spells(spec):
            return kind
    known = ", ".join(k.usage or ", ".join(k.names) for k in kinds())
    raise InspectorError(f"unknown path '{spec}' (paths: {known})")


def argument(kind: PathKind, spec: str) -> str:
    """What follows the kind's prefix (``impl:port.py:f`` -> ``port.py:f``), else the key."""
    for prefix in kind.prefixes:
        if spec.startswith(prefix) and spec not in kind.names:
            return spec[len(prefix):]
    return kind.key(spec)


def spelling(kind_name: str, arg, prefix: str | None = None) -> str:
    """How kind ``kind_name`` spells argument ``arg``: ``spelling("impl", "p.py")`` ->
    ``"impl:p.py"``; ``prefix`` picks one of a kind's prefixes (``spelling("exported", "m",
    "tflite:")``); a kind without a prefix: ``arg`` itself."""
    kind = next(k for k in kinds() if k.name == kind_name)
    if prefix is not None and prefix not in kind.prefixes:
        raise ValueError(f"path kind {kind_name} has no prefix {prefix!r}")
    return (prefix or (kind.prefixes[0] if kind.prefixes else "")) + str(arg)


def choice_for(spec, paths=None) -> PathChoice:
    """The :class:`PathChoice` of ``spec`` among ``paths`` (default: the listed ones), or one
    made by its kind; an unknown spelling raises one sentence."""
    spec = str(spec).strip()
    for choice in paths if paths is not None else builtin_paths():
        if choice.key == spec:
            return choice
    kind = kind_of(spec)
    key = kind.key(spec)
    return PathChoice(key, kind.label(key), kind.group, kind.executes_code)


def builtin_paths() -> list:
    """The choosers' list: each kind's listed spellings, in registry order."""
    return [choice_for(spec, ()) for kind in kinds() for spec in kind.listed]


def libraries_for(spec) -> tuple:
    """The heavy libraries path ``spec`` imports, in the order to load them."""
    kind = kind_of(spec)
    return tuple(kind.libraries(kind.key(str(spec).strip())))


def streaming_path(spec) -> str:
    """What the window's streaming check runs for path ``spec``: itself where it takes a carried
    state, else the NumPy reference (``numpy``)."""
    kind = kind_of(spec)
    return str(spec).strip() if kind.streams(kind.key(str(spec).strip())) else "numpy"


def resolved(spec) -> str:
    """``spec`` in its one spelling, any file it names made absolute (and checked to exist)."""
    kind = kind_of(spec)
    return kind.resolve(kind.key(str(spec).strip()))


def is_reference(spec) -> bool:
    return kind_of(spec).name == "reference"


def settings_key(spec, settings: PathSettings | None = None) -> tuple:
    """What a path's trace depends on besides the model and input (its key and the settings
    its kind names): a cached trace is reused only while this is unchanged."""
    settings = settings or PathSettings()
    kind = kind_of(spec)
    return (kind.key(str(spec).strip()),) + tuple(getattr(settings, name)
                                                    for name in kind.depends_on)


def run_path(spec, model, x, settings: PathSettings | None = None, **options):
    """Run path ``spec`` (any spelling of the table above) on ``x`` (T, in); its Trace.

    ``settings`` (a :class:`PathSettings`) or its fields as keywords (``dtype``, ``tf32``,
    ``stepped``, ``initial_state``, ``progress``, ``reference``, ``layer``, ``form``,
    ``timeout``).
    """
    if settings is None:
        settings = PathSettings(**options)
    elif options:
        from dataclasses import replace

        settings = replace(settings, **options)
    spec = str(spec).strip()
    kind = kind_of(spec)
    return kind.run(argument(kind, spec), model, x, settings)
