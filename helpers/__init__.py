"""Helpers for the reasoning-circuits course: data, model, training, analysis, plots.

Notebooks import from here so that they stay short and readable.
"""
from .course import REPO_URL, DATA_DIR, NOTEBOOKS_DIR, ROOT_DIR

__all__ = ["REPO_URL", "DATA_DIR", "NOTEBOOKS_DIR", "ROOT_DIR"]
