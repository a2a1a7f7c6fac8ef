"""File formats in, canonical objects out. Never executes anything a file contains."""
