"""Progress callbacks: ``progress(fraction, text)`` with ``fraction`` in [0, 1].

A long job made of parts hands each part a callback that maps the part's own 0..1 onto its slice
of the caller's bar, so every part reports as if it were the whole job.
"""
from __future__ import annotations


def sub_progress(progress, start: float, stop: float):
    """A callback mapping [0, 1] onto [start, stop] of ``progress`` (None stays None).

    ``sub(f, text) = progress(start + (stop - start) * clip(f, 0, 1), text)``; a callback may
    raise ``errors.Cancelled``, which passes through.
    """
    if progress is None:
        return None

    def report(fraction, text=""):
        progress(start + (stop - start) * min(max(float(fraction), 0.0), 1.0), text)

    return report
