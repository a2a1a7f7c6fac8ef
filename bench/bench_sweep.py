"""The sweep's pace: a batched sweep against torch running the same utterances batched. Not a test.

Default (issue 21): a generated Kaldi ark of ``--utterances`` (1,000) utterances of 100-600
frames x 40 features and a Keras HDF5 file of 2 x Bidirectional(CuDNNLSTM(128)) + Dense
(weights U(-1/sqrt(H), 1/sqrt(H)), as bench_long's), written by tf-keras in a child process.
In this process, one after the other:

* ``anchor``   torch ``nn.LSTM(40, 128, num_layers=2, bidirectional=True)`` on the same
  utterances, ``--batch`` at a time in corpus order, one call per batch with the lengths passed
  (``pack_padded_sequence``): what the library costs with nothing recorded
* ``batched``  ``run_sweep`` with ``--batch`` (path A the NumPy reference, path B torch-cpu):
  every row, the analysis included
* ``batched xN`` the same in ``--sweep-jobs N`` worker processes (``sweep --jobs N``), if given
* ``one by one`` the same sweep with ``batch=1`` (``--no-batch``), unless ``--skip-unbatched``

Prints utterances per second of each, the ratio of each sweep to the anchor measured in the
same run (goal: batched <= 2x), and whether the rows of both sweeps are identical (all but the
time). The phases of the batched sweep (reference, torch, analysis) are timed once more on the
first ``--profile`` utterances. ``--repeat N`` interleaves N rounds and keeps each run's best.

    nice python bench/bench_sweep.py [--utterances 1000] [--batch 16] [--skip-unbatched]
                                     [--threads 1] [--repeat 1] [--sweep-jobs 2]

The older comparison of worker processes (``--jobs N``, 13-dim demo model, the whole command
timed in its own process) runs when ``--jobs`` is given:

    nice python bench/bench_sweep.py --jobs 1 2 [--utterances 60] [--frames 300]
                                     [--backend auto numpy] [--repeat 1]

On a machine whose cores are busy with other work the ratios say little: run it where the cores
are free.
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


def _threads_from_argv() -> None:
    """``--threads N``: every thread pool (BLAS, OpenMP, torch) at N, set before NumPy loads."""
    if "--threads" in sys.argv:
        count = sys.argv[sys.argv.index("--threads") + 1]
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = count


_threads_from_argv()

import numpy as np  # noqa: E402  (after the thread pools are sized)

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


def jobs_bench(args) -> None:
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


INPUT, UNITS, LAYERS = 40, 128, 2
LENGTHS = (100, 601)  # frames of the batched bench's utterances: 100-600


def write_model(path: Path, seed: int = 0) -> None:
    """2 x Bidirectional(CuDNNLSTM(128)) on 40 features + Dense(10), saved by tf-keras."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras as K

    layers = [K.layers.InputLayer(input_shape=(None, INPUT))]
    layers += [K.layers.Bidirectional(tf.compat.v1.keras.layers.CuDNNLSTM(
        UNITS, return_sequences=True)) for _ in range(LAYERS)]
    model = K.Sequential(layers + [K.layers.Dense(10, activation="softmax")])
    rng = np.random.default_rng(seed)
    s = 1 / np.sqrt(UNITS)
    model.set_weights([rng.uniform(-s, s, w.shape).astype(np.float32)
                       for w in model.get_weights()])
    model.save(str(path))


def write_speech_corpus(path: Path, utterances: int, seed: int = 1) -> list:
    """An ark of ``utterances`` N(0, 1) utterances, 100-600 frames x 40; their arrays."""
    import kaldiio

    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((int(rng.integers(*LENGTHS)), INPUT)).astype(np.float32)
          for _ in range(utterances)]
    with kaldiio.WriteHelper(f"ark:{path}") as writer:
        for k, x in enumerate(xs):
            writer(f"utt{k:05d}", x)
    return xs


def anchor(model_path: Path, xs: list, batch: int) -> float:
    """Seconds torch takes for ``xs``, ``batch`` at a time, lengths passed (packed)."""
    import torch

    from lstm_inspector import load_model

    model = load_model(str(model_path))
    lstm = torch.nn.LSTM(INPUT, UNITS, num_layers=LAYERS, bidirectional=True, batch_first=True)
    with torch.no_grad():
        for k, layer in enumerate(model.chain):
            for direction, suffix in zip(layer.directions, ("", "_reverse")):
                for name, array in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
                                       layer.weights(direction).to_torch()):
                    getattr(lstm, f"{name}_l{k}{suffix}").copy_(
                        torch.from_numpy(np.asarray(array, np.float32)))
    pack = torch.nn.utils.rnn.pack_sequence
    start = time.perf_counter()
    with torch.no_grad():
        for lo in range(0, len(xs), batch):
            part = [torch.from_numpy(x) for x in xs[lo:lo + batch]]
            lstm(pack(part, enforce_sorted=False))
    return time.perf_counter() - start


def timed_sweep(model_path: Path, corpus: Path, batch: int, jobs: int = 1) -> tuple:
    """(seconds, rows without their time) of ``run_sweep`` (path B torch-cpu): in this process,
    or ``jobs`` worker processes (their start, imports and model loading counted)."""
    from lstm_inspector.sweep.command import run_sweep
    from lstm_inspector.sweep.work import SweepSettings

    settings = SweepSettings(model=str(model_path), backend="torch-cpu", atol=1e-5, rtol=1e-4)
    start = time.perf_counter()
    result = run_sweep(settings, corpus, batch=batch, jobs=jobs)
    seconds = time.perf_counter() - start
    return seconds, [{k: v for k, v in r.items() if k != "seconds"} for r in result["rows"]]


def phases(model_path: Path, xs: list, batch: int) -> tuple:
    """Seconds of the batched sweep's parts on ``xs``: reference, torch-cpu, analysis; and
    apart, those of torch-cpu's ``nn.LSTM`` calls alone (``torch_batch.batched_calls``: the
    rest of torch-cpu is each trace's derivation of c and the gates). With the thread counts
    ``run_sweep`` sets (``sweep.work.sharing_cores``)."""
    from lstm_inspector import load_model
    from lstm_inspector.backends.torch_batch import batched_calls
    from lstm_inspector.sweep.work import SweepSettings, sharing_cores

    model = load_model(str(model_path))
    settings = SweepSettings(model=str(model_path), backend="torch-cpu", atol=1e-5, rtol=1e-4)
    spent = dict.fromkeys(("reference", "torch-cpu", "analysis"), 0.0)
    calls = 0.0
    with sharing_cores(settings, model):
        for lo in range(0, len(xs), batch):
            part = xs[lo:lo + batch]
            t = time.perf_counter()
            batched_calls(model, part)
            calls += time.perf_counter() - t
            _phases_of(model, settings, part, spent)
    return spent, calls


def _phases_of(model, settings, part: list, spent: dict) -> None:
    """One batch's reference, torch-cpu and analysis, each timed into ``spent``."""
    from lstm_inspector.backends import run_backend_batch
    from lstm_inspector.core.batched import run_reference_batch
    from lstm_inspector.sweep.work import compared

    t = time.perf_counter()
    refs = run_reference_batch(model, part)
    spent["reference"] += time.perf_counter() - t
    t = time.perf_counter()
    others = run_backend_batch(model, part, "torch-cpu")
    spent["torch-cpu"] += time.perf_counter() - t
    t = time.perf_counter()
    for a, b in zip(refs, others):
        compared(settings, model, a, b)
    spent["analysis"] += time.perf_counter() - t


def batched_bench(args) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as folder:
        model_path, corpus = Path(folder) / "bi2x128.h5", Path(folder) / "corpus.ark"
        subprocess.run([sys.executable, __file__, "--write-model", str(model_path)], check=True)
        xs = write_speech_corpus(corpus, args.utterances)
        n, frames = len(xs), sum(len(x) for x in xs)
        print(f"corpus: {n} utterances, {frames} frames ({LENGTHS[0]}-{LENGTHS[1] - 1} each) x "
              f"{INPUT}, model 2 x Bidirectional(CuDNNLSTM({UNITS})), batch {args.batch}, "
              f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, "
              f"load average {os.getloadavg()[0]:.1f}")
        anchor(model_path, xs[:args.batch], args.batch)  # torch's own first-call costs
        seconds = {}
        for _ in range(args.repeat):  # interleaved, so a burst of load elsewhere hits each
            runs = {"anchor": lambda: (anchor(model_path, xs, args.batch), None),
                    "batched": lambda: timed_sweep(model_path, corpus, args.batch)}
            if args.sweep_jobs > 1:
                runs[f"batched x{args.sweep_jobs}"] = lambda: timed_sweep(
                    model_path, corpus, args.batch, args.sweep_jobs)
            if not args.skip_unbatched:
                runs["one by one"] = lambda: timed_sweep(model_path, corpus, 1)
            for name, run in runs.items():
                value, got = run()
                seconds[name] = min(value, seconds.get(name, value))
                if name == "batched":
                    rows = got
                elif name.startswith("batched x"):
                    rows_jobs = got
                elif name == "one by one":
                    rows_alone = got
        print(f"{'run':<12} {'seconds':>9} {'utt/s':>8} {'x anchor':>9}")
        for name, value in seconds.items():
            print(f"{name:<12} {value:>9.1f} {n / value:>8.1f} {value / seconds['anchor']:>9.2f}")
        if args.sweep_jobs > 1:
            print(f"rows identical batched / batched in {args.sweep_jobs} processes: "
                  f"{rows == rows_jobs}")
        if not args.skip_unbatched:
            print(f"rows identical batched / one by one: {rows == rows_alone}; one by one / "
                  f"batched: {seconds['one by one'] / seconds['batched']:.2f}x")
        profiled = xs[:args.profile]
        spent, calls = phases(model_path, profiled, args.batch)
        total = sum(spent.values())
        print(f"batched sweep's phases on {len(profiled)} utterances: " + ", ".join(
            f"{k} {v:.1f} s ({v / total:.0%})" for k, v in spent.items()))
        print(f"of torch-cpu, the nn.LSTM calls alone: {calls:.2f} s; the anchor on the same "
              f"utterances: {anchor(model_path, profiled, args.batch):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--utterances", type=int, default=None,
                        help="default 1000 (batched bench) or 60 (--jobs)")
    parser.add_argument("--batch", type=int, default=16, help="utterances per batch (default 16)")
    parser.add_argument("--sweep-jobs", type=int, default=1, metavar="N",
                        help="also time the batched sweep in N worker processes (--jobs N of "
                             "sweep: each gets cpu_count // N threads)")
    parser.add_argument("--skip-unbatched", action="store_true",
                        help="do not time the sweep one by one")
    parser.add_argument("--profile", type=int, default=100,
                        help="utterances whose phases are timed (default 100)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of every pool (BLAS, OpenMP, torch); default: the libraries' "
                             "own (all cores). 1 gives steadier ratios on a busy machine")
    parser.add_argument("--write-model", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=300, help="--jobs bench: frames each")
    parser.add_argument("--jobs", type=int, nargs="+", default=None,
                        help="run the worker-process bench instead, e.g. --jobs 1 2")
    parser.add_argument("--backend", nargs="+", default=["auto", "numpy"],
                        help="--jobs bench: backends (auto: TensorFlow/torch in every worker)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds, the runs interleaved; the best of each kept")
    args = parser.parse_args()
    if args.write_model:
        write_model(Path(args.write_model))
    elif args.jobs:
        args.utterances = args.utterances or 60
        jobs_bench(args)
    else:
        args.utterances = args.utterances or 1000
        sys.path.insert(0, str(ROOT))
        batched_bench(args)


if __name__ == "__main__":
    main()
