"""The forum's own port, as its author posted it (../shared/seed/forum-thread.md).

Only the indentation the forum lost is restored, ``sigmoide_np`` (not shown in the thread) is the
plain logistic function, and ``units`` defaults to 2, the width of the failing model. It returns
``(state, out)``, i.e. (c, h); the inspector reads that from its return statement.
"""
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
    state = np.multiply(i, c) + np.multiply(previous_state, f)
    out = o * np.tanh(state)
    return state, out
