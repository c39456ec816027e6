"""The papers' numbers, read from the model-index metafiles next to the configs."""
import os.path as osp
from typing import Dict, List, Optional

import yaml

import mmpose_attn

_PKG = osp.dirname(osp.abspath(mmpose_attn.__file__))
#: Checkout root (editable install / source tree); ``.mim`` inside the package when installed.
REPO_ROOT = osp.dirname(_PKG)
#: Metafiles of mmpose configs the papers compare with (not this plugin's models).
BASELINE_METAFILES = ('configs/esam/baselines.yml', 'configs/samkr/baselines.yml')


def metafile_root() -> str:
    """The folder holding ``model-index.yml`` and ``configs/``."""
    for root in (REPO_ROOT, osp.join(_PKG, '.mim')):
        if osp.isfile(osp.join(root, 'model-index.yml')):
            return root
    raise FileNotFoundError(f'model-index.yml is neither in {REPO_ROOT} nor in {_PKG}/.mim; '
                            'reinstall mmpose_attn (pip install -e .)')


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
