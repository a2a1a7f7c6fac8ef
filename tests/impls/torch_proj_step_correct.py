"""One step of a correct ``nn.LSTM(proj_size=P)`` port, returning (c, h) as its names say."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def step(x, h_prev, c_prev, weight_ih, weight_hh, bias_ih, bias_hh, weight_hr):
    i, f, g, o = np.split(weight_ih @ x + bias_ih + weight_hh @ h_prev + bias_hh, 4)
    cell = sigmoid(f) * c_prev + sigmoid(i) * np.tanh(g)
    out = weight_hr @ (sigmoid(o) * np.tanh(cell))
    return cell, out
