"""Two paths run for one comparison, in the order in which the analysis computes each value once.

Where A is the reference and B does not read it (every path but your implementation and a
port's outputs, which are fed the reference's layer inputs), B runs first and the reference
then streams each loop block into the differences with B (``core.streamed``): a long
reference's gates are never recomputed for the analysis. Otherwise A runs first, then B, fed
A's layer inputs where A is the float32 reference. The traces and the report are the same
either way; only the work and the order of the progress messages differ.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .registry import PathSettings, is_reference, kind_of, run_path


@dataclass
class Pair:
    """``a``, ``b``: the two traces; ``streamed``: the ``core.streamed.StreamedDifferences``
    taken while the reference ran (pass it to ``compare(streamed=...)``), or None."""

    a: object
    b: object
    streamed: object = None
    a_is_reference: bool = False


def run_pair(spec_a, spec_b, model, x, settings: PathSettings | None = None,
             tolerance=None, local: str = "needed") -> Pair:
    """Run paths ``spec_a`` and ``spec_b`` on ``x`` for ``compare(a, b, atol, rtol, local=...)``
    with ``tolerance=(atol, rtol)`` (``core.compare.check_tolerance``'s; the streamed masks
    are made for it) and ``local`` as that compare's."""
    from ..core.compare import check_tolerance
    from ..core.streamed import StreamedDifferences

    settings = settings or PathSettings()
    a_is_reference = is_reference(spec_a)
    if a_is_reference and not kind_of(spec_b).reads_reference:
        b = run_path(spec_b, model, x, settings)
        streamed = StreamedDifferences(b, check_tolerance(*(tolerance or (None, None))),
                                       model if local == "always" else None)
        a = run_path(spec_a, model, x, replace(settings, on_block=streamed.observe))
        return Pair(a, b, streamed, True)
    a = run_path(spec_a, model, x, settings)
    reference = a if a_is_reference and settings.dtype == "float32" else None
    b = run_path(spec_b, model, x, settings, reference=reference)
    return Pair(a, b, None, a_is_reference)
