"""Deployment: ONNX export and ONNX Runtime (:mod:`.onnx`), OpenVINO (:mod:`.openvino`), the
backend/precision switch that runs any of them (or PyTorch in bf16) under mmpose's decoding
(:mod:`.runtime`), and preparing a model for fast CPU inference in PyTorch (:mod:`.cpu_inference`).

Nothing is imported eagerly: ``onnx``, ``onnxruntime`` and ``openvino`` are optional extras.
"""
