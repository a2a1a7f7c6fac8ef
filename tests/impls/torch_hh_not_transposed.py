"""A NumPy port of a PyTorch ``nn.LSTM`` checkpoint written from the equations in torch's docs,
gate by gate: ``i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)``... but the recurrent products are
written ``h @ W_hi`` with each (H, H) block not transposed, which runs without an error."""
import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def forward(x, weight_ih, weight_hh, bias_ih, bias_hh):
    W_ii, W_if, W_ig, W_io = np.split(weight_ih, 4)
    W_hi, W_hf, W_hg, W_ho = np.split(weight_hh, 4)
    b_ii, b_if, b_ig, b_io = np.split(bias_ih, 4)
    b_hi, b_hf, b_hg, b_ho = np.split(bias_hh, 4)
    H = W_hi.shape[0]
    h, c = np.zeros(H), np.zeros(H)
    out = []
    for x_t in x:
        i = sigmoid(W_ii @ x_t + b_ii + h @ W_hi + b_hi)
        f = sigmoid(W_if @ x_t + b_if + h @ W_hf + b_hf)
        g = np.tanh(W_ig @ x_t + b_ig + h @ W_hg + b_hg)
        o = sigmoid(W_io @ x_t + b_io + h @ W_ho + b_ho)
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.array(out)
