"""Each Keras backend's compiled training loop, behind one interface, and the runtime they share.

The bottom layer: ``runtime`` picks the loop of the running backend
(``tensorflow_loop`` or ``jax_loop``) and scopes float64 and thread pools.
Nothing here imports from the rest of the package except the version shims
in ``_fixes``; backend-neutral training logic stays in ``_core``.
"""
