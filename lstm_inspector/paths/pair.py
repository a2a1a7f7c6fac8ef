"""Two paths run for one comparison, in the order in which the analysis computes each value once.

Where A is the reference and B does not read it (every path but your implementation and a
port's outputs, which are fed the reference's layer inputs), B runs first and the reference
then streams each loop block into the differences with B (``core.streamed``): a long
reference's gates are never recomputed for the analysis. Otherwise A runs first, then B, fed
A's layer inputs where A is the float32 reference. The traces and the report are the same
either way; only the work and the order of the progress messages differ.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..core.progress import sub_progress
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
             tolerance=None, local: str = "needed", progress=None) -> Pair:
    """Run paths ``spec_a`` and ``spec_b`` on ``x`` for ``compare(a, b, atol, rtol, local=...)``
    with ``tolerance=(atol, rtol)`` (``core.compare.check_tolerance``'s; the streamed masks
    are made for it) and ``local`` as that compare's. ``progress(fraction, text)`` (else the
    settings' own) follows both runs: "running <path>", then each path's own messages."""
    from ..core.compare import check_tolerance
    from ..core.streamed import StreamedDifferences

    settings = settings or PathSettings()
    progress = progress or settings.progress

    def run(spec, part, **options):
        if progress is not None:
            progress(part / 2, f"running {spec}")
        return run_path(spec, model, x, settings,
                        progress=sub_progress(progress, part / 2, (part + 1) / 2), **options)

    a_is_reference = is_reference(spec_a)
    if a_is_reference and not kind_of(spec_b).reads_reference:
        b = run(spec_b, 0)
        streamed = StreamedDifferences(b, check_tolerance(*(tolerance or (None, None))),
                                       model, local=local)
        with streamed.running():
            a = run(spec_a, 1, on_block=streamed.observe)
        return Pair(a, b, streamed, True)
    a = run(spec_a, 0)
    reference = a if a_is_reference and settings.dtype == "float32" else None
    b = run(spec_b, 1, reference=reference)
    return Pair(a, b, None, a_is_reference)
