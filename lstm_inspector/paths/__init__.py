"""Paths: every way of running the model that yields a Trace, in one registry (``registry``),
one module per kind (reference, oracle, reading, library, impl, outputs, exported); the user's
own function (``user_impl``, ``impl_child``) and the diagnosis of a path (``diagnosis``)."""
