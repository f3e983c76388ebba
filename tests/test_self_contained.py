"""The repository carries its own science: no file sends a student to notes outside it."""
import re

from helpers.course import ROOT_DIR

OUTSIDE = re.compile(r"\.\./" + "shared|" + r"\bshared/" + "|papers" + r"\.md")
SUFFIXES = {".py", ".md", ".ipynb", ".txt", ".ini", ".toml", ".json", ".cfg"}


def test_no_file_points_outside_the_repository():
    skip = {".git", ".ci-venv", "venv", ".venv", ".pytest_cache", "__pycache__", "runs"}
    hits = []
    for path in ROOT_DIR.rglob("*"):
        if path.is_file() and path.suffix in SUFFIXES and not skip & set(path.relative_to(ROOT_DIR).parts):
            for n, line in enumerate(path.read_text(errors="ignore").splitlines(), 1):
                if OUTSIDE.search(line):
                    hits.append(f"{path.relative_to(ROOT_DIR)}:{n}: {line.strip()[:100]}")
    assert not hits, "these lines refer to notes outside the repository (use notebook 00):\n" + "\n".join(hits)
