"""Functions that fail in the ways user code fails: raise, return the wrong shape, never return,
crash the interpreter, print to stdout."""
import os

import numpy as np


def helper(z):
    return z / 0 if np.ndim(z) > 5 else z["gates"]   # an IndexError-like mistake in user code


def raises(x, kernel, recurrent_kernel, bias):
    z = x @ kernel
    return helper(z)


def wrong_shape(x, kernel, recurrent_kernel, bias):
    return x @ kernel            # (T, 4H), not (T, H)


def never_returns(x, kernel, recurrent_kernel, bias):
    while True:
        pass


def crashes(x, kernel, recurrent_kernel, bias):
    os._exit(3)


def chatty(x, kernel, recurrent_kernel, bias):
    print("debug: my port starts")
    H = recurrent_kernel.shape[0]
    return np.zeros((len(x), H))


def list_of_steps(x, kernel, recurrent_kernel, bias):
    from planted import _run

    return [h for h in _run(x, kernel, recurrent_kernel, bias, return_c=False)]   # T arrays (H,)


def three_values(x, kernel, recurrent_kernel, bias):
    H = recurrent_kernel.shape[0]
    return np.zeros((len(x), H)), np.zeros(H), np.zeros(H)     # Keras's return_state habit
