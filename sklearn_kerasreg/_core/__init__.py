"""The training core: from a fit's parameters and data to trained, folded weights.

Backend-neutral, and below the scikit-learn surface (``_estimator``), which
calls its steps in order: ``plan`` decides the schedule, ``data`` and
``whitening`` prepare the data, ``models`` and ``network`` build the Keras
network, ``programs`` and ``engine`` train it (with ``stop_rule``), and
``diagnosis`` says how good the fit is. Only ``engine`` reaches down, to the
compiled loop of the running backend (``_backends``).
"""
