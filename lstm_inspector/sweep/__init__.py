"""Sweeps: every utterance of a test set through both paths, one row each, worst first.

``work`` turns one utterance into a row, ``run`` sends utterances to this process, local worker
processes or a Dask cluster, ``summary`` and ``html`` present the rows, ``command`` is the CLI.
"""
