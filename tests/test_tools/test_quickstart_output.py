"""tools/quickstart.sh with an output folder it cannot write (a read-only checkout for the
default work_dirs/quickstart, a file in the way): one clear message naming the folder and how to
choose another, before any step. Root ignores write bits, so a file stands where the folder goes
(the same failure as a read-only file system: mkdir fails)."""
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HOW = ('Choose a folder you can write to as the first argument, e.g. bash tools/quickstart.sh '
       '/tmp/quickstart')


def _quickstart(script: Path, *args, cwd: Path):
    env = dict(
        os.environ,
        MMPOSE_ATTN_NO_INSTALL='1',
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get('PYTHONPATH')])))
    return subprocess.run(['bash', str(script), *args],
                          cwd=cwd,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=120)


def test_output_folder_argument_that_cannot_be_written(tmp_path):
    (tmp_path / 'blocker').write_text('')
    # a relative OUT_DIR is the caller's, not a folder inside the checkout
    proc = _quickstart(REPO / 'tools/quickstart.sh', 'blocker/qs', cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr == (f'quickstart: cannot write to the output folder {tmp_path}/blocker/qs '
                           f'(Not a directory).\n{HOW}\n')
    assert '== 1/4' not in proc.stdout
    proc = _quickstart(REPO / 'tools/quickstart.sh', str(tmp_path / 'blocker'), cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr == (
        f'quickstart: cannot write to the output folder {tmp_path}/blocker (it is a file, not a '
        f'folder).\n{HOW}\n')


def test_default_output_folder_in_a_checkout_that_cannot_be_written(tmp_path):
    """The script itself in a checkout copy whose work_dirs cannot hold folders (set-up step
    left out: it checks the installed package of the real checkout)."""
    text = (REPO / 'tools/quickstart.sh').read_text()
    assert text.count('. tools/ensure_installed.sh\n') == 1
    (tmp_path / 'tools').mkdir()
    script = tmp_path / 'tools' / 'quickstart.sh'
    script.write_text(text.replace('. tools/ensure_installed.sh\n', 'PY=python3\n'))
    (tmp_path / 'work_dirs').write_text('')
    proc = _quickstart(script, cwd=REPO)
    assert proc.returncode == 1 and proc.stderr == (
        f'quickstart: cannot write to the output folder {tmp_path}/work_dirs/quickstart (Not a '
        f'directory).\n{HOW}\n'), proc.stderr
    assert proc.stdout == ''
