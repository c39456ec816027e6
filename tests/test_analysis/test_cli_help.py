"""Every tool in tools/analysis_tools answers ``--help`` when run as a script, as mmpose's do."""
from pathlib import Path

import pytest
from _cli_help import help_texts

ROOT = Path(__file__).resolve().parents[2]
# metafile.py is the tools' shared reader of the metafiles, not a command
TOOLS = sorted(f'tools/analysis_tools/{p.name}'
               for p in (ROOT / 'tools/analysis_tools').glob('*.py') if p.stem != 'metafile')


@pytest.fixture(scope='module')
def helps():
    return help_texts(TOOLS)


def test_the_tools_are_there():
    assert [Path(t).stem for t in TOOLS] == [
        'benchmark', 'gpu_check', 'model_table', 'onnx_latency', 'paper_tables',
        'runtime_benchmark', 'vis_attention'
    ]


@pytest.mark.parametrize('tool', TOOLS, ids=lambda t: Path(t).name)
def test_help(helps, tool):
    code, out = helps[tool]
    assert code == 0, out[-2000:]
    assert out.startswith(f'usage: {Path(tool).name} '), out[:300]
    # the description is the module docstring's first paragraph, not empty
    assert len(out.split('\n\n')[1].strip()) > 20, out[:500]
