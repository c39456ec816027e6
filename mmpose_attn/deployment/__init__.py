"""Deployment: ONNX export and ONNX Runtime (:mod:`.onnx`), OpenVINO (:mod:`.openvino`), and the
backend/precision switch that runs any of them (or PyTorch in bf16) under mmpose's decoding
(:mod:`.runtime`).

Nothing is imported eagerly: ``onnx``, ``onnxruntime`` and ``openvino`` are optional extras.
"""
