"""A correct NumPy port of a PyTorch ``nn.LSTM(proj_size=P)`` checkpoint: ``h = W_hr (o * tanh(c))``
is P wide, c stays H wide, ``weight_hh`` is (4H, P)."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def forward(x, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr):
    P, H = weight_hr.shape
    h, c = np.zeros(P), np.zeros(H)
    hs, cs = [], []
    for x_t in x:
        i, f, g, o = np.split(weight_ih @ x_t + bias_ih + weight_hh @ h + bias_hh, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = weight_hr @ (sigmoid(o) * np.tanh(c))
        hs.append(h)
        cs.append(c)
    return {"h": np.array(hs), "c": np.array(cs)}
