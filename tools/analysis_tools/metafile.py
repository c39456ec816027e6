"""The papers' numbers, read from the model-index metafiles next to the configs.

Shared by the tools in this folder, which import it as a sibling module (``from metafile import
...``): Python puts a script's folder first on ``sys.path`` when it runs
``python tools/analysis_tools/X.py``, and the tests reach it through pytest.ini's ``pythonpath``.
"""
import os.path as osp
from typing import Dict, List, Optional

import yaml

#: The checkout these tools belong to (they read its configs/ and model-index.yml).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: Metafiles of mmpose configs the papers compare with (not this plugin's models).
BASELINE_METAFILES = ('configs/esam/baselines.yml', 'configs/samkr/baselines.yml')


def metafile_root() -> str:
    """The folder holding ``model-index.yml`` and ``configs/``."""
    if osp.isfile(osp.join(REPO_ROOT, 'model-index.yml')):
        return REPO_ROOT
    raise FileNotFoundError(f'model-index.yml is not in {REPO_ROOT}: these tools run from a '
                            'checkout of mmpose_attn (git clone)')


def load_models(root: Optional[str] = None, baselines: bool = True) -> List[dict]:
    """Every ``Models`` entry of the metafiles that ``model-index.yml`` imports (and of the
    baseline metafiles), as plain dicts."""
    root = root or metafile_root()
    with open(osp.join(root, 'model-index.yml')) as f:
        files = list(yaml.safe_load(f)['Import'])
    if baselines:
        files += [p for p in BASELINE_METAFILES if osp.isfile(osp.join(root, p))]
    models = []
    for rel in files:
        with open(osp.join(root, rel)) as f:
            doc = yaml.safe_load(f)
        if not doc or not doc.get('Models'):
            raise ValueError(f'{osp.join(root, rel)}: no "Models" list')
        models += doc['Models']
    return models


def paper_numbers(root: Optional[str] = None) -> Dict[str, dict]:
    """``{config name without .py: dict(params_m, gflops, ap, table, results)}``.

    ``ap`` is the first result's AP (the table the entry names first), in percent as the papers
    print it; ``params_m`` / ``gflops`` are ``None`` where the paper gives none.
    """
    out = {}
    for m in load_models(root):
        meta = m.get('Metadata', {})
        results = m.get('Results', [])
        ap = next((r['Metrics']['AP'] for r in results if 'AP' in r.get('Metrics', {})), None)
        params, flops = meta.get('Parameters'), meta.get('FLOPs')
        out[m['Name']] = dict(
            config=m['Config'],
            params_m=None if params is None else params / 1e6,
            gflops=None if flops is None else flops / 1e9,
            ap=None if ap is None else round(ap * 100, 1),
            table=meta.get('Paper Table', ''),
            inference_ms=meta.get('Inference Time (ms)'),
            results=results)
    return out
