"""The one exception type for problems a user can cause.

Every message is one sentence a person can act on ("the feature file has 13 columns but the
model's first layer expects 40"). The CLI turns an :class:`InspectorError` into exit code 2 and
one line on stderr; the GUI shows it in a dialog. Anything else is a bug in the tool.

A message is always one line: control characters that came from a file (an utterance id with a
newline, a path with a tab) are written as escapes (``\\n``, ``\\x00``), as ``repr`` does.
"""
import re
from pathlib import Path

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with every control character escaped (``"a\\nb"`` -> ``"a\\\\nb"``): one line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class InspectorError(Exception):
    """A bad input: unreadable or corrupt file, wrong shape, NaN, unsupported layer."""

    def __init__(self, message="", *args):
        super().__init__(one_line(str(message)), *args)


class UnsupportedLayerError(InspectorError):
    """A recurrent layer the tool recognises but cannot reimplement (GRU, SimpleRNN, ...)."""


class Cancelled(Exception):
    """Raised inside long work when the user pressed Cancel (a progress callback raises it)."""


def verb(subject: str, singular: str) -> str:
    """``singular`` ("agrees", "diverges") agreeing with a path's label: a label naming outputs
    ("your outputs (port_h.npy)") takes the plural ("agree", "diverge")."""
    plural_subject = subject.split(" (")[0].strip().endswith("outputs")
    return singular[:-1] if plural_subject and singular.endswith("s") else singular


def naming(exc: InspectorError, path) -> InspectorError:
    """``exc`` itself when its sentence names the file ``path`` (its base name at least), else
    the same kind of error whose sentence starts with the path: ``"m.h5: bias has shape..."``."""
    message = str(exc)
    name = Path(str(path)).name
    if not name or name in message:
        return exc
    named = type(exc)(f"{path}: {message}")
    for attribute, value in vars(exc).items():   # e.g. user_traceback
        setattr(named, attribute, value)
    return named


def plural(count: int, noun: str) -> str:
    """``"1 column"``, ``"13 columns"``: a count and its noun, for messages."""
    return f"{count} {noun}" + ("" if count == 1 else "s")
