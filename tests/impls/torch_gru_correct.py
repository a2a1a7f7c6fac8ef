"""A correct NumPy port of an nn.GRU checkpoint (gate blocks r, z, n; n = tanh(W_n x + b_in +
r * (R_n h + b_hn)); h = (1 - z) n + z h), for tests/test_torch_ports.py."""
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
        r = sigmoid(gi[:H] + gh[:H])
        z = sigmoid(gi[H:2 * H] + gh[H:2 * H])
        n = np.tanh(gi[2 * H:] + r * gh[2 * H:])
        h = (1 - z) * n + z * h
        out.append(h)
    return np.array(out)
