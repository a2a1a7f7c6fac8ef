"""A CuDNNGRU port written the way the forum's author wrote ``NewLSTM`` (forum_newlstm.py): the
stored arrays multiplied as they come (``x @ kernel``, ``h @ recurrent_kernel``), Keras's block
order z, r, h, both bias halves, and the reset gate after the recurrent product as CuDNNGRU
does. It runs the whole sequence itself (the tool's step form passes an LSTM's (h, c)); on a
CuDNNGRU file its only fault is the layout: cuDNN reads each gate block as
``block.reshape(H, in)`` and computes ``R_g @ h``.
"""
import numpy as np


def sigmoide_np(x):
    return 1 / (1 + np.exp(-x))


def NewGRU(x, kernel, recurrent_kernel, Bias, units=2):
    previous_output = np.zeros((1, units))
    outputs = []
    for frame in x:
        k_gates = np.dot(np.array([frame]), kernel)
        kr_gates = np.dot(previous_output, recurrent_kernel)
        b_in, b_rec = Bias[:(units * 3)], Bias[(units * 3):]
        z = sigmoide_np(k_gates[:, :units] + kr_gates[:, :units] + b_in[:units] + b_rec[:units])
        r = sigmoide_np(k_gates[:, units:(units * 2)] + kr_gates[:, units:(units * 2)]
                        + b_in[units:(units * 2)] + b_rec[units:(units * 2)])
        hh = np.tanh(k_gates[:, (units * 2):] + b_in[(units * 2):]
                     + r * (kr_gates[:, (units * 2):] + b_rec[(units * 2):]))
        out = z * previous_output + (1 - z) * hh
        outputs.append(out[0])
        previous_output = out
    return np.array(outputs)
