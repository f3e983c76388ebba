"""Checkers for the notebooks' exercises: each tells a student whether an answer is right.

A checker takes the student's function or answer and prints a verdict. It returns True (right),
False (wrong: the message says what differs) or None (not attempted: the stub still raises
`NotImplementedError` or the answer is still `None`). The reference solutions live here too,
as `solution_*`, so that `tests/test_exercises.py` can prove every checker accepts a right
answer and rejects a wrong one; the notebooks show the same code in a collapsed cell.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .analysis import top_key_chain_offsets
from .course import DATA_DIR
from .data import make_chain_data
from .experiments import EVAL_SEED, PARALLEL_NODES, load_sweep

NOT_ATTEMPTED = "… not attempted yet: replace the placeholder, then run this cell again."


def _verdict(ok: bool, right: str, wrong: str) -> bool:
    print(("✅ " + right) if ok else ("❌ " + wrong))
    return ok


def _attempt(fn: Callable, *args):
    """(done, result) of calling the student's function; a stub is "not attempted"."""
    try:
        return True, fn(*args)
    except NotImplementedError:
        print(NOT_ATTEMPTED)
        return False, None


def _unanswered(answer) -> bool:
    if answer is None or (isinstance(answer, dict) and None in answer.values()):
        print(NOT_ATTEMPTED)
        return True
    return False


# ---------------------------------------------------------------------------------------------
# 01 · follow a chain
# ---------------------------------------------------------------------------------------------
def solution_follow_chain(pairs: list[tuple[int, int]], start: int, k: int) -> int:
    child = dict(pairs)
    node = start
    for _ in range(k):
        node = child[node]
    return node


def check_follow_chain(fn: Callable, n: int = 200) -> bool | None:
    """fn(pairs, start, k) -> the node k hops after start; checked on k = 1..4 questions."""
    for k in (1, 2, 3, 4):
        data = make_chain_data(n, k, "train", seed=123 + k)
        for row in range(n):
            tokens = data.inputs[row].tolist()
            pairs = list(zip(tokens[0:-1:2], tokens[1:-1:2]))
            done, got = _attempt(fn, pairs, tokens[-1], k)
            if not done:
                return None
            want = int(data.labels[row])
            if got != want:
                return _verdict(False, "", f"{k} hop(s) from {tokens[-1]} over pairs {pairs}: "
                                              f"you returned {got}, the answer is {want}")
    return _verdict(True, f"right on {4 * n} questions of 1-4 hops", "")


# ---------------------------------------------------------------------------------------------
# 02 · the matching matrix
# ---------------------------------------------------------------------------------------------
def solution_matching_matrix(model, tokens: torch.Tensor) -> torch.Tensor:
    e = model.embed.weight[tokens]
    return e @ model.W_qk(1) @ (e @ model.W_vo(0)).T


def check_matching_matrix(fn: Callable, model) -> bool | None:
    """fn(model, tokens) -> M_1 [len(tokens), len(tokens)], as `papers.md` defines it."""
    tokens = torch.arange(1, 100)
    with torch.no_grad():
        done, got = _attempt(fn, model, tokens)
        if not done:
            return None
        want = solution_matching_matrix(model, tokens)
    got = torch.as_tensor(got).detach().cpu()
    if got.shape != want.shape:
        return _verdict(False, "", f"shape {tuple(got.shape)}, expected {tuple(want.shape)} (rows u, columns v)")
    if torch.allclose(got, want.T, rtol=1e-4, atol=1e-4) and not torch.allclose(got, want, rtol=1e-4, atol=1e-4):
        return _verdict(False, "", "transposed: rows are the query token u, columns the key token v")
    ok = torch.allclose(got, want.cpu(), rtol=1e-4, atol=1e-4)
    return _verdict(ok, "matches M_1 = e_u W_qk1 (e_v W_vo0)^T",
                    f"largest difference {(got - want.cpu()).abs().max():.3g}; check which side W_vo0 goes on")


# ---------------------------------------------------------------------------------------------
# 03 · predict the init x LayerNorm grid
# ---------------------------------------------------------------------------------------------
def init_ln_outcomes(path=DATA_DIR / "init_ln_sweep.json", threshold: float = 0.95) -> dict:
    """(norm, gamma) -> True when every seed of the shipped sweep reached `threshold` test-ID."""
    runs = load_sweep(path)["runs"]
    cells = {}
    for r in runs:
        cells.setdefault((r["norm"], r["gamma"]), []).append(r["final"]["test_id"] >= threshold)
    return {cell: all(v) for cell, v in cells.items()}


def solution_init_ln_prediction() -> dict:
    return {("post", 1.0): True, ("post", 0.5): False, ("pre", 1.0): False}


def check_init_ln_prediction(answer: dict | None) -> bool | None:
    """answer: {(norm, gamma): True if every seed solves 1 hop in 800 steps, else False}."""
    if _unanswered(answer):
        return None
    truth = init_ln_outcomes()
    unknown = [cell for cell in answer if cell not in truth]
    if unknown:
        return _verdict(False, "", f"no such cell in the sweep: {unknown}; cells are {sorted(truth)}")
    wrong = [cell for cell, v in answer.items() if bool(v) != truth[cell]]
    return _verdict(not wrong, "every prediction matches the shipped sweep",
                    f"these differ from the sweep: {wrong}; look at section 2's grid again")


# ---------------------------------------------------------------------------------------------
# 04 · near-orthogonality
# ---------------------------------------------------------------------------------------------
def solution_offdiagonal_ratio(d: int, sigma: float, seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    xi = sigma * torch.randn(d, d, generator=g) / d ** 0.5
    gram = xi @ xi.T
    off = gram[~torch.eye(d, dtype=torch.bool)]
    return (off.abs().mean() / gram.diagonal().mean()).item()


def check_offdiagonal_ratio(fn: Callable) -> bool | None:
    """fn(d, sigma, seed) -> mean |off-diagonal| / mean diagonal of Xi Xi^T, Xi ~ N(0, sigma^2/d)."""
    values = {}
    for d in (16, 256):
        for sigma in (0.5, 2.0):
            done, got = _attempt(fn, d, sigma, 0)
            if not done:
                return None
            values[(d, sigma)] = float(got)
    expected = {d: np.sqrt(2 / np.pi) / np.sqrt(d) for d in (16, 256)}   # E|N(0,1)| / sqrt(d)
    off = [(d, s, v) for (d, s), v in values.items() if not 0.6 * expected[d] < v < 1.5 * expected[d]]
    if off:
        d, s, v = off[0]
        return _verdict(False, "", f"d={d}, sigma={s}: got {v:.3g}, expected about {expected[d]:.3g} "
                                   f"(about 0.8/sqrt(d), whatever sigma)")
    return _verdict(True, "about 0.8/√d for every σ: the ratio does not depend on σ", "")


# ---------------------------------------------------------------------------------------------
# 05 · where does layer 2 look on a 1-hop question?
# ---------------------------------------------------------------------------------------------
def layer2_offset_on_one_hop(model) -> int:
    """Most frequent chain offset (hops from the start) of layer 2's strongest key, 1-hop data."""
    data = make_chain_data(1000, 1, "test_id", seed=EVAL_SEED, n_nodes=PARALLEL_NODES, variant="with_order")
    last, _ = top_key_chain_offsets(model, data)
    values, counts = torch.unique(last[2][~torch.isnan(last[2])], return_counts=True)
    return int(values[counts.argmax()])


def check_layer2_prediction(answer: int | None, model) -> bool | None:
    """answer: how many hops from the start node is the key layer 2 attends to most often."""
    if _unanswered(answer):
        return None
    truth = layer2_offset_on_one_hop(model)
    return _verdict(int(answer) == truth, f"yes: {truth} (nothing is left to fetch, so it rests there)",
                    f"not {answer}; run A.top_key_chain_offsets on 1-hop data and look at layer 2")


# ---------------------------------------------------------------------------------------------
# 06 · peakiness
# ---------------------------------------------------------------------------------------------
def solution_peakiness(pattern: torch.Tensor, queries: torch.Tensor, keys: torch.Tensor) -> float:
    return (pattern[queries, keys] > 0.5).float().mean().item()


def check_peakiness(fn: Callable) -> bool | None:
    """fn(pattern [query, key], queries, keys) -> fraction of pattern[queries, keys] above 0.5."""
    g = torch.Generator().manual_seed(0)
    for trial in range(5):
        pattern = torch.softmax(torch.randn(12, 12, generator=g) * (trial + 1), dim=-1)
        queries = torch.arange(4, 12)
        keys = torch.randint(0, 12, (8,), generator=g)
        done, got = _attempt(fn, pattern, queries, keys)
        if not done:
            return None
        want = solution_peakiness(pattern, queries, keys)
        if abs(float(got) - want) > 1e-6:
            return _verdict(False, "", f"got {float(got):.3f}, expected {want:.3f}: take pattern[queries, keys] "
                                       "(one weight per query), not a whole row")
    return _verdict(True, "right on 5 random patterns", "")


# ---------------------------------------------------------------------------------------------
# 07 · which pretraining transfers best
# ---------------------------------------------------------------------------------------------
def fastest_pretraining(path=DATA_DIR / "iteration_sweep.json", threshold: float = 0.95) -> str:
    """"polynomial" or "copy": whose whole-model parity fine-tune reaches `threshold` sooner
    (median over seeds; a seed that never does counts as infinitely slow)."""
    runs = load_sweep(path)["runs"]

    def steps(run):
        step = run["history"].steps_to("test", threshold)
        return np.inf if step is None else step

    median = {pre: np.median([steps(r) for r in runs if r["kind"] == "finetune" and r["pretrain"] == pre
                              and r["mode"] == "all"]) for pre in ("polynomial", "copy")}
    return min(median, key=median.get)


def check_transfer_prediction(answer: str | None) -> bool | None:
    """answer: "polynomial" or "copy", the pretraining after which parity is learned fastest."""
    if _unanswered(answer):
        return None
    if answer not in ("polynomial", "copy"):
        return _verdict(False, "", f"answer={answer!r}: choose 'polynomial' or 'copy'")
    truth = fastest_pretraining()
    return _verdict(answer == truth, f"{truth}: its iteration head and its F-computing MLP both carry over",
                    f"the sweep says {truth}; compare the two pretrainings' curves in section 2")
