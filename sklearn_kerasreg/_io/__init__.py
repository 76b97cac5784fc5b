"""Input and output beside the estimator: saved estimators, ONNX export and the built-in data.

These use the scikit-learn surface and the core; nothing below imports them.
"""
