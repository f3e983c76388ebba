"""The Colab path of every notebook's setup cell: clone the course, then import helpers from it."""
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


def setup_cell(path):
    code = [c.source for c in jupytext.read(path).cells if c.cell_type == "code"]
    return code[0]


@pytest.mark.skipif(not (ROOT_DIR / ".git").exists(), reason="needs the course as a git repository")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_clones_and_imports_helpers_in_colab(path, tmp_path):
    env = {**os.environ, "COURSE_FORCE_COLAB": "1", "COURSE_REPO": str(ROOT_DIR), "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-c", setup_cell(path) + "\n" + CHECK], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "reasoning-circuits-course" / "helpers").is_dir()
    assert "pip" not in setup_cell(path)
