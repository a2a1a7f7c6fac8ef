"""Does ``sweep --jobs N`` pay for its worker processes? Not a test.

Writes a generated Kaldi ark (kaldiio; N utterances of 13-dim features, T frames each) and runs
``lstm-inspector sweep resources/demo_digits_cudnnlstm.h5 corpus.ark --json`` as a user would,
each configuration in its own process, timing the whole command (start, TensorFlow import in
every worker, the sweep). Prints each wall time, the ratio to ``--jobs 1`` measured in the same
run, and whether the rows are identical (everything but each row's time).

    nice python bench/bench_sweep.py [--utterances 60] [--frames 300] [--jobs 1 2]
                                     [--backend auto numpy] [--repeat 1]

``auto`` pays for TensorFlow's import in every worker (seconds); ``numpy`` shows the pool's
own overhead. On a machine whose cores are busy with other work the ratio says little: run it
where the cores are free.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "resources" / "demo_digits_cudnnlstm.h5"


def write_corpus(path: Path, utterances: int, frames: int, seed: int = 0) -> None:
    import kaldiio

    rng = np.random.default_rng(seed)
    with kaldiio.WriteHelper(f"ark:{path}") as writer:
        for k in range(utterances):
            writer(f"utt{k:05d}", rng.standard_normal((frames, 13)).astype(np.float32))


def sweep(corpus: Path, jobs: int, backend: str) -> tuple:
    """(wall seconds, rows without their time) of one sweep command."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", "sweep", str(MODEL), str(corpus),
                           "--backend", backend, "--jobs", str(jobs), "--json"],
                          capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"sweep --jobs {jobs} failed ({proc.returncode}): {proc.stderr.strip()}")
    rows = json.loads(proc.stdout)["rows"]
    return wall, [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--utterances", type=int, default=60)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--backend", nargs="+", default=["auto", "numpy"],
                        help="backends to sweep with (auto: TensorFlow/torch in every worker)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds, jobs interleaved; best kept")
    args = parser.parse_args()
    print(f"corpus: {args.utterances} utterances x {args.frames} frames x 13, model "
          f"{MODEL.name}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        corpus = Path(folder) / "corpus.ark"
        write_corpus(corpus, args.utterances, args.frames)
        print(f"{'backend':<10} {'jobs':>5} {'wall s':>8} {'ratio to --jobs ' + str(args.jobs[0]):>20} "
              f"{'rows identical':>15}")
        for backend in args.backend:
            best, rows = {}, {}
            for _ in range(args.repeat):
                for jobs in args.jobs:  # interleaved, so a burst of load elsewhere hits both
                    wall, rows[jobs] = sweep(corpus, jobs, backend)
                    best[jobs] = min(wall, best.get(jobs, wall))
            base = args.jobs[0]
            for jobs in args.jobs:
                print(f"{backend:<10} {jobs:>5} {best[jobs]:>8.1f} {best[jobs] / best[base]:>20.2f} "
                      f"{str(rows[jobs] == rows[base]):>15}")


if __name__ == "__main__":
    main()
