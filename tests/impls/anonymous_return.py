"""The forum's NewLSTM with its return values renamed so that the names say nothing: the order
(c, h) must then be read from the values (|h| <= |c|)."""
import numpy as np


def sigmoide_np(x):
    return 1 / (1 + np.exp(-x))


def NewLSTM(kernel, recurrent_kernel, Bias, x, previous_output, previous_state, units=2):
    k_gates = np.dot(np.array([x]), kernel)
    kr_gates = np.dot(previous_output, np.array([recurrent_kernel]))
    gates = k_gates + kr_gates + Bias[:(units * 4)] + Bias[(units * 4):]
    i = sigmoide_np(gates[:, :units])
    f = sigmoide_np(gates[:, units:(units * 2)])
    c = np.tanh(gates[:, (units * 2):(units * 3)])
    o = sigmoide_np(gates[:, (units * 3):])
    a = np.multiply(i, c) + np.multiply(previous_state, f)
    b = o * np.tanh(a)
    return a, b
