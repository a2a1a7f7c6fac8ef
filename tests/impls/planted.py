"""Sequence-form ports of a CuDNNLSTM layer, one correct and the rest with one planted bug each
(or two), as people write them: ``forward(x, kernel, recurrent_kernel, bias)`` on the arrays
exactly as ``layer.get_weights()`` returns them, returning h (T, H) or (h, c).
"""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def hard_sigmoid(z):
    return np.clip(0.2 * z + 0.5, 0.0, 1.0)


def _run(x, kernel, recurrent_kernel, bias, order="ifco", reshape_kernel=True,
         transpose_recurrent=True, bias_halves="both", gate=sigmoid, forget=0.0, return_c=True,
         return_gates=False):
    H, n_in = recurrent_kernel.shape[0], kernel.shape[0]
    K = np.concatenate([b.reshape(H, n_in).T if reshape_kernel else b
                        for b in np.split(kernel, 4, axis=1)], axis=1)          # x @ K
    R = np.concatenate([b.T if transpose_recurrent else b
                        for b in np.split(recurrent_kernel, 4, axis=1)], axis=1)  # h @ R
    b = {"both": bias[:4 * H] + bias[4 * H:], "input": bias[:4 * H]}[bias_halves]
    h, c = np.zeros(H), np.zeros(H)
    hs, cs, gs = [], [], []
    for x_t in x:
        z = x_t @ K + h @ R + b
        blocks = dict(zip(order, np.split(z, 4)))
        i, f, g, o = gate(blocks["i"]), gate(blocks["f"] + forget), np.tanh(blocks["c"]), gate(blocks["o"])
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
        gs.append((i, f, g, o))
    if return_gates:
        i, f, g, o = (np.array(v) for v in zip(*gs))
        return {"h": np.array(hs), "c": np.array(cs), "i": i, "f": f, "g": g, "o": o}
    return (np.array(hs), np.array(cs)) if return_c else np.array(hs)


def correct(x, kernel, recurrent_kernel, bias):
    return _run(x, kernel, recurrent_kernel, bias)


def correct_h_only(x, kernel, recurrent_kernel, bias):
    return _run(x, kernel, recurrent_kernel, bias, return_c=False)


def wrong_gate_order(x, kernel, recurrent_kernel, bias):
    return _run(x, kernel, recurrent_kernel, bias, order="iofc")   # ONNX's order


def input_bias_only(x, kernel, recurrent_kernel, bias):
    return _run(x, kernel, recurrent_kernel, bias, bias_halves="input")


def with_hard_sigmoid(x, kernel, recurrent_kernel, bias):
    return _run(x, kernel, recurrent_kernel, bias, gate=hard_sigmoid)


def untransposed_kernel(x, kernel, recurrent_kernel, bias):
    return _run(x, kernel, recurrent_kernel, bias, reshape_kernel=False)   # x @ kernel


def forget_bias_plus_one(x, kernel, recurrent_kernel, bias):
    return _run(x, kernel, recurrent_kernel, bias, forget=1.0)


def order_and_hard_sigmoid(x, kernel, recurrent_kernel, bias):
    return _run(x, kernel, recurrent_kernel, bias, order="icfo", gate=hard_sigmoid)


def three_faults(x, kernel, recurrent_kernel, bias):
    return _run(x, kernel, recurrent_kernel, bias, order="icfo", gate=hard_sigmoid,
                bias_halves="input")


def three_faults_with_gates(x, kernel, recurrent_kernel, bias):
    return _run(x, kernel, recurrent_kernel, bias, order="icfo", gate=hard_sigmoid,
                bias_halves="input", return_gates=True)
