"""Deployment, in layers without a circle: :mod:`.metadata` (what an exported file says about
itself), :mod:`.base` (a network forward under mmpose's decoding, and the checks of a file; imports
no backend), :mod:`.onnxruntime_backend` and :mod:`.openvino_backend` (one runtime each, on the
base), :mod:`.runtime` (the one entry point: backends, precisions, ``use_backend``),
:mod:`.export` (ONNX export) and :mod:`.cpu_inference` (fast CPU inference in PyTorch).

Nothing is imported eagerly: ``onnx``, ``onnxruntime`` and ``openvino`` are optional extras.
"""
