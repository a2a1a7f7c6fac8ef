"""One step of an ``nn.LSTM(proj_size=P)`` port that forgets ``bias_hh``: h_prev is P wide,
c_prev H wide, ``h = W_hr (o * tanh(c))``."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_step(x, h_prev, c_prev, w_ih, w_hh, b_ih, b_hh, w_hr):
    i, f, g, o = np.split(w_ih @ x + w_hh @ h_prev + b_ih, 4)     # b_hh forgotten
    c = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
    h = w_hr @ (sigmoid(o) * np.tanh(c))
    return h, c
