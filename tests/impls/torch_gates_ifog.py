"""A NumPy port of a PyTorch ``nn.LSTM`` checkpoint that reads the gate blocks as i, f, o, g
(a blog's order); nn.LSTM stores them as i, f, g, o. One step at a time, returning (h, c)."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh):
    gates = x @ w_ih.T + b_ih + h_prev @ w_hh.T + b_hh
    H = h_prev.shape[0]
    i = sigmoid(gates[0:H])
    f = sigmoid(gates[H:2 * H])
    o = sigmoid(gates[2 * H:3 * H])        # nn.LSTM's third block is g
    g = np.tanh(gates[3 * H:4 * H])        # and its fourth is o
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c
