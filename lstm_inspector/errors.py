"""The one exception type for problems a user can cause.

Every message is one sentence a person can act on ("the feature file has 13 columns but the
model's first layer expects 40"). The CLI turns an :class:`InspectorError` into exit code 2 and
one line on stderr; the GUI shows it in a dialog. Anything else is a bug in the tool.
"""


class InspectorError(Exception):
    """A bad input: unreadable or corrupt file, wrong shape, NaN, unsupported layer."""


class UnsupportedLayerError(InspectorError):
    """A recurrent layer the tool recognises but cannot reimplement (GRU, SimpleRNN, ...)."""


class Cancelled(Exception):
    """Raised inside long work when the user pressed Cancel (a progress callback raises it)."""


def verb(subject: str, singular: str) -> str:
    """``singular`` ("agrees", "diverges") agreeing with a path's label: a label naming outputs
    ("your outputs (port_h.npy)") takes the plural ("agree", "diverge")."""
    plural_subject = subject.split(" (")[0].strip().endswith("outputs")
    return singular[:-1] if plural_subject and singular.endswith("s") else singular


def plural(count: int, noun: str) -> str:
    """``"1 column"``, ``"13 columns"``: a count and its noun, for messages."""
    return f"{count} {noun}" + ("" if count == 1 else "s")
