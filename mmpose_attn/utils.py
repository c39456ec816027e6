"""Small helpers shared by tools and tests."""
import os.path as osp

from mmengine.config import Config


def load_config(path: str) -> Config:
    """Load a config file, also accepting ``<package>::<path>`` for the configs bundled with an
    OpenMMLab package (``mmpose::body_2d_keypoint/...``, ``mmdet::rtmdet/...``).

    ``Config.fromfile`` resolves that prefix only inside ``_base_``; this resolves it at top level too,
    without the network access of ``mmengine.hub.get_config``.
    """
    if '::' in path:
        package, rel = path.split('::', 1)
        module = __import__(package)
        path = osp.join(osp.dirname(module.__file__), '.mim', 'configs', rel)
        if not osp.isfile(path):
            raise FileNotFoundError(f'{package!r} bundles no config {rel!r} (looked at {path})')
    return Config.fromfile(path)
