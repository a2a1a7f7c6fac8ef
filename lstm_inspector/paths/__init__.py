"""Paths the user brings: their own function (``user_impl``), and the diagnosis of a path."""
