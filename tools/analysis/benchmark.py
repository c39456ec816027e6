"""Forward-pass and end-to-end speed of our models next to the stock mmpose models they extend,
and of every backend against PyTorch fp32. A thin CLI over :mod:`mmpose_attn.analysis.benchmark`
(pairs and method described there).

Usage::

    python tools/analysis/benchmark.py                      # everything (minutes on 2 cores)
    python tools/analysis/benchmark.py --pairs esam-r50 --td-batches 1 8 --repeats 5
    python tools/analysis/benchmark.py --pairs samkr-w32 --bu-shape 256 256 --bu-batches 1
    python tools/analysis/benchmark.py --pairs none --predict-batch 8   # predict only
    # backends of each model, interleaved with PyTorch fp32, then end to end over real images
    python tools/analysis/benchmark.py --pairs esam-r50 samkr-w32 --td-batches 8 --bu-batches 1 \\
        --backends pytorch pytorch-bf16 onnxruntime openvino --device cpu \\
        --e2e-images data/coco/val2017_subset --bbox-file person_detections.json
"""
from mmpose_attn.analysis.benchmark import main

if __name__ == '__main__':
    main()
