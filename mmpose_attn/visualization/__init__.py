"""Analysis helpers (paper numbers from the metafiles, parameter/FLOP tables, attention maps).

Submodules are imported on use (``from mmpose_attn.analysis import model_table``) so that
importing this package stays light.
"""
