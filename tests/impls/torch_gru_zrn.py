"""A NumPy port of an nn.GRU checkpoint that reads the gate blocks in Keras's order z, r, n
(torch stores r, z, n)."""
import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def forward(x, kernel, recurrent_kernel, bias, bias_hh, units):
    W, R, b_i, b_h = kernel, recurrent_kernel, bias, bias_hh
    H = units
    h = np.zeros(H, np.float32)
    out = []
    for x_t in x:
        gi = W @ x_t + b_i
        gh = R @ h + b_h
        z = sigmoid(gi[:H] + gh[:H])            # wrong: torch's first block is r
        r = sigmoid(gi[H:2 * H] + gh[H:2 * H])
        n = np.tanh(gi[2 * H:] + r * gh[2 * H:])
        h = (1 - z) * n + z * h
        out.append(h)
    return np.array(out)
