"""The Colab path of every notebook: its setup cell clones the course into a fresh folder, then
the import cell and the first analysis cell run against that clone, with nothing installed."""
import os
import subprocess
import sys

import jupytext
import pytest

from helpers.course import NOTEBOOKS_DIR, ROOT_DIR

NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))
CHECK = """
import helpers, pathlib
here = pathlib.Path(helpers.__file__).resolve()
assert here.is_relative_to(pathlib.Path.cwd() / "reasoning-circuits-course"), here
assert (helpers.DATA_DIR / "README.md").exists()
print("ok", here)
"""


def code_cells(path):
    return [c.source for c in jupytext.read(path).cells if c.cell_type == "code"]


def setup_cell(path):
    return code_cells(path)[0]


@pytest.mark.skipif(not (ROOT_DIR / ".git").exists(), reason="needs the course as a git repository")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_clones_and_imports_helpers_in_colab(path, tmp_path):
    env = {**os.environ, "COURSE_FORCE_COLAB": "1", "COURSE_REPO": str(ROOT_DIR), "PYTHONPATH": "",
           "MPLBACKEND": "Agg"}
    setup, imports, first_analysis = code_cells(path)[:3]
    program = "\n".join([setup, CHECK, imports, first_analysis, "print('first analysis cell ran')"])
    result = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "first analysis cell ran" in result.stdout
    assert (tmp_path / "reasoning-circuits-course" / "helpers").is_dir()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_installs_packages(path):
    """Colab already has torch, numpy, matplotlib, seaborn and ipywidgets: never reinstall them."""
    for source in code_cells(path):
        assert "pip install" not in source and "%pip" not in source and "!pip" not in source


@pytest.mark.parametrize("path", NOTEBOOKS[:1] + NOTEBOOKS[-1:], ids=lambda p: p.name)
def test_setup_cell_fails_clearly_when_the_clone_fails(path, tmp_path):
    """A bad COURSE_REPO gives an error that names REPO_URL, COURSE_REPO and what to do, not a bare
    ModuleNotFoundError."""
    env = {**os.environ, "COURSE_FORCE_COLAB": "1", "COURSE_REPO": str(tmp_path / "no-such-repo"),
           "PYTHONPATH": "", "GIT_TERMINAL_PROMPT": "0"}
    result = subprocess.run([sys.executable, "-c", setup_cell(path)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("RuntimeError: could not clone the course"), last
    for words in ("no-such-repo", "REPO_URL", "COURSE_REPO", "internet access"):
        assert words in last, (words, last)
