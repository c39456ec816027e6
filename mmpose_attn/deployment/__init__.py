"""Deployment: ONNX export of the tensor forward and an ONNX Runtime backend (:mod:`.onnx`).

Nothing is imported eagerly: ``onnx`` and ``onnxruntime`` are optional extras.
"""
