"""A correct step-form port (the documented argument order), returning (h, c)."""
import numpy as np


def step(x, h_prev, c_prev, kernel, recurrent_kernel, bias):
    H, n_in = recurrent_kernel.shape[0], kernel.shape[0]
    z = np.empty(4 * H)
    for g in range(4):
        W = kernel[:, g * H:(g + 1) * H].reshape(H, n_in)   # cuDNN's per-gate reading
        R = recurrent_kernel[:, g * H:(g + 1) * H]
        z[g * H:(g + 1) * H] = W @ x + R @ h_prev + bias[g * H:(g + 1) * H] + bias[(4 + g) * H:(5 + g) * H]
    i, f, o = (1 / (1 + np.exp(-z[k * H:(k + 1) * H])) for k in (0, 1, 3))
    c = f * c_prev + i * np.tanh(z[2 * H:3 * H])
    h = o * np.tanh(c)
    return h, c
