"""A NumPy port of a PyTorch ``nn.LSTM`` checkpoint written the way people write them: it adds
``bias_ih`` but forgets ``bias_hh`` (nn.LSTM adds both: ``W_ii x + b_ii + W_hi h + b_hi``)."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def forward(x, weight_ih, weight_hh, bias_ih, bias_hh):
    H = weight_hh.shape[1]
    h, c = np.zeros(H), np.zeros(H)
    hs, cs = [], []
    for x_t in x:
        gates = weight_ih @ x_t + weight_hh @ h + bias_ih          # bias_hh forgotten
        i, f, g, o = np.split(gates, 4)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.array(hs), np.array(cs)
