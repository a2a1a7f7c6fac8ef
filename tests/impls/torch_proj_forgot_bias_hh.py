"""A NumPy port of an ``nn.LSTM(proj_size=P)`` checkpoint that adds ``bias_ih`` but forgets
``bias_hh`` (nn.LSTM adds both); it projects correctly: ``h = W_hr (o * tanh(c))``."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def forward(x, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr):
    H = weight_hr.shape[1]
    h, c = np.zeros(weight_hr.shape[0]), np.zeros(H)
    hs, cs = [], []
    for x_t in x:
        gates = weight_ih @ x_t + weight_hh @ h + bias_ih          # bias_hh forgotten
        i, f, g, o = np.split(gates, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = weight_hr @ (sigmoid(o) * np.tanh(c))
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(cs)
