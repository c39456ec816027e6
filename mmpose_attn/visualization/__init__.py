"""Drawing helpers that work after ``pip install``: ESAM's and SAMKR's attention maps
(:mod:`mmpose_attn.visualization.attention_maps`; the command line is
``tools/analysis_tools/vis_attention.py``).

Submodules are imported on use (``from mmpose_attn.visualization import attention_maps``) so that
importing this package stays light.
"""
