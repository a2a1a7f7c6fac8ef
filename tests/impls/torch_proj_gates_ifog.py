"""A NumPy port of an ``nn.LSTM(proj_size=P)`` checkpoint that reads the gate blocks as
i, f, o, g (a blog's order; nn.LSTM stores i, f, g, o). It returns h (T, P) only."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def forward(x, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr):
    P, H = weight_hr.shape
    h, c = np.zeros(P), np.zeros(H)
    out = []
    for x_t in x:
        gates = weight_ih @ x_t + bias_ih + weight_hh @ h + bias_hh
        i = sigmoid(gates[0:H])
        f = sigmoid(gates[H:2 * H])
        o = sigmoid(gates[2 * H:3 * H])        # nn.LSTM's third block is g
        g = np.tanh(gates[3 * H:4 * H])        # and its fourth is o
        c = f * c + i * g
        h = weight_hr @ (o * np.tanh(c))
        out.append(h)
    return np.array(out)
