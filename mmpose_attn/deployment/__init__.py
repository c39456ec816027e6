"""Deployment: ONNX export of the tensor forward and an ONNX Runtime backend (:mod:`.onnx`), and
preparing a model for fast CPU inference in PyTorch (:mod:`.cpu_inference`).

Nothing is imported eagerly: ``onnx`` and ``onnxruntime`` are optional extras.
"""
