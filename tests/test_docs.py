"""The README and the docs pages: size limits and links that resolve."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md')),
         *sorted((ROOT / 'configs').glob('*/README.md'))]
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


def _anchors(page: Path) -> set:
    """GitHub's heading anchors of a Markdown page (outside code blocks)."""
    anchors, code = set(), False
    for line in page.read_text(encoding='utf-8').splitlines():
        if line.startswith('```'):
            code = not code
        elif not code and line.startswith('#'):
            title = line.lstrip('#').strip().lower()
            anchors.add(re.sub(r'[^\w\- ]', '', title).replace(' ', '-'))
    return anchors


def test_readme_fits_on_a_page():
    text = (ROOT / 'README.md').read_text(encoding='utf-8')
    assert len(text.splitlines()) <= 200
    assert len(text.encode()) <= 12 * 1024
    assert len(list((ROOT / 'docs').glob('*.md'))) >= 4


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_local_links_resolve(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding='utf-8')):
        if re.match(r'[a-z]+://', target) or target.startswith('mailto:'):
            continue
        path, _, anchor = target.partition('#')
        # a leading '/' is the repository root, as on GitHub (mmpose's READMEs link so)
        base = ROOT if path.startswith('/') else page.parent
        dest = (base / path.lstrip('/')).resolve() if path else page
        if not dest.exists():
            broken.append(f'{target} (no such file)')
        elif anchor and dest.suffix == '.md' and anchor not in _anchors(dest):
            broken.append(f'{target} (no heading #{anchor})')
    assert not broken, f'{page.relative_to(ROOT)}: broken links: {broken}'
