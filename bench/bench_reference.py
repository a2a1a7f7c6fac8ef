"""How fast is the instrumented NumPy reference beside real LSTMs on the CPU? Not a test.

One LSTM layer, batch 1, T = 6000 frames of width 40, H = 128 and 512, float32, all measured in
this run (best of N):

* ``reference``        ``core.reference.run_reference``: records z, a, c, h at every step, on
  the engine ``auto`` picks (compiled with numba installed), and again on each engine forced:
  ``compiled`` (``core.compiled_loop``) and ``numpy`` (the pure-NumPy loop); same bits
* ``torch nn.LSTM``    one call, nothing recorded (the baseline every ratio is against);
  also with oneDNN off (torch's own CPU kernel, which the torch-cpu backend uses)
* ``tf LSTM``          ``tf_keras.layers.LSTM`` in a ``tf.function``, one call, nothing recorded
* ``numpy naive``      the plain step loop a port writes: ``z = x_t @ W + h @ R + b`` per step
* ``product alone``    only the reference's per-step product ``np.dot(h, R_T, rec)`` (the same
  OpenBLAS call on the same cache-line-aligned operands), T times: the floor of any reference
  with today's bits, since that call fixes them
* ``backend tf-cpu`` / ``backend torch-cpu``: ``run_backend`` as the tool runs it (c recorded
  or stepped, gates derived), timed once

plus the trace's memory: ``trace.nbytes`` against the raw size of the arrays it must hold
(z, a: T x 4H; c, h: T x H), and what the process still holds after the run (tracemalloc).

    python bench/bench_reference.py [--steps 6000] [--units 128 512] [--repeat 5]
        [--contenders reference reference-compiled reference-numpy] [--no-backends]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from lstm_inspector.core.model import Model, RecurrentLayer  # noqa: E402
from lstm_inspector.core.reference import run_reference  # noqa: E402
from lstm_inspector.core.weights import READINGS, StoredLSTM  # noqa: E402


def make_model(n_in: int, units: int, seed: int = 0) -> Model:
    rng = np.random.default_rng(seed)
    s = 1 / np.sqrt(units)
    stored = StoredLSTM(rng.uniform(-s, s, (n_in, 4 * units)).astype(np.float32),
                        rng.uniform(-s, s, (units, 4 * units)).astype(np.float32),
                        rng.uniform(-s, s, 8 * units).astype(np.float32), READINGS["cudnn"])
    return Model([RecurrentLayer("lstm", "CuDNNLSTM", n_in, units, {"forward": stored})],
                 source="<bench>")


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def naive_numpy(w, x):
    """The step loop people write: z = x_t @ W + h @ R + b, sigmoid/tanh, nothing recorded."""
    W, R = w.weight_ih.T.copy(), w.weight_hh.T.copy()  # (in, 4H), (H, 4H)
    b = w.bias_ih + w.bias_hh
    H = w.units
    h = np.zeros(H, np.float32)
    c = np.zeros(H, np.float32)
    out = np.empty((x.shape[0], H), np.float32)
    for t in range(x.shape[0]):
        z = x[t] @ W + h @ R + b
        i, f = 1 / (1 + np.exp(-z[:H])), 1 / (1 + np.exp(-z[H:2 * H]))
        g, o = np.tanh(z[2 * H:3 * H]), 1 / (1 + np.exp(-z[3 * H:]))
        c = f * c + i * g
        h = o * np.tanh(c)
        out[t] = h
    return out


def product_alone(model, x):
    """The reference's recurrent product alone: the call that fixes its bits, T times."""
    from lstm_inspector.core.recurrence import _Weights

    R_T = _Weights.of(model.layers[0].weights(), np.float32).R_T
    h, rec = np.zeros(R_T.shape[0], np.float32), np.empty(R_T.shape[1], np.float32)
    for _ in range(x.shape[0]):
        np.dot(h, R_T, rec)
    return rec


def torch_runner(w, x):
    import torch

    lstm = torch.nn.LSTM(w.input_size, w.units, batch_first=True)
    with torch.no_grad():
        for name, array in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                               w.to_torch()):
            getattr(lstm, name).copy_(torch.from_numpy(array))
    xt = torch.from_numpy(x)[None]

    def run():
        with torch.no_grad():
            return lstm(xt)[0]

    def run_native():  # torch's own CPU kernel instead of oneDNN's (what torch-cpu steps with)
        saved = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = False
        try:
            return run()
        finally:
            torch.backends.mkldnn.enabled = saved

    return run, run_native, f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def tf_runner(layer, x):
    from lstm_inspector.backends.common import import_tf
    from lstm_inspector.backends.tf_cpu import keras_lstm

    tf, _ = import_tf()
    with tf.device("/CPU:0"):
        lstm, _ = keras_lstm(layer, "forward")
        fn = tf.function(lambda a: lstm(a))
        xt = tf.constant(x[None])
        fn(xt)  # trace once, outside the timing

    def run():
        with tf.device("/CPU:0"):
            return fn(xt).numpy()

    return run, f"tensorflow {tf.__version__}"


CONTENDERS = {
    "torch": "torch nn.LSTM (one call)",
    "torch-native": "torch nn.LSTM, oneDNN off",
    "reference": "reference (instrumented, auto)",
    "reference-compiled": "reference, compiled engine",
    "reference-numpy": "reference, numpy engine",
    "tf": "tf LSTM (tf.function, one call)",
    "naive": "numpy naive step loop",
    "product": "product alone (np.dot h R^T)",
    "backend-tf-cpu": "run_backend tf-cpu",
    "backend-torch-cpu": "run_backend torch-cpu",
}


def time_one(name: str, units: int, steps: int, n_in: int, repeat: int) -> tuple:
    """``(best seconds, description)`` of one contender, in this process."""
    model = make_model(n_in, units)
    layer, w = model.layers[0], model.layers[0].weights()
    x = np.random.default_rng(1).standard_normal((steps, n_in)).astype(np.float32)
    desc = f"numpy {np.__version__}"
    if name in ("torch", "torch-native"):
        run, native, desc = torch_runner(w, x)
        fn = run if name == "torch" else native
    elif name == "tf":
        fn, desc = tf_runner(layer, x)
    elif name.startswith("reference"):
        from lstm_inspector.core import compiled_loop

        compiled_loop.use_engine(name.partition("-")[2] or "auto")
        if name == "reference-compiled" and compiled_loop.why_not():
            return float("nan"), f"compiled engine unavailable: {compiled_loop.why_not()}"
        desc = f"numpy {np.__version__}, engine {compiled_loop.engine()}"

        def fn():   # every gate held, whatever the length (a long run keeps c and h only)
            return run_reference(model, x, gates=True)
    elif name == "naive":
        def fn():
            return naive_numpy(w, x)
    elif name == "product":
        def fn():
            return product_alone(model, x)
    else:
        from lstm_inspector import run_backend

        backend = name.split("-", 1)[1]

        def fn():
            return run_backend(model, x, backend)
        repeat = 1
    fn()  # warm-up: thread pools, caches, tracing
    return best_of(fn, repeat), desc


def measure(name, units, args) -> tuple:
    """Time ``name`` in a fresh process: libraries' thread pools (torch's OpenMP spin-waits,
    OpenBLAS) would otherwise steal the 2 cores from each other and distort every ratio."""
    cmd = [sys.executable, __file__, "--only", name, "--units", str(units), "--steps",
           str(args.steps), "--input", str(args.input), "--repeat", str(args.repeat)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()
    seconds, desc = out[-1].split("\t", 1)
    return float(seconds), desc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--input", type=int, default=40)
    parser.add_argument("--units", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds over all contenders (best round kept; spreads machine noise)")
    parser.add_argument("--no-backends", action="store_true", help="skip the run_backend rows")
    parser.add_argument("--contenders", nargs="+", choices=list(CONTENDERS),
                        help="only these (torch, the baseline, is always measured)")
    parser.add_argument("--only", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.only:
        seconds, desc = time_one(args.only, args.units[0], args.steps, args.input, args.repeat)
        print(f"{seconds}\t{desc}")
        return
    print(f"one layer, batch 1, T={args.steps}, input {args.input}, float32, best of "
          f"{args.repeat} x {args.rounds} rounds, each contender in its own process; "
          f"{os.cpu_count()} CPUs, numpy {np.__version__}")
    names = [n for n in CONTENDERS if not (args.no_backends and n.startswith("backend"))
             and (not args.contenders or n == "torch" or n in args.contenders)]
    for units in args.units:
        best, descs = {}, {}
        for _ in range(args.rounds):
            for name in names:
                seconds, descs[name] = measure(name, units, args)
                best[name] = min(best.get(name, float("inf")), seconds)
        base = best["torch"]
        peers = (descs[n] for n in ("torch", "tf", "reference") if n in descs)
        print(f"\nH={units}  " + "; ".join(peers))
        for name in names:
            vs_tf = f"   {best[name] / best['tf']:5.2f} x tf" if "tf" in best else ""
            print(f"  {CONTENDERS[name]:34s} {best[name] * 1e3:9.1f} ms   {best[name] / base:7.2f} x torch"
                  + vs_tf)
        model = make_model(args.input, units)
        x = np.random.default_rng(1).standard_normal((args.steps, args.input)).astype(np.float32)
        run_reference(model, x[:10])   # imports and compiles first: not the trace's memory
        tracemalloc.start()
        trace = run_reference(model, x, gates=True)
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        T, H = args.steps, units
        raw = T * (4 * H + 4 * H + H + H) * 4  # z, a (T, 4H); c, h (T, H); float32
        print(f"  trace memory: nbytes {trace.nbytes / 2**20:.1f} MiB, raw arrays {raw / 2**20:.1f} MiB "
              f"-> ratio {trace.nbytes / raw:.3f}; held after run {held / 2**20:.1f} MiB "
              f"(ratio {held / raw:.3f}), peak during run {peak / 2**20:.1f} MiB "
              f"(ratio {peak / raw:.3f})")
        del trace


if __name__ == "__main__":
    main()
