"""``lstm-inspector backends``: which backends can run here, and why not."""
from __future__ import annotations


def add_parser(sub):
    return sub.add_parser("backends", help="list the backends and whether they can run here")


def cmd_backends(args) -> int:
    from ..backends.listing import backends_table

    print(backends_table())
    return 0
