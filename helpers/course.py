"""Course-wide constants. The repository URL lives here and nowhere else in the code.

Notebooks need the URL before `helpers` can be imported (the Colab setup cell clones the
repository), so they carry a copy; `tests/test_notebooks_sync.py` fails when a notebook's copy
differs from `REPO_URL`. To move the course, change `REPO_URL` and run
`python -m helpers.course --set-repo-url` to rewrite the notebooks.
"""
from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

REPO_URL = "https://github.com/reasoning-circuits/reasoning-circuits-course"

ROOT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT_DIR / "data"
NOTEBOOKS_DIR = ROOT_DIR / "notebooks"

# A GitHub repository URL as it appears in a notebook's badge or setup cell.
REPO_URL_PATTERN = re.compile(r"https://github\.com/[\w.-]+/[\w.-]+?(?=[/\"'\s)]|\.git|$)")
COLAB_PATTERN = re.compile(r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/")


def repo_urls_in(text: str) -> set[str]:
    """Every repository URL a notebook mentions, in clone form or in its Colab badge."""
    urls = set(REPO_URL_PATTERN.findall(text))
    urls |= {f"https://github.com/{slug}" for slug in COLAB_PATTERN.findall(text)}
    return urls


def rewrite_repo_url(text: str, new_url: str = REPO_URL) -> str:
    slug = new_url.removeprefix("https://github.com/")
    text = COLAB_PATTERN.sub(f"colab.research.google.com/github/{slug}/", text)
    return REPO_URL_PATTERN.sub(new_url, text)


def execute_notebook(path: str | Path, timeout: int = 900) -> Path:
    """Sync `path` from its jupytext .py, execute it top to bottom in its own folder, and save it
    with each cell's output streams merged and carriage returns resolved, so that a progress bar
    leaves one readable last line on the web (nbconvert's --execute merges streams *before* it
    executes, which leaves every intermediate bar state in the file)."""
    import jupytext
    import nbformat
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor, ExecutePreprocessor

    path = Path(path).with_suffix(".ipynb")
    source = path.with_suffix(".py")
    nb = jupytext.read(source)
    nb.metadata.setdefault("kernelspec", {"display_name": "Python 3 (ipykernel)", "language": "python",
                                          "name": "python3"})
    ExecutePreprocessor(timeout=timeout, startup_timeout=120, kernel_name="python3").preprocess(nb, {"metadata": {"path": str(path.parent)}})
    CoalesceStreamsPreprocessor().preprocess(nb, {})
    jupytext.write(nb, path, fmt="ipynb")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set-repo-url", action="store_true",
                        help="rewrite every notebook (.py and .ipynb) to use REPO_URL")
    parser.add_argument("--execute", nargs="+", metavar="NOTEBOOK", type=Path,
                        help="sync each notebook from its .py, execute it, save it with readable outputs")
    args = parser.parse_args()
    if args.execute:
        for path in args.execute:
            start = time.perf_counter()
            execute_notebook(path)
            print(f"executed {path} in {time.perf_counter() - start:.0f} s")
    elif args.set_repo_url:
        for path in sorted(NOTEBOOKS_DIR.glob("[0-9]*.*")):
            if path.suffix in {".py", ".ipynb"}:
                path.write_text(rewrite_repo_url(path.read_text()))
                print("rewrote", path.name)
    else:
        print(REPO_URL)


if __name__ == "__main__":
    main()
