"""Course-wide constants. The repository URL lives here and nowhere else in the code.

Notebooks need the URL before `helpers` can be imported (the Colab setup cell clones the
repository), so they carry a copy; `tests/test_notebooks_sync.py` fails when a notebook's copy
differs from `REPO_URL`. To move the course, change `REPO_URL` and run
`python -m helpers.course --set-repo-url` to rewrite the notebooks.
"""
from __future__ import annotations

import argparse
import re
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--set-repo-url", action="store_true",
                        help="rewrite every notebook (.py and .ipynb) to use REPO_URL")
    args = parser.parse_args()
    if args.set_repo_url:
        for path in sorted(NOTEBOOKS_DIR.glob("[0-9]*.*")):
            if path.suffix in {".py", ".ipynb"}:
                path.write_text(rewrite_repo_url(path.read_text()))
                print("rewrote", path.name)
    else:
        print(REPO_URL)


if __name__ == "__main__":
    main()
