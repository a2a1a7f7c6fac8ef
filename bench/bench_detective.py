"""How long does the detective's full search take beside one run of the reference? Not a test.

One CuDNNLSTM direction, T = 1000 steps, H = 256, input width 40 (issue 9's target: the full
search in at most 5 s on the 2-core machine), random weights. The port is the reference under
two planted faults (gate order icfo + hard_sigmoid), given with its c and with h alone. Timed in
this run, best of ``--repeat``:

* ``reference``       ``run_reference`` on the model (the unit every ratio is against)
* ``search (h, c)``   ``Detective.search``: every hypothesis (truth, single faults, pairs) on a
                      sample of steps, the best few on every step
* ``search (h only)`` the same with c carried by each hypothesis
* ``fix + check``     ``make_fix`` for the best match: lines executed, fixed reading run freely
* ``diagnose``        ``paths.diagnosis.diagnose`` end to end on the h-and-c port (reference,
                      compare, search, fix, check)

    python bench/bench_detective.py [--steps 1000] [--units 256] [--inputs 40] [--repeat 3]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lstm_inspector.core.detective import Detective  # noqa: E402
from lstm_inspector.core.fixes import make_fix  # noqa: E402
from lstm_inspector.core.model import Model, RecurrentLayer  # noqa: E402
from lstm_inspector.core.port_trace import PortTrace, port_layer_trace  # noqa: E402
from lstm_inspector.core.reference import run_reference  # noqa: E402
from lstm_inspector.core.weights import READINGS, Reading, StoredLSTM  # noqa: E402
from lstm_inspector.paths.diagnosis import diagnose  # noqa: E402

PLANTED = Reading("planted", gate_order="icfo", recurrent_activation="hard_sigmoid")


def make_model(n_in: int, units: int, seed: int = 0) -> Model:
    rng = np.random.default_rng(seed)
    s = 1 / np.sqrt(units)
    stored = StoredLSTM(rng.uniform(-s, s, (n_in, 4 * units)).astype(np.float32),
                        rng.uniform(-s, s, (units, 4 * units)).astype(np.float32),
                        rng.uniform(-s, s, 8 * units).astype(np.float32), READINGS["cudnn"])
    return Model([RecurrentLayer("lstm", "CuDNNLSTM", n_in, units, {"forward": stored})],
                 source="<bench>")


def best_of(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--units", type=int, default=256)
    ap.add_argument("--inputs", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    model = make_model(args.inputs, args.units)
    x = np.random.default_rng(1).standard_normal((args.steps, args.inputs)).astype(np.float32)
    stored = model.chain[0].directions["forward"]
    port = run_reference(model.with_reading(PLANTED), x).layer(0)

    t_ref, _ = best_of(lambda: run_reference(model, x), args.repeat)
    rows = [("reference", t_ref, "")]
    for name, c in (("search (h, c)", port.c), ("search (h only)", None)):
        t, ranking = best_of(lambda c=c: Detective(stored, x, port.h, c).search(), args.repeat)
        best = ranking[0]
        rows.append((name, t, f"{len(ranking)} hypotheses; best: {best.hypothesis.describe()} "
                              f"({'fits' if best.fits else 'no fit'}, {best.error:.1g})"))
    t_fix, fix = best_of(lambda: make_fix(stored, ranking[0].hypothesis, x), args.repeat)
    rows.append(("fix + check", t_fix, f"check error {fix.check_error:.1g}"))
    trace = PortTrace(layers=[{"forward": port_layer_trace(stored.read(), x, port.h, port.c)}],
                      layer_names=["lstm"], x=x, output=port.h, label="planted port")
    t_diag, result = best_of(lambda: diagnose(model, x, trace), args.repeat)
    rows.append(("diagnose", t_diag, "exit code %d" % result.exit_code))

    print(f"T = {args.steps}, H = {args.units}, input width {args.inputs}; best of {args.repeat}")
    print(f"{'':<18}{'seconds':>9}{'x reference':>13}  notes")
    for name, t, note in rows:
        print(f"{name:<18}{t:>9.3f}{t / t_ref:>13.1f}  {note}")
    worst = max(t for name, t, _ in rows if name.startswith("search"))
    print(f"full search within the 5 s target: {'yes' if worst <= 5 else 'NO'} ({worst:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
