"""The course's notebook conventions: .py/.ipynb pairs in sync, executed, one repository URL."""
import json

import jupytext
import pytest

from helpers.course import NOTEBOOKS_DIR, REPO_URL, repo_urls_in, rewrite_repo_url
from helpers.course import ROOT_DIR as ROOT

IPYNB = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
PY = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.py"))


def cells(path):
    nb = jupytext.read(path)
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_every_notebook_has_a_pair():
    assert IPYNB, "no notebooks found"
    assert [p.stem for p in IPYNB] == [p.stem for p in PY]


@pytest.mark.parametrize("ipynb", IPYNB, ids=lambda p: p.name)
def test_py_and_ipynb_in_sync(ipynb):
    assert cells(ipynb) == cells(ipynb.with_suffix(".py")), \
        f"{ipynb.name} and its .py differ: run `jupytext --sync notebooks/{ipynb.stem}.py`"


@pytest.mark.parametrize("ipynb", IPYNB, ids=lambda p: p.name)
def test_committed_notebook_is_executed(ipynb):
    nb = json.loads(ipynb.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), f"{ipynb.name} has unexecuted cells"
    counts = [c["execution_count"] for c in code]
    assert counts == sorted(counts), f"{ipynb.name} was not run top to bottom"
    assert not any(o.get("output_type") == "error" for c in code for o in c["outputs"])


@pytest.mark.parametrize("path", IPYNB + PY, ids=lambda p: p.name)
def test_one_repository_url(path):
    text = path.read_text()
    assert repo_urls_in(text) == {REPO_URL}, "run `python -m helpers.course --set-repo-url`"
    assert f"blob/main/notebooks/{path.stem}.ipynb" in text, "the Colab badge opens this notebook"


@pytest.mark.parametrize("path", PY, ids=lambda p: p.name)
def test_title_and_setup_cells(path):
    title, setup = [src for _, src in cells(path)[:2]]
    assert title.startswith("# ") and "Open in Colab" in title and "Run time" in title
    assert "*Instant path:*" in title and "*Train it yourself:*" in title
    assert len(setup.splitlines()) <= 16
    assert "pip install" not in path.read_text(), "Colab already has what the course needs"


def test_rewrite_repo_url():
    text = ("https://colab.research.google.com/github/a/b/blob/main/notebooks/x.ipynb\n"
            'REPO_URL = "https://github.com/a/b"')
    new = rewrite_repo_url(text, "https://github.com/c/d")
    assert repo_urls_in(new) == {"https://github.com/c/d"}


@pytest.mark.parametrize("path", [p for p in PY if not p.name.startswith("00")], ids=lambda p: p.name)
def test_checked_exercise_with_collapsed_solution(path):
    sources = [src for _, src in cells(path)]
    exercise = [i for i, src in enumerate(sources) if "E.check_" in src]
    assert len(exercise) >= 3, "every numbered notebook has at least three exercises with a checker from helpers.exercises"
    assert sum("<summary>Answer" in src for src in sources) >= 1, "and an open question with a folded answer"
    assert all("**Difficulty:**" in sources[i - 1] and "**Time:**" in sources[i - 1] for i in exercise), \
        "each exercise says how hard it is and how long it takes, in the cell before its code"
    for i in exercise:
        assert any(stub in sources[i] for stub in ("raise NotImplementedError", "= None", ": None")), "the student starts from a placeholder"
        assert "<details>" in sources[i + 1] and "Solution" in sources[i + 1], "a collapsed solution follows"


@pytest.mark.parametrize("path", PY, ids=lambda p: p.name)
def test_notebook_saves_its_course_map_thumbnail(path):
    assert f'save_thumbnail(' in path.read_text() and f'"{path.stem}")' in path.read_text()
    assert (ROOT / "data" / "figures" / f"{path.stem}.png").exists(), "execute the notebook to save it"
    assert f"data/figures/{path.stem}.png" in (ROOT / "README.md").read_text(), "the README's course map shows it"


@pytest.mark.parametrize("ipynb", IPYNB, ids=lambda p: p.name)
def test_saved_outputs_read_well_on_the_web(ipynb):
    """Progress bars leave one readable last line (no carriage-return history, no frozen tqdm
    widget), and every slider has a static figure beside it for readers of the saved page."""
    nb = json.loads(ipynb.read_text())
    for cell in (c for c in nb["cells"] if c["cell_type"] == "code"):
        for out in cell["outputs"]:
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            assert "\r" not in text, "execute with `python -m helpers.course --execute` to resolve progress bars"
            if "application/vnd.jupyter.widget-view+json" in out.get("data", {}):
                assert "it/s]" not in text and "%|" not in text, "a tqdm widget is frozen at its first state on the web"
        source = "".join(cell["source"])
        if "interactive_output(" in source or "widgets.interact(" in source:
            assert any("image/png" in out.get("data", {}) or out.get("output_type") == "stream"
                       for out in cell["outputs"]), "a slider cell also shows its default result as a static output"
