"""The README and the docs pages: size limits and links that resolve."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md')), *sorted(
        (ROOT / 'configs').glob('*/README.md'))
]
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


def test_every_docs_page_is_linked_from_the_readme():
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    linked = {(ROOT / t.partition('#')[0]).resolve() for t in LINK.findall(readme)}
    missing = [p.name for p in sorted((ROOT / 'docs').glob('*.md')) if p.resolve() not in linked]
    assert not missing, f'docs pages the README does not link: {missing}'


@pytest.mark.parametrize('page', PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_user_docs_name_no_paths_outside_the_repository(page):
    text = page.read_text(encoding='utf-8')
    assert '../shared' not in text and '/work/' not in text, page.relative_to(ROOT)


# --- generated pages ----------------------------------------------------------------------------
def test_model_table_lists_every_shipped_config():
    """docs/model_table.md has one row per config the tool covers (cheap: no model is built)."""
    import model_table  # tools/analysis_tools, on pytest.ini's pythonpath
    rows = re.findall(r'^\| `([^`]+)` \|', (ROOT / 'docs/model_table.md').read_text(), re.M)
    assert rows == [Path(p).stem for p in model_table.expand([])]


@pytest.mark.slow
def test_model_table_page_is_what_the_tool_prints_now(tmp_path, capsys):
    """docs/model_table.md equals a fresh run of its generator (every config, FLOPs included)."""
    import model_table
    out = tmp_path / 'model_table.md'
    model_table.main(['--markdown', '--out', str(out)])
    fresh = out.read_text().replace(str(out), 'docs/model_table.md')
    assert fresh == (ROOT / 'docs/model_table.md').read_text(), (
        'docs/model_table.md is stale: python tools/analysis_tools/model_table.py --markdown '
        '--out docs/model_table.md')


# --- the README's commands ----------------------------------------------------------------------
def _readme_commands(blocks: int = 2) -> list:
    """The commands of the README's first ``blocks`` code blocks, continuation lines joined."""
    text = (ROOT / 'README.md').read_text(encoding='utf-8')
    commands = []
    for block in re.findall(r'^```(?:bash|shell)\n(.*?)^```', text, re.S | re.M)[:blocks]:
        for line in block.replace('\\\n', ' ').splitlines():
            line = line.split(' #')[0].strip()
            if line and not line.startswith('#'):
                commands.append(line.split())
    return commands


def test_readme_first_blocks_hold_commands():
    tools = [c[1] for c in _readme_commands() if c[0] in ('python', 'bash')]
    assert 'tools/quickstart.sh' in tools and 'tools/run_tests.sh' in tools
    assert any(t.endswith('_demo.py') or 'demo_with_mmdet' in t for t in tools)


def test_readme_commands_parse():
    """Shell scripts pass ``bash -n``, python tools answer ``--help`` (in one interpreter start),
    ``mim`` knows the subcommand; the config files named exist."""
    import subprocess
    import sys

    from _cli_help import help_texts
    commands, failed = _readme_commands(), []
    for command in commands:
        failed += [
            f'{" ".join(command)}: no file {a}' for a in command[1:]
            if a.startswith('configs/') and not (ROOT / a).is_file()
        ]
        if command[0] == 'bash':
            proc = subprocess.run(['bash', '-n', command[1]], cwd=ROOT, capture_output=True)
            failed += [f'bash -n {command[1]}: {proc.stderr}'] if proc.returncode else []
        elif command[0] == 'mim':
            proc = subprocess.run([sys.executable, '-m', 'mim', command[1], '--help'],
                                  cwd=ROOT,
                                  capture_output=True,
                                  text=True,
                                  timeout=300)
            failed += [f'mim {command[1]} --help: {proc.stderr[-500:]}'] if proc.returncode else []
        elif command[0] != 'python':
            failed.append(f'README command of an unknown kind: {" ".join(command)}')
    tools = sorted({c[1] for c in commands if c[0] == 'python'})
    for tool, (code, out) in help_texts(tools).items():
        if code != 0 or not out.startswith('usage: '):
            failed.append(f'python {tool} --help: exit {code}: {out[-500:]}')
    assert len(tools) >= 3 and not failed, failed


# --- troubleshooting.md's quoted messages -------------------------------------------------------
# As the page's top says: the first column quotes messages in backticks; `<...>` marks a value the
# code fills in, `...` text left out; a bracketed package name after a quote says who prints it.
QUOTE = re.compile(r'(`+)\s?(.+?)\s?\1')
CUT = re.compile(r'<[^<>]*>|\.\.\.|\u2026|: ')
ORIGIN = re.compile(r'`\s*\(([a-z_]+)\)')


def _troubleshooting_quotes() -> list:
    """``(row's quote, origin package or None)`` of every row of the table."""
    quotes = []
    for line in (ROOT / 'docs/troubleshooting.md').read_text(encoding='utf-8').splitlines():
        if not line.startswith('| ') or line.startswith(('| message', '|---')):
            continue
        cell = line.split(' | ')[0][2:]
        origin = ORIGIN.search(cell)
        quotes += [(q, origin.group(1) if origin else None) for _, q in QUOTE.findall(cell)]
    return quotes


def _pieces(quote: str) -> list:
    pieces = [p.strip().strip('();,.').strip() for p in CUT.split(quote)]
    return [p for p in pieces if len(p) >= 4]


def _literals(folders) -> str:
    """Every string literal of the Python files under ``folders`` (implicitly joined literals and
    the literal parts of f-strings as the parser joins them), one per line."""
    import ast
    found = []
    for folder in folders:
        for path in sorted(folder.rglob('*.py')):
            for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.append(node.value)
    return '\n\n'.join(found)


def _package_text(name: str):
    """Source text (string literals split over lines joined again) and compiled-library files of
    an installed package (stdlib included)."""
    import importlib.util
    spec = importlib.util.find_spec(name)
    folder = Path(spec.origin).parent
    text = '\n'.join(p.read_text(encoding='utf-8', errors='replace') for p in folder.rglob('*.py'))
    text = re.sub(r'''["']\s*\n\s*[fFrRbB]?["']''', '', text)
    return text, [p for p in folder.rglob('*.so*') if p.is_file()]


def test_troubleshooting_quotes_follow_the_convention():
    quotes = _troubleshooting_quotes()
    assert len(quotes) >= 15 and all(_pieces(q) for q, _ in quotes), quotes


def test_troubleshooting_quotes_occur_in_the_code():
    ours = _literals([ROOT / 'mmpose_attn', ROOT / 'tools'])
    ours += ''.join(p.read_text(encoding='utf-8') for p in sorted((ROOT / 'tools').rglob('*.sh')))
    pending = {}  # origin -> [(piece, quote)] not found in the Python sources
    for quote, origin in _troubleshooting_quotes():
        for piece in _pieces(quote):
            if origin is None and piece not in ours:
                pending.setdefault('mmpose_attn, tools', []).append((piece, quote))
            elif origin is not None:
                pending.setdefault(origin, []).append((piece, quote))
    missing = pending.pop('mmpose_attn, tools', [])
    for origin, pieces in pending.items():
        text, libs = _package_text(origin)
        left = [(p, q) for p, q in pieces if p not in text]
        for lib in libs if left else []:  # messages of compiled code: each library read once
            data = lib.read_bytes()
            left = [(p, q) for p, q in left if p.encode() not in data]
        missing += left
    missing = [f'{p!r} of `{q}`' for p, q in missing]
    assert not missing, 'quoted in docs/troubleshooting.md but not in the code: ' + '; '.join(
        missing)
