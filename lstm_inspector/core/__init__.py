"""NumPy (+h5py) only: weights, model, reference forward pass, trace, comparison. No Qt, TF or torch."""
