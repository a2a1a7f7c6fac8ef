"""The streaming check of a path: run it in chunks of N frames, (h, c) carried, against its own
one-call run (``core.streaming.analyse``); the runner is the one its kind names
(``PathKind.streams``: NumPy, torch-cpu, an ONNX or a TFLite file; ``backends.streaming``)."""
from __future__ import annotations

from ..errors import InspectorError
from .registry import kind_of, kinds


def stream_check(model, x, spec: str = "numpy", chunk: int = 0, bug=None, atol=None, rtol=None):
    """Run path ``spec`` on ``x`` in chunks of ``chunk`` frames and against its one-call run.

    Parameters
    ----------
    model : core.model.Model with forward-running layers only.
    x : (T, in) features.
    spec : a path that takes a carried state: ``numpy`` (also ``auto``), ``torch-cpu``,
        ``onnx:FILE`` or ``tflite:FILE``.
    bug : None, ``"reset"`` or ``"swap"``: plant that carry mistake (to see it named).

    Returns
    -------
    core.streaming.StreamReport
    """
    from ..backends.streaming import runner
    from ..core.reference import check_input
    from ..core.streaming import analyse, check_streamable, stack_of_layers

    x = check_input(model, x)
    check_streamable(model, chunk, x.shape[0])
    kind = kind_of(spec)
    streams = kind.streams(kind.key(str(spec).strip()))
    if streams is None:
        raise InspectorError(f"the streaming check runs on {', '.join(streaming_spellings())}, "
                             f"not '{spec}'")
    run_chunk, run_stack, label, restore = runner(model, *streams)
    try:
        if run_chunk is not None:
            run_stack = stack_of_layers(model, run_chunk)
        return analyse(model, x, chunk, run_stack, label, carry=bug or "state",
                       atol=1e-5 if atol is None else atol, rtol=1e-4 if rtol is None else rtol)
    finally:
        if restore is not None:
            restore()


def streaming_spellings() -> list:
    """The spellings the streaming check takes, for its sentence."""
    names = []
    for kind in kinds():
        for spec in kind.names or ():
            if kind.streams(spec):
                names.append(spec)
        names += [f"{prefix}FILE" for prefix in kind.prefixes
                  if kind.streams(f"{prefix}FILE")]
    return names
