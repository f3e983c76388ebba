"""Checkers for the notebooks' exercises: each tells a student whether an answer is right.

A checker takes the student's function or answer and prints a verdict. It returns True (right),
False (wrong: the message says what differs) or None (not attempted: the stub still raises
`NotImplementedError` or the answer is still `None`). The reference solutions live here too,
as `solution_*`, so that `tests/test_exercises.py` can prove every checker accepts a right
answer and rejects a wrong one; the notebooks show the same code in a collapsed cell.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

import numpy as np
import torch

from .analysis import iteration_head_targets, top_key_chain_offsets
from .course import DATA_DIR
from .data import EOI, make_chain_data, make_iteration_data, with_pairs_reordered
from .experiments import EVAL_SEED, ITER_MODEL, PARALLEL_NODES, largest_hops_solved, load_sweep
from .sliders import noise_steps_to_solve
from .train import History, make_model

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
# 01 · the datasets: follow a chain, the OOD shift, iteration sequences
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


def _fresh_seed() -> int:
    """A new seed on every call: a checker tests on inputs nobody has seen before."""
    return int(np.random.default_rng().integers(2 ** 31))


# 01 · predict: which tokens of a test-OOD question are in-distribution?
OOD_TOKEN_KEYS = ("id_tokens_1hop", "id_tokens_2hops", "start_is_id_1hop")


def ood_question_facts(n: int = 500, seed: int | None = None) -> dict:
    """Measured on fresh test-OOD questions: how many distinct ID tokens (1..99) each 1-hop and
    2-hop question holds (one number if every question agrees, else the sorted values seen), and
    whether every 1-hop start token is ID."""
    seed = _fresh_seed() if seed is None else seed
    facts = {}
    for hops, key in ((1, "id_tokens_1hop"), (2, "id_tokens_2hops")):
        data = make_chain_data(n, hops, "test_ood", seed=seed)
        counts = sorted({len({t for t in row if t <= 99}) for row in data.inputs.tolist()})
        facts[key] = counts[0] if len(counts) == 1 else counts
        if hops == 1:
            facts["start_is_id_1hop"] = bool((data.inputs[:, -1] <= 99).all())
    return facts


def check_ood_tokens_prediction(answer: dict | None) -> bool | None:
    """answer: {"id_tokens_1hop": int, "id_tokens_2hops": int, "start_is_id_1hop": bool}."""
    if _unanswered(answer):
        return None
    unknown = sorted(set(answer) - set(OOD_TOKEN_KEYS))
    missing = sorted(set(OOD_TOKEN_KEYS) - set(answer))
    if unknown or missing:
        return _verdict(False, "", f"use exactly the keys {list(OOD_TOKEN_KEYS)} (unknown: {unknown}, missing: {missing})")
    truth = ood_question_facts()
    why = {"id_tokens_1hop": "the answer and its parent are shifted; for 1 hop the parent is the start token itself",
           "id_tokens_2hops": "only the answer and its parent (the middle node) are shifted, wherever they occur",
           "start_is_id_1hop": "for 1 hop the start token is the answer's parent, so it is shifted too"}
    wrong = [key for key in OOD_TOKEN_KEYS if answer[key] != truth[key]]
    return _verdict(not wrong, f"right on fresh data: {truth}. Only two tokens of an OOD question are ID: "
                               "a coin flip between them scores 50 %; a model on the plateau stays below "
                               "that (20-43 % in notebook 02's shipped run).",
                    "; ".join(f"{key}: you said {answer[key]!r}, the data says {truth[key]!r} ({why[key]})"
                              for key in wrong))


# 01 · implement: the authors' OOD shift
def solution_ood_shift(tokens: list[int], k: int) -> list[int]:
    pairs = list(zip(tokens[0:-1:2], tokens[1:-1:2]))
    answer = solution_follow_chain(pairs, tokens[-1], k)
    parent = solution_follow_chain(pairs, tokens[-1], k - 1)
    return [t - 100 if t in (answer, parent) else t for t in tokens]


def _ood_shift_problem(tokens: list[int], k: int, got, want: list[int], chain: list[int], start: int) -> str | None:
    """What is wrong with `got` (None if nothing), for one question."""
    try:
        got = [int(t) for t in got]
    except (TypeError, ValueError):
        return f"return a list of {len(tokens)} ints, not {type(got).__name__}"
    if len(got) != len(tokens):
        return f"return all {len(tokens)} tokens (12 pair tokens and the start), not {len(got)}"
    if got == want:
        return None
    where = f"(k={k}, tokens {tokens}: expected {want}, you returned {got})"
    odd = [(t, g) for t, g in zip(tokens, got) if g not in (t, t - 100)]
    if odd:
        return f"token {odd[0][0]} became {odd[0][1]}: a token either stays or moves down by exactly 100 {where}"
    moved = {t for t, g in zip(tokens, got) if g == t - 100}
    kept = {t for t, g in zip(tokens, got) if g == t}
    chain = [t + 100 if t <= 99 else t for t in chain]     # the chain before the shift
    answer, parent = chain[start + k], chain[start + k - 1]
    child = chain[start + k + 1] if start + k + 1 < len(chain) else None
    if moved & kept:
        return (f"token {sorted(moved & kept)[0]} is shifted in one place but not in another: shift EVERY "
                f"occurrence (a node is the child of one pair and the parent of the next) {where}")
    if moved == {answer}:
        return f"you shifted the answer but not its parent x_(i+k-1) = {parent} {where}"
    if parent not in moved and chain[start] in moved:
        return (f"you shifted the start token; shift the answer's parent x_(i+k-1) = {parent} "
                f"(it is the start only for 1 hop) {where}")
    if parent not in moved and child in moved:
        return f"you shifted the answer's child {child}, not its parent {parent} {where}"
    return f"the shifted tokens should be the answer {answer} and its parent {parent}, not {sorted(moved)} {where}"


def check_ood_shift(fn: Callable, n: int = 100) -> bool | None:
    """fn(tokens, k) -> the 13 tokens with the answer and its parent moved down by 100, on fresh
    test-OOD questions of 1-4 hops (compared with what `make_chain_data` generates)."""
    seed = _fresh_seed()
    for k in (1, 2, 3, 4):
        data = make_chain_data(n, k, "test_ood", seed=seed + k)
        unshifted = torch.where(data.inputs <= 99, data.inputs + 100, data.inputs)
        for row in range(n):
            tokens = unshifted[row].tolist()
            done, got = _attempt(fn, list(tokens), k)
            if not done:
                return None
            problem = _ood_shift_problem(tokens, k, got, data.inputs[row].tolist(),
                                         data.info["chain"][row].tolist(), int(data.info["start"][row]))
            if problem:
                return _verdict(False, "", problem)
    return _verdict(True, f"right on {4 * n} fresh test-OOD questions of 1-4 hops: your shift is the generator's", "")


# 01 · implement: an iteration-task sequence, with or without chain-of-thought
def solution_iteration_sequence(task: str, xs: list[int], cot: bool, n_len: int) -> list[int]:
    from .data import EOI, EOS, POLY_MODULUS, PREFIX
    states, s = [], 0
    for t, x in enumerate(xs):
        if task == "copy":
            s = x
        elif task == "parity":
            s = (s + x) % 2
        else:
            s = x if t == 0 else (s * x + 1) % POLY_MODULUS
        states.append(s)
    seq = [PREFIX[task], *xs, EOI, *(states if cot else states[-1:])]
    return seq + [EOS] * (2 * n_len + 3 - len(seq))


def _iteration_sequence_problem(task, xs, cot, n_len, got, want) -> str | None:
    from .data import EOI, EOS, PREFIX
    try:
        got = [int(t) for t in got]
    except (TypeError, ValueError):
        return f"return a list of ints, not {type(got).__name__}"
    if got == want:
        return None
    L = len(xs)
    where = f"({task}, {'CoT' if cot else 'no CoT'}, n_len={n_len}, xs={xs}: expected {want}, you returned {got})"
    if len(got) != len(want):
        return f"the sequence has 2*n_len + 3 = {len(want)} tokens (pad the end with EoS = {EOS}), not {len(got)} {where}"
    if got[0] != want[0]:
        return f"start with the task prefix D.PREFIX[{task!r}] = {PREFIX[task]} {where}"
    if got[1:L + 1] != xs:
        return f"then x_1..x_L unchanged, at positions 1..L {where}"
    if got[L + 1] != EOI:
        return f"then EoI = {EOI} at position L + 1 = {L + 1} {where}"
    states = solution_iteration_sequence(task, xs, True, n_len)[L + 2:2 * L + 2]
    if cot and got[L + 2] == states[-1] and got[L + 3:] == [EOS] * (len(got) - L - 3) and L > 1:
        return f"with CoT the model writes every state s_1..s_L after EoI, not only s_L {where}"
    if not cot and L > 1 and got[L + 2:2 * L + 2] == states:
        return f"without CoT only the last state s_L follows EoI, then EoS {where}"
    if task == "polynomial":
        for s0 in (0, 1):   # the recursion started at t = 1 from a made-up s_0
            wrong = _recursion_from(xs, s0)
            if got[L + 2:2 * L + 2 if cot else L + 3] == (wrong if cot else wrong[-1:]):
                return f"s_1 = x_1: the recursion s_t = (s_(t-1) x_t + 1) mod 11 starts at t = 2 {where}"
    if EOS not in got[L + 2:] and want[-1] == EOS:
        return f"pad with EoS = {EOS}, not 0 or another token {where}"
    return f"the states are {states}; compare what follows EoI {where}"


def _recursion_from(xs: list[int], s0: int) -> list[int]:
    states = []
    for x in xs:
        s0 = (s0 * x + 1) % 11
        states.append(s0)
    return states


def check_iteration_sequence(fn: Callable, trials: int = 8) -> bool | None:
    """fn(task, xs, cot, n_len) -> the full token sequence, as `make_iteration_data` writes it,
    on fresh random strings of every task, with and without CoT."""
    from .data import ITER_TASKS, input_alphabet
    rng = np.random.default_rng()
    for task in ITER_TASKS:
        for cot in (True, False):
            for _ in range(trials):
                n_len = int(rng.integers(3, 11))
                xs = rng.choice(input_alphabet(task), size=int(rng.integers(1, n_len + 1))).tolist()
                done, got = _attempt(fn, task, list(xs), cot, n_len)
                if not done:
                    return None
                problem = _iteration_sequence_problem(task, xs, cot, n_len, got,
                                                      solution_iteration_sequence(task, xs, cot, n_len))
                if problem:
                    return _verdict(False, "", problem)
    return _verdict(True, f"right on {len(ITER_TASKS) * 2 * trials} fresh strings: every task, with and without CoT", "")


# ---------------------------------------------------------------------------------------------
# 02 · the matching mechanism: predictions, the matching matrix, hops of the top key
# ---------------------------------------------------------------------------------------------
def solution_matching_matrix(model, tokens: torch.Tensor) -> torch.Tensor:
    e = model.token_embeddings()[tokens]
    return e @ model.W_qk(1) @ (e @ model.W_vo(0)).T


def check_matching_matrix(fn: Callable, model) -> bool | None:
    """fn(model, tokens) -> M_1 [len(tokens), len(tokens)], as notebook 02 defines it; checked on
    `model` and on a freshly initialised model of the same shape, over a fresh random token set."""
    from .model import Transformer
    rng = np.random.default_rng()
    with torch.random.fork_rng(devices=[]):   # leave the notebook's random state alone
        torch.manual_seed(_fresh_seed())
        fresh = Transformer(model.cfg).to(model.device)
    for which, m in (("the given model", model), ("a freshly initialised model", fresh)):
        tokens = torch.from_numpy(np.sort(rng.choice(np.arange(1, 200), size=60, replace=False)))
        with torch.no_grad():
            done, got = _attempt(fn, m, tokens)
            if not done:
                return None
            want = solution_matching_matrix(m, tokens).cpu()
        got = torch.as_tensor(got).detach().cpu()
        if got.shape != want.shape:
            return _verdict(False, "", f"{which}, {len(tokens)} random tokens: shape {tuple(got.shape)}, expected "
                                       f"{tuple(want.shape)} (rows u, columns v, one per token given)")
        close = lambda a, b: torch.allclose(a, b, rtol=1e-4, atol=1e-5 * want.abs().max().item())
        if close(got, want.T) and not close(got, want):
            return _verdict(False, "", "transposed: rows are the query token u, columns the key token v")
        if not close(got, want):
            return _verdict(False, "", f"{which}: largest difference {(got - want).abs().max():.3g} (entries up to "
                                       f"{want.abs().max():.3g}); check which side W_vo0 goes on")
    return _verdict(True, "matches M_1 = e_u W_qk1 (e_v W_vo0)^T on the shipped model and on a fresh one", "")


# 02 · predict: the shipped 2-hop model out of distribution
def two_hop_ood_accuracy(n: int = 1000) -> float:
    """Test-OOD accuracy of the shipped 2-hop checkpoint, measured now on the eval set."""
    from .experiments import chain_eval_sets, load_chain_2hop
    from .train import evaluate
    model, _ = load_chain_2hop()
    return evaluate(model, chain_eval_sets(2)["test_ood"][:n])["acc"]


def check_two_hop_ood_prediction(answer: str | None) -> bool | None:
    """answer: "above" or "below": the shipped 2-hop model's test-OOD accuracy versus 0.5."""
    if _unanswered(answer):
        return None
    if answer not in ("above", "below"):
        return _verdict(False, "", f"answer={answer!r}: choose 'above' or 'below'")
    acc = two_hop_ood_accuracy()
    truth = "above" if acc > 0.5 else "below"
    return _verdict(answer == truth,
                    f"{truth}: it answers {acc:.1%} of 2-hop test-OOD questions (a coin flip between the two ID "
                    "tokens of a question would score 50 %). Section 5 finds out why.",
                    f"it is {truth}: {acc:.1%} of 2-hop test-OOD questions (a coin flip between the two ID "
                    "tokens of a question would score 50 %). Section 5 finds out why.")


# 02 · predict: shrink a wide model's never-seen rows
def widest_ladder_run() -> dict:
    """The shipped ladder's widest finished run of the recipe (seed 0 if there, no control)."""
    from .course import DATA_DIR
    from .experiments import is_ladder_control, load_sweep
    runs = [r for r in load_sweep(DATA_DIR / "width_ladder.json")["runs"] if not is_ladder_control(r)]
    return max(runs, key=lambda r: (r["d_model"], -r["seed"]))


def check_shrink_prediction(guess: float | None, tolerance: float = 0.15) -> bool | None:
    """guess: test-OOD accuracy of the widest ladder model once its OOD rows are shrunk to
    0.05 x the mean ID norm (the narrow model's ratio), directions kept, nothing retrained."""
    if _unanswered(guess):
        return None
    if not 0 <= guess <= 1:
        return _verdict(False, "", f"guess={guess}: an accuracy lies in [0, 1]")
    run = widest_ladder_run()
    shrunk, as_trained = run["interventions"]["by_ratio"]["0.05"], run["interventions"]["as_trained"]
    story = (f"the d_model {run['d_model']} model scores {as_trained:.1%} OOD with its own rows and {shrunk:.1%} "
             f"with them shrunk to 0.05 x the ID norm: the circuit is unchanged, only the rows are fainter.")
    return _verdict(abs(guess - shrunk) <= tolerance, f"within {tolerance:.2f}: {story}",
                    f"off by more than {tolerance:.2f}: {story}")


# 02 · build: one shared norm for every token row
def solution_shared_norm_rows(rows: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return rows * (g / rows.norm(dim=-1, keepdim=True))


def check_shared_norm_rows(fn: Callable, trials: int = 4) -> bool | None:
    """fn(rows [n, d], g scalar tensor) -> rows [n, d], each with norm g and its own direction; checked
    on random rows of very different sizes and on the shipped shared-norm model's embedding."""
    from .experiments import load_chain_2hop_shared
    gen = torch.Generator().manual_seed(_fresh_seed())
    for trial in range(trials):
        n, d = int(torch.randint(3, 40, (1,), generator=gen)), int(torch.randint(4, 64, (1,), generator=gen))
        rows = torch.randn(n, d, generator=gen) * torch.logspace(-2, 1, n)[:, None]   # norms 0.01 .. 10
        g = torch.rand((), generator=gen) * 3 + 0.1
        done, got = _attempt(fn, rows.clone(), g)
        if not done:
            return None
        got = torch.as_tensor(got).detach().float()
        if got.shape != rows.shape:
            return _verdict(False, "", f"{n} rows of width {d}: shape {tuple(got.shape)}, expected {tuple(rows.shape)}")
        norms = got.norm(dim=-1)
        if not torch.allclose(norms, g.expand(n), rtol=1e-4):
            return _verdict(False, "", f"row norms {norms.min():.3g}..{norms.max():.3g}, expected all {g:.3g} "
                                       "(divide each row by its own norm, then multiply by g)")
        cos = torch.nn.functional.cosine_similarity(got, rows, dim=-1)
        if cos.min() < 1 - 1e-4:
            return _verdict(False, "", f"a row changed direction (cosine {cos.min():.3f} with the input): only its length may change")
    model, _ = load_chain_2hop_shared()
    with torch.no_grad():
        done, got = _attempt(fn, model.embed.weight, model.embed_scale)
        if not torch.allclose(torch.as_tensor(got), model.token_embeddings(), rtol=1e-4, atol=1e-6):
            return _verdict(False, "", "right on random rows, but not the shipped model's W_E: pass the rows and g unchanged")
    return _verdict(True, "every row at norm g, each in its own direction; on the shipped model this is exactly "
                          "model.token_embeddings()", "")


# 02 · predict: which layer's ablation hurts most
def ablation_accuracies(n: int = 1000) -> dict[int, float]:
    """Test-ID accuracy of the shipped 2-hop model with each layer's attention output mean-ablated."""
    from .analysis import ablation_accuracy
    from .experiments import chain_eval_sets, load_chain_2hop
    model, _ = load_chain_2hop()
    data = chain_eval_sets(2)["test_id"][:n]
    return {layer: ablation_accuracy(model, data, f"blocks.{layer}.hook_attn_out", mode="mean")
            for layer in range(model.cfg.n_layers)}


def check_ablation_prediction(answer: int | None) -> bool | None:
    """answer: the layer (0, 1 or 2) whose mean-ablated attention leaves the lowest accuracy."""
    if _unanswered(answer):
        return None
    accs = ablation_accuracies()
    if answer not in accs:
        return _verdict(False, "", f"answer={answer!r}: choose a layer among {list(accs)}")
    worst = min(accs, key=accs.get)
    table = ", ".join(f"layer {layer}: {acc:.3f}" for layer, acc in accs.items())
    return _verdict(int(answer) == worst, f"layer {worst} ({table})", f"it is layer {worst} ({table})")


# 02 · implement: how many hops ahead does a layer's last position look?
def solution_hops_of_top_key(pattern: torch.Tensor, tokens: torch.Tensor, chain: torch.Tensor,
                             start: torch.Tensor) -> torch.Tensor:
    top = pattern.argmax(dim=-1)                               # [batch]: the strongest key position
    token = tokens[torch.arange(len(tokens)), top]             # the token at that position
    index = (chain == token[:, None]).float().argmax(dim=-1)   # its index on the chain
    return index - start


def check_hops_of_top_key(fn: Callable, n: int = 64) -> bool | None:
    """fn(pattern [batch, key], tokens [batch, seq], chain [batch, n_nodes], start [batch]) -> [batch]
    hops from the start node to the token at each row's strongest key; fresh random questions and
    random attention patterns."""
    g = torch.Generator().manual_seed(_fresh_seed())
    for hops in (1, 2, 3):
        data = make_chain_data(n, hops, "test_id", seed=_fresh_seed())
        tokens, chain, start = data.inputs, data.info["chain"], data.info["start"]
        pattern = torch.softmax(3 * torch.randn(n, tokens.shape[1], generator=g), dim=-1)
        done, got = _attempt(fn, pattern.clone(), tokens.clone(), chain.clone(), start.clone())
        if not done:
            return None
        want = solution_hops_of_top_key(pattern, tokens, chain, start)
        got = torch.as_tensor(got).detach().cpu()
        if got.shape != want.shape:
            return _verdict(False, "", f"shape {tuple(got.shape)}, expected {tuple(want.shape)}: one number per "
                                       "question (take the argmax over the key axis, the last one)")
        if torch.equal(got.long(), want):
            continue
        top = pattern.argmax(-1)
        index = want + start
        hints = [(top, "you returned key positions; read the token at that position, then find it on the chain"),
                 (tokens[torch.arange(n), top], "you returned the token itself; find its index on the chain"),
                 (index, "that is the chain index counted from x_0; subtract the start index"),
                 (want + 1, "off by one hop: too large by 1"), (want - 1, "off by one hop: too small by 1"),
                 (-want, "wrong sign: hops ahead of the start are positive")]
        for value, hint in hints:
            if torch.equal(got.long(), value.long()):
                return _verdict(False, "", hint)
        bad = int((got.long() != want).nonzero()[0])
        return _verdict(False, "", f"row {bad}: strongest key at position {int(top[bad])} (token "
                                   f"{int(tokens[bad, top[bad]])}), chain {chain[bad].tolist()}, start index "
                                   f"{int(start[bad])}: expected {int(want[bad])}, you returned {int(got[bad])}")
    return _verdict(True, "right on 3 fresh batches of random patterns", "")


# ---------------------------------------------------------------------------------------------
# 03 · predict the init x LayerNorm grid
# ---------------------------------------------------------------------------------------------
def init_ln_outcomes(path=DATA_DIR / "init_ln_sweep.json", threshold: float = 0.95) -> dict:
    """(norm, gamma) -> True when every seed of the shipped sweep reaches `threshold` test-ID
    within its training budget (as notebook 03 counts a success)."""
    runs = load_sweep(path)["runs"]
    cells = {}
    for r in runs:
        cells.setdefault((r["norm"], r["gamma"]), []).append(r["history"].steps_to("test_id", threshold) is not None)
    return {cell: all(v) for cell, v in cells.items()}


def solution_init_ln_prediction(cells=(("post", 1.0), ("post", 0.5), ("post", 0.6), ("pre", 1.0))) -> dict:
    truth = init_ln_outcomes()
    return {cell: truth[cell] for cell in cells}


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


def solution_shortcut_rate(inputs: torch.Tensor, answers: torch.Tensor) -> float:
    in_context = (inputs[:, :-1] == answers[:, None]).any(1)
    obeys = torch.isin((answers - inputs[:, -1]) % 5, torch.tensor([0, 1, 4]))
    return (in_context & obeys).float().mean().item()


def check_shortcut_rate(fn: Callable, trials: int = 4) -> bool | None:
    """fn(inputs [n, 13], answers [n]) -> fraction of answers that are a context token AND obey
    the training residue rule (answer - start) mod 5 in {0, 1, 4}."""
    g = torch.Generator().manual_seed(int(torch.randint(0, 10_000, (1,))))
    for trial in range(trials):
        data = make_chain_data(300, 1, ("train", "test_id", "test_ood")[trial % 3], seed=int(torch.randint(0, 10_000, (1,), generator=g)))
        inputs = data.inputs
        pick = torch.randint(0, 12, (len(inputs),), generator=g)
        answers = torch.where(torch.rand(len(inputs), generator=g) < 0.7, inputs[torch.arange(len(inputs)), pick],
                              torch.randint(1, 200, (len(inputs),), generator=g))
        done, got = _attempt(fn, inputs.clone(), answers.clone())
        if not done:
            return None
        want = solution_shortcut_rate(inputs, answers)
        in_context = (inputs[:, :-1] == answers[:, None]).any(1).float().mean().item()
        obeys = torch.isin((answers - inputs[:, -1]) % 5, torch.tensor([0, 1, 4])).float().mean().item()
        if got is None or abs(float(got) - want) > 1e-6:
            hint = ("that is the in-context rate alone: also require the residue rule" if got is not None and abs(float(got) - in_context) < 1e-6
                    else "that is the residue rate alone: also require the answer to be a context token" if got is not None and abs(float(got) - obeys) < 1e-6
                    else "compare with the start token inputs[:, -1], and look only at the 12 context tokens")
            return _verdict(False, "", f"got {got}, expected {want:.4f} on a random batch: {hint}")
    return _verdict(True, f"right on {trials} random batches", "")


def solution_init_weight(shape, fan_in: int, gamma: float, generator: torch.Generator) -> torch.Tensor:
    b = (6 / fan_in) ** gamma
    return (2 * torch.rand(shape, generator=generator) - 1) * b


def check_init_weight(fn: Callable, trials: int = 6) -> bool | None:
    """fn(shape, fan_in, gamma, generator) -> weights uniform in [-b, b], b = (6 / fan_in) ** gamma."""
    rng = np.random.default_rng()
    for _ in range(trials):
        shape = (int(rng.integers(40, 200)), int(rng.integers(40, 200)))
        fan_in, gamma = int(rng.integers(8, 600)), float(rng.uniform(0.2, 1.3))
        done, got = _attempt(fn, shape, fan_in, gamma, torch.Generator().manual_seed(int(rng.integers(1e6))))
        if not done:
            return None
        got = torch.as_tensor(got, dtype=torch.float32)
        b = (6 / fan_in) ** gamma
        where = f"shape={shape}, fan_in={fan_in}, gamma={gamma:.2f} (b = (6/fan_in)^gamma = {b:.4f})"
        if tuple(got.shape) != shape:
            return _verdict(False, "", f"{where}: shape {tuple(got.shape)}, expected {shape}")
        if got.abs().max() > b * (1 + 1e-5) and abs(got.std() / (b / 3 ** 0.5) - 1) < 0.1:
            return _verdict(False, "", f"{where}: the spread is right but an entry reaches {got.abs().max():.4f}, "
                                       "beyond b: draw from a uniform distribution, not a normal one")
        if got.abs().max() > b * (1 + 1e-5):
            return _verdict(False, "", f"{where}: an entry reaches {got.abs().max():.4f}, beyond b; "
                                       "is the exponent on (6 / fan_in), not on fan_in alone?")
        if got.abs().max() < 0.95 * b:
            return _verdict(False, "", f"{where}: the largest entry is {got.abs().max():.4f}, "
                                       f"far below b: the weights must fill [-b, b]")
        if abs(got.mean()) > 0.1 * b:
            return _verdict(False, "", f"{where}: mean {got.mean():.4f}: centre the interval on 0")
        if abs(got.std() / (b / 3 ** 0.5) - 1) > 0.05:
            return _verdict(False, "", f"{where}: std {got.std():.4f}, expected b/sqrt(3) = {b / 3 ** 0.5:.4f} "
                                       "for a uniform distribution (a normal one is not it)")
    return _verdict(True, f"right on {trials} random shapes, fan-ins and init rates", "")


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


NEAR_ORTHOGONAL_DIMS = (8, 16, 32, 64, 128, 256, 512, 1024)


def diagonal_win_rate(d: int, sigma: float = 1.0, seed: int = 0) -> float:
    """Fraction of rows of Xi Xi^T (Xi ~ N(0, sigma^2/d), d x d, from `seed`) whose largest entry
    is on the diagonal."""
    g = torch.Generator().manual_seed(seed)
    xi = sigma * torch.randn(d, d, generator=g) / d ** 0.5
    gram = xi @ xi.T
    return (gram.argmax(dim=1) == torch.arange(d)).float().mean().item()


def diagonal_share(d: int = 8, draws: int = 20) -> float:
    """Mean over `draws` seeds of the fraction of rows of Xi Xi^T that peak on the diagonal."""
    return float(np.mean([diagonal_win_rate(d, seed=s) for s in range(draws)]))


def solution_diagonal_share_prediction(d: int = 8) -> str:
    share = diagonal_share(d)
    return "all" if share >= 0.999 else "most" if share >= 0.75 else "about half"


def check_diagonal_share_prediction(answer: str | None, d: int = 8) -> bool | None:
    """answer: "about half", "most" or "all": share of diagonal-dominant rows at d (20 draws)."""
    if _unanswered(answer):
        return None
    if answer not in ("about half", "most", "all"):
        return _verdict(False, "", f"answer={answer!r}: choose 'about half', 'most' or 'all'")
    truth, share = solution_diagonal_share_prediction(d), diagonal_share(d)
    return _verdict(answer == truth, f"{truth}: {share:.1%} of the rows at d = {d}, over 20 draws",
                    f"not {answer!r}: measured {share:.1%} of the rows at d = {d} over 20 draws")


def noise_effect(sigma: float = 1.0, target: str = "both", path=DATA_DIR / "noise_sweep.json") -> str:
    """"faster", "slower" or "same": mean steps to 95 % test-ID of (sigma, target) against no
    noise in the shipped sweep; "same" when they differ by less than one evaluation interval (a
    seed that never gets there counts as the full budget)."""
    blob = load_sweep(path)
    every, budget = blob["train_config"]["1"]["eval_every"], blob["train_config"]["1"]["steps"]

    def mean_steps(s, t):
        return np.mean([step or budget for step in noise_steps_to_solve(blob, s, t)])

    delta = mean_steps(sigma, target) - mean_steps(0.0, "both")
    return "faster" if delta <= -every else "slower" if delta >= every else "same"


def solution_noise_prediction() -> dict:
    return {target: noise_effect(1.0, target) for target in ("both", "qk", "vo")}


def check_noise_prediction(answer: dict | None) -> bool | None:
    """answer: {"both" | "qk" | "vo": "faster" | "slower" | "same"} at sigma = 1, against no noise."""
    if _unanswered(answer):
        return None
    bad = {k: v for k, v in answer.items() if k not in ("both", "qk", "vo") or v not in ("faster", "slower", "same")}
    if bad:
        return _verdict(False, "", f"{bad}: keys are 'both', 'qk', 'vo'; values 'faster', 'slower' or 'same'")
    truth = solution_noise_prediction()
    wrong = {k: (v, truth[k]) for k, v in answer.items() if v != truth[k]}
    return _verdict(not wrong, f"the sweep agrees: {truth}",
                    "the sweep says otherwise for " + ", ".join(f"{k} (you: {v}, sweep: {w})" for k, (v, w) in wrong.items()))


def solution_unmatched_prediction() -> dict:
    return {sigma: noise_effect(sigma, "unmatched") for sigma in (0.5, 1.0)}


def check_unmatched_prediction(answer: dict | None) -> bool | None:
    """answer: {0.5 | 1.0: "faster" | "slower" | "same"}: the unmatched pair (Xi on W_vo, an
    independent Xi' on W_qk) against no noise, in the shipped sweep."""
    if _unanswered(answer):
        return None
    bad = {k: v for k, v in answer.items() if k not in (0.5, 1.0) or v not in ("faster", "slower", "same")}
    if bad or len(answer) != 2:
        return _verdict(False, "", f"{bad or answer}: keys are 0.5 and 1.0; values 'faster', 'slower' or 'same'")
    truth = solution_unmatched_prediction()
    wrong = {k: (v, truth[k]) for k, v in answer.items() if v != truth[k]}
    return _verdict(not wrong, f"the sweep agrees: {truth}",
                    "the sweep says otherwise for " + ", ".join(f"sigma {k} (you: {v}, sweep: {w})"
                                                                for k, (v, w) in wrong.items()))


# ---------------------------------------------------------------------------------------------
# 05 · where does layer 2 look on a 1-hop question?
# ---------------------------------------------------------------------------------------------
def depth2_best_hop(sweep: dict) -> int:
    """The hop count on which the depth-2 runs of a parallel sweep score highest (mean over seeds)."""
    runs = [r for r in sweep["runs"] if r["depth"] == 2]
    mean = {int(k): np.mean([r["acc_by_hop"]["test_id"][k] for r in runs]) for k in runs[0]["acc_by_hop"]["test_id"]}
    return max(mean, key=mean.get)


def check_depth2_best_hop(answer: int | None, sweep: dict) -> bool | None:
    """answer: the hop count (1..6) on which depth-2 models score highest."""
    if _unanswered(answer):
        return None
    truth = depth2_best_hop(sweep)
    return _verdict(int(answer) == truth, f"{truth} hops: the answer is the only node with no child, no pointer needed",
                    f"not {answer}: think about which node a {truth}-hop question on a 7-node chain must end on")


solution_largest_hops_solved = largest_hops_solved   # the course's own rule is the reference


def check_largest_hops_solved(fn: Callable, trials: int = 200) -> bool | None:
    """fn(acc_by_hop {int: accuracy}, threshold) -> largest k with every hop 1..k >= threshold."""
    rng = np.random.default_rng()
    cases = [({1: 0.5, 2: 0.99, 6: 1.0}, 0.95), ({1: 0.99, 2: 0.97, 3: 0.2, 4: 0.99}, 0.95), ({}, 0.95),
             ({1: 0.95, 2: 0.949}, 0.95), ({2: 1.0, 3: 1.0}, 0.9)]
    for _ in range(trials):
        n = int(rng.integers(1, 7))
        acc = {k: float(rng.choice([rng.uniform(0.9, 1.0), rng.uniform(0, 0.5)])) for k in range(1, n + 1)}
        cases.append((acc, float(rng.choice([0.9, 0.95, 0.99]))))
    for acc, threshold in cases:
        done, got = _attempt(fn, dict(acc), threshold)
        if not done:
            return None
        want = solution_largest_hops_solved(acc, threshold)
        if got != want:
            shown = {k: round(v, 3) for k, v in acc.items()}
            return _verdict(False, "", f"acc_by_hop={shown}, threshold={threshold}: you returned {got}, expected {want}"
                                       " (every hop count 1..k must pass; a missing one fails)")
    return _verdict(True, f"right on {len(cases)} accuracy tables", "")


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
# 06 · iteration heads: sequence accuracy, the layer-2 targets, peakiness, parity with and without CoT
# ---------------------------------------------------------------------------------------------


def _scored_positions(targets: torch.Tensor, eoi_pos: torch.Tensor) -> torch.Tensor:
    """[n, T] bool: the positions from each row's EoI on, the ones sequence accuracy scores."""
    return torch.arange(targets.shape[1])[None, :] >= eoi_pos[:, None]


def solution_sequence_accuracy(predictions: torch.Tensor, targets: torch.Tensor, eoi_pos: torch.Tensor) -> float:
    scored = _scored_positions(targets, eoi_pos)
    right = (predictions == targets) | ~scored                              # what comes before is not scored
    return right.all(dim=1).float().mean().item()


def _as_array(got) -> np.ndarray:
    if isinstance(got, torch.Tensor):
        got = got.detach().cpu().numpy()
    return np.asarray(got)


def _sequence_accuracy_batch(rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Teacher-forced predictions for a batch of mixed lengths: some rows right everywhere, some
    wrong only before EoI (still right), some wrong at one scored position."""
    data = make_iteration_data("polynomial", "test", n_len=8, n_per_length=int(rng.integers(2, 5)),
                               seed=int(rng.integers(1 << 30)))
    predictions = data.targets.clone()
    n, T = predictions.shape
    eoi = data.info["eoi_pos"]
    for row in range(n):
        kind = rng.integers(3)
        if kind == 1:                                   # a wrong guess while reading the input
            predictions[row, int(rng.integers(0, int(eoi[row])))] += 1
        elif kind == 2:                                 # one wrong state (or a wrong pad)
            predictions[row, int(rng.integers(int(eoi[row]), T))] += 1
    return predictions, data.targets, eoi


def check_sequence_accuracy(fn: Callable, trials: int = 10, seed: int | None = None) -> bool | None:
    """fn(predictions [n, T], targets [n, T], eoi_pos [n]) -> the share of rows right at every
    position from EoI on (the authors' sequence accuracy)."""
    rng = np.random.default_rng(seed)
    for _ in range(trials):
        predictions, targets, eoi = _sequence_accuracy_batch(rng)
        done, got = _attempt(fn, predictions.clone(), targets.clone(), eoi.clone())
        if not done:
            return None
        want = solution_sequence_accuracy(predictions, targets, eoi)
        try:
            got = float(got)
        except (TypeError, ValueError):
            return _verdict(False, "", f"return one number (a share of rows), not {type(got).__name__}")
        if abs(got - want) < 1e-6:
            continue
        per_token = (predictions == targets)[_scored_positions(targets, eoi)].float().mean().item()
        whole_row = (predictions == targets).all(dim=1).float().mean().item()
        hint = (" You averaged over tokens: a row counts only when every scored position is right"
                if abs(got - per_token) < 1e-6 else
                " You scored every position: the model is not asked to predict the input, so positions "
                "before EoI do not count" if abs(got - whole_row) < 1e-6 else "")
        return _verdict(False, "", f"on a batch of {len(targets)} strings you returned {got:.4f}, expected {want:.4f}.{hint}")
    return _verdict(True, f"right on {trials} random batches (rows right, wrong only before EoI, or wrong after it)", "")


def solution_layer2_targets(tokens: torch.Tensor, eoi: int) -> torch.Tensor:
    T = tokens.shape[1]
    eoi_pos = (tokens == eoi).int().argmax(dim=1, keepdim=True)     # L + 1 (the prefix sits at 0)
    q = torch.arange(T)[None, :]
    key = q - eoi_pos + 1                                          # query EoI + k reads x_{k+1}, at k + 1
    has_target = (q >= eoi_pos) & (q < 2 * eoi_pos - 1)           # k = 0 .. L-1: EoI, s_1 .. s_{L-1}
    return torch.where(has_target, key, torch.full_like(key, -1))


def _targets_problem(data, got, want: torch.Tensor) -> str | None:
    try:
        got = torch.as_tensor(_as_array(got)).long()
    except (TypeError, ValueError):
        return f"return a tensor of integer positions [n, T], not {type(got).__name__}"
    if got.shape != want.shape:
        return f"tokens have shape {tuple(want.shape)}, your answer {tuple(got.shape)}: one key per (row, query)"
    if torch.equal(got, want):
        return None
    eoi_pos = data.info["eoi_pos"][:, None]
    q = torch.arange(want.shape[1])[None, :]
    has, got_has = want >= 0, got >= 0
    if (got_has & ~has & (q == 2 * eoi_pos - 1)).any():
        return ("the query holding s_L predicts EoS: there is no x left to read, put -1 there "
                "(queries EoI .. EoI+L-1 have a target)")
    if (got_has & ~has & (q < eoi_pos)).any():
        return "positions before EoI are the input itself: they have no target, put -1 there"
    if (has & ~got_has & (q == eoi_pos)).any():
        return "EoI holds s_0 and predicts s_1: its layer-2 target is x_1, at position 1"
    if not torch.equal(got_has, has):
        return "some queries with a target got -1 (or the reverse): queries EoI .. EoI+L-1 have one, no others"
    if torch.equal(got[has], want[has] - 1):
        return ("off by one: the query at EoI+k holds s_k and predicts s_{k+1}, which needs x_{k+1} "
                "at position k+1; you point at x_k")
    if torch.equal(got[has], want[has] + 1):
        return "off by one: you point at x_{k+2}; the query at EoI+k needs x_{k+1}, at position k+1"
    if torch.equal(got[has], eoi_pos.expand_as(want)[has]):
        return "that is layer 1's target (EoI); layer 2 reads an input x_{k+1}"
    row = int((got != want).any(dim=1).nonzero()[0])
    return (f"on tokens {data.inputs[row].tolist()} you returned {got[row].tolist()}, "
            f"expected {want[row].tolist()}")


def check_layer2_targets(fn: Callable, trials: int = 4, seed: int | None = None) -> bool | None:
    """fn(tokens [n, T], eoi) -> [n, T]: for each query, the input position an ideal layer-2 head
    reads (the query at EoI + k reads x_{k+1} at position k + 1, k = 0..L-1), -1 elsewhere."""
    rng = np.random.default_rng(seed)                      # fresh sequences on every run
    for _ in range(trials):
        n_len = int(rng.integers(3, 13))
        data = make_iteration_data(str(rng.choice(["polynomial", "parity", "copy"])), "test", n_len=n_len,
                                   n_per_length=3, seed=int(rng.integers(1 << 30)))
        data = data[torch.from_numpy(rng.permutation(len(data)))]
        rows, queries, _, xs = iteration_head_targets(data)
        want = torch.full(data.inputs.shape, -1, dtype=torch.long)
        want[rows, queries] = xs
        done, got = _attempt(fn, data.inputs.clone(), EOI)
        if not done:
            return None
        problem = _targets_problem(data, got, want)
        if problem:
            return _verdict(False, "", problem)
    return _verdict(True, f"right on {trials} random batches (lengths and n_len vary)", "")


def solution_peakiness(pattern: torch.Tensor, queries: torch.Tensor, keys: torch.Tensor) -> float:
    return (pattern[queries, keys] > 0.5).float().mean().item()


def check_peakiness(fn: Callable, seed: int | None = None) -> bool | None:
    """fn(pattern [query, key], queries, keys) -> fraction of pattern[queries, keys] above 0.5."""
    g = torch.Generator().manual_seed(int(np.random.default_rng(seed).integers(1 << 30)))
    for trial in range(5):
        T = int(torch.randint(8, 20, (1,), generator=g))
        pattern = torch.softmax(torch.randn(T, T, generator=g) * (trial + 1), dim=-1)
        queries = torch.arange(T // 3, T)
        keys = torch.randint(0, T, (len(queries),), generator=g)
        done, got = _attempt(fn, pattern, queries, keys)
        if not done:
            return None
        want = solution_peakiness(pattern, queries, keys)
        if abs(float(got) - want) > 1e-6:
            return _verdict(False, "", f"got {float(got):.3f}, expected {want:.3f}: take pattern[queries, keys] "
                                       "(one weight per query), not a whole row, and count weights > 0.5")
    return _verdict(True, "right on 5 random patterns", "")


PARITY_CELLS = {"CoT, length 8": (True, 8), "CoT, length 5": (True, 5), "no CoT, length 8": (False, 8)}


def parity_outcomes(path=DATA_DIR / "iteration_sweep.json", threshold: float = 0.95) -> dict:
    """PARITY_CELLS name -> True when every from-scratch parity seed of the shipped sweep scores at
    least `threshold` test accuracy at that length."""
    runs = [r for r in load_sweep(path)["runs"] if r["kind"] == "scratch" and r["task"] == "parity"]
    return {name: all(r["acc_by_length"][str(L)] >= threshold for r in runs if r["cot"] == cot)
            for name, (cot, L) in PARITY_CELLS.items()}


def solution_parity_prediction() -> dict:
    return {"CoT, length 8": True, "CoT, length 5": False, "no CoT, length 8": False}


def check_parity_prediction(answer: dict | None) -> bool | None:
    """answer: {PARITY_CELLS name: True if every seed reaches 95 % test accuracy there, else False}."""
    if _unanswered(answer):
        return None
    truth = parity_outcomes()
    if set(answer) != set(truth):
        return _verdict(False, "", f"use exactly these keys: {sorted(truth)}")
    wrong = [name for name in truth if bool(answer[name]) != truth[name]]
    return _verdict(not wrong, "every prediction matches the shipped sweep; now look at the plot below",
                    f"these differ from the shipped sweep: {wrong}; run the next cell and read the plot")


# ---------------------------------------------------------------------------------------------
# 07 · transfer: a censored speed-up, freezing all but the layer-2 MLP, what transfers
# ---------------------------------------------------------------------------------------------


def solution_speedup(scratch: History, finetune: History, threshold: float = 0.95):
    s = scratch.steps_to("test", threshold)
    f = finetune.steps_to("test", threshold)
    if f is None:                        # the fine-tune never got there: nothing can be claimed
        return None, False
    if s is None:                        # censored: scratch needs MORE than its last step
        return scratch.steps[-1] / f, True
    return s / f, False


def _speedup_variant(scratch: History, finetune: History, threshold: float, reached=np.greater_equal,
                     pick=min):
    """The speed-up with another reading of "reached" (e.g. np.greater) or of which step (e.g. max):
    the checker recognises these usual mistakes."""
    def first(h):
        hits = [step for step, a in zip(h.steps, h.acc["test"]) if reached(a, threshold)]
        return pick(hits) if hits else None
    s, f = first(scratch), first(finetune)
    if f is None:
        return None, False
    return (scratch.steps[-1] / f, True) if s is None else (s / f, False)


def _random_history(rng, threshold: float, reaches: bool) -> History:
    """An accuracy curve below `threshold`, or one that touches it exactly, goes above it, dips
    below again, then ends above."""
    every = int(rng.choice([10, 25, 50]))
    steps = list(range(every, every * int(rng.integers(8, 40)) + 1, every))
    acc = np.sort(rng.uniform(0, threshold - 0.02, len(steps)))
    if reaches:
        cross = int(rng.integers(1, len(steps) - 4))
        acc[cross] = threshold                                # exactly at the threshold: reached
        acc[cross + 1] = threshold + 0.001
        acc[cross + 2] = threshold - 0.05                     # dips again
        acc[cross + 3:] = rng.uniform(threshold + 0.001, 1.0, len(steps) - cross - 3)
    return History(steps=steps, acc={"test": [float(a) for a in acc]})


def _close(a, b) -> bool:
    return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-6 * abs(float(b))


def check_speedup(fn: Callable, trials: int = 40, seed: int | None = None) -> bool | None:
    """fn(scratch, finetune, threshold) -> (speed-up, is_lower_bound) from two Histories (test split):
    a scratch run that never reaches the threshold gives only a lower bound, its last step divided
    by the fine-tune's steps; a fine-tune that never does gives (None, False)."""
    rng = np.random.default_rng(seed)                         # fresh curves on every run
    cases = [(True, True), (False, True), (True, False), (False, False)]
    for trial in range(trials):
        s_reaches, f_reaches = cases[trial % 4]
        threshold = float(rng.choice([0.9, 0.95, 0.99]))
        scratch, finetune = _random_history(rng, threshold, s_reaches), _random_history(rng, threshold, f_reaches)
        done, got = _attempt(fn, scratch, finetune, threshold)
        if not done:
            return None
        want = solution_speedup(scratch, finetune, threshold)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return _verdict(False, "", f"return a pair (speed-up, is_lower_bound), not {got!r}")
        ratio, bound = got
        s, f = scratch.steps_to("test", threshold), finetune.steps_to("test", threshold)
        where = (f"threshold {threshold}: scratch reaches it at step {s} (last step {scratch.steps[-1]}), "
                 f"fine-tune at step {f}; expected {want}, you returned {tuple(got)}")
        if want[0] is None:
            if ratio is not None:
                return _verdict(False, "", f"{where}. The fine-tune never reached the threshold: no speed-up "
                                           "can be claimed, return (None, False)")
            continue
        if ratio is None:
            return _verdict(False, "", f"{where}. A scratch run that never got there still bounds the speed-up "
                                       "from below: it needed more than its last step")
        if not _close(ratio, want[0]):
            if _close(ratio, 1 / want[0]):
                hint = " Inverted: divide scratch steps by fine-tune steps."
            elif _close(ratio, _speedup_variant(scratch, finetune, threshold, reached=np.greater)[0]):
                hint = " An accuracy equal to the threshold counts as reached (>=, not >)."
            elif _close(ratio, _speedup_variant(scratch, finetune, threshold, pick=max)[0]):
                hint = " Take the FIRST evaluated step whose accuracy is >= threshold (curves can dip again)."
            elif s is None:
                hint = (" A censored scratch run counts with its own last step (budgets differ), "
                        "not a fixed number.")
            else:
                hint = " Steps to threshold: the first evaluated step whose accuracy is >= threshold."
            return _verdict(False, "", where + "." + hint)
        if bool(bound) != want[1]:
            return _verdict(False, "", where + (". The scratch run never reached the threshold: the ratio is "
                                                "only a lower bound" if want[1] else
                                                ". Both runs reached the threshold: the ratio is measured, "
                                                "not a bound"))
    return _verdict(True, f"right on {trials} random pairs of curves, censored or not", "")


def solution_train_only_layer2_mlp(model) -> int:
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("blocks.1.mlp."))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_train_only_layer2_mlp(fn: Callable, seed: int | None = None) -> bool | None:
    """fn(model) -> number of trainable parameters after freezing all but `blocks.1.mlp`."""
    rng = np.random.default_rng(seed)                      # fresh models on every run
    configs = [ITER_MODEL, replace(ITER_MODEL, n_layers=12, d_model=32, d_head=32, d_ff=int(rng.choice([48, 96])))]
    for cfg in configs:
        for start_frozen in (False, True):
            model = make_model(cfg, seed=int(rng.integers(1 << 30)), device="cpu")
            if start_frozen:                        # a model may come with everything frozen
                model.requires_grad_(False)
            done, got = _attempt(fn, model)
            if not done:
                return None
            want_names = {n for n, _ in model.named_parameters() if n.startswith("blocks.1.mlp.")}
            trainable = {n for n, p in model.named_parameters() if p.requires_grad}
            want = sum(p.numel() for n, p in model.named_parameters() if n in want_names)
            where = f"{cfg.n_layers} layers, d_model {cfg.d_model}, d_ff {cfg.d_ff}"
            if trainable != want_names:
                extra, missing = sorted(trainable - want_names), sorted(want_names - trainable)
                if any(n.startswith("blocks.1") and not n.startswith("blocks.1.") for n in extra):
                    return _verdict(False, "", f"{where}: {extra[0]} is trainable: 'blocks.10...' also starts with "
                                               "'blocks.1'; match 'blocks.1.mlp.' with its dots")
                if missing and start_frozen:
                    return _verdict(False, "", f"{where}, every parameter frozen beforehand: {missing} stayed "
                                               "frozen; switch the layer-2 MLP on explicitly")
                return _verdict(False, "", f"{where}: trainable but should be frozen: {extra[:4]}; frozen but "
                                           f"should train: {missing[:4]}")
            if got is None or int(got) != want:
                hint = ""
                if got is not None and int(got) == len(want_names):
                    hint = ": count parameters with p.numel(), not tensors"
                elif got is not None and int(got) == sum(p.numel() for p in model.parameters()) - want:
                    hint = ": that is the number of frozen parameters"
                elif got is not None and int(got) == sum(p.numel() for p in model.parameters()):
                    hint = ": that is every parameter of the model"
                return _verdict(False, "", f"{where}: the flags are right but you returned {got}, "
                                           f"expected {want}{hint}")
    return _verdict(True, "right on fresh models of two sizes, frozen or not beforehand", "")


def median_finetune_steps(path=DATA_DIR / "iteration_sweep.json", threshold: float = 0.95) -> dict:
    """{"polynomial": ..., "copy": ...}: median over seeds of the steps the whole-model parity
    fine-tune takes to reach `threshold` (a seed that never does counts as infinitely slow)."""
    runs = load_sweep(path)["runs"]

    def steps(run):
        step = run["history"].steps_to("test", threshold)
        return np.inf if step is None else step

    return {pre: float(np.median([steps(r) for r in runs if r["kind"] == "finetune" and r["pretrain"] == pre
                                  and r["mode"] == "all"])) for pre in ("polynomial", "copy")}


def fastest_pretraining(path=DATA_DIR / "iteration_sweep.json", threshold: float = 0.95) -> str:
    """"polynomial" or "copy": whose whole-model parity fine-tune reaches `threshold` sooner
    (median over seeds; a seed that never does counts as infinitely slow)."""
    median = median_finetune_steps(path, threshold)
    return min(median, key=median.get)


def transfer_outcomes(path=DATA_DIR / "iteration_sweep.json", threshold: float = 0.95) -> dict:
    """The three facts of notebook 07's prediction, read from the shipped sweep."""
    runs = load_sweep(path)["runs"]
    reaches = lambda r: r["history"].steps_to("test", threshold) is not None
    return {"copy: median under 100 steps": median_finetune_steps(path, threshold)["copy"] < 100,
            "faster pretraining": fastest_pretraining(path, threshold),
            "layer-2 MLP alone suffices": all(reaches(r) for r in runs if r["kind"] == "finetune"
                                              and r["pretrain"] == "polynomial" and r["mode"] == "layer2_mlp")}


def solution_transfer_prediction() -> dict:
    return {"copy: median under 100 steps": False, "faster pretraining": "polynomial",
            "layer-2 MLP alone suffices": True}


def check_transfer_prediction(answer: dict | None) -> bool | None:
    """answer: {"copy: median under 100 steps": bool (whole model fine-tuned after copy pretraining,
    median over seeds of the steps to 95 %),
    "faster pretraining": "polynomial" or "copy" (whole model, median over seeds),
    "layer-2 MLP alone suffices": bool (every polynomial -> parity seed, only the layer-2 MLP trained)}."""
    if _unanswered(answer):
        return None
    truth = transfer_outcomes()
    if not isinstance(answer, dict) or set(answer) != set(truth):
        return _verdict(False, "", f"fill the dict with exactly these keys: {sorted(truth)}")
    if answer["faster pretraining"] not in ("polynomial", "copy"):
        return _verdict(False, "", f"'faster pretraining' is {answer['faster pretraining']!r}: "
                                   "choose 'polynomial' or 'copy'")
    wrong = [k for k in truth if (answer[k] if k == "faster pretraining" else bool(answer[k])) != truth[k]]
    return _verdict(not wrong, "every prediction matches the shipped sweep; now run the cells below",
                    f"these differ from the shipped sweep: {wrong}; run the next cells and read why")


# ---------------------------------------------------------------------------------------------
# 08 · chain-of-thought against the depth bound, and the mystery models
# ---------------------------------------------------------------------------------------------
def cot_depth_outcomes(path=DATA_DIR / "chain_cot_sweep.json") -> dict:
    """{(n_layers, cot): median over seeds of the largest k solved} from the shipped sweep."""
    runs = load_sweep(path)["runs"]
    cells = sorted({(r["n_layers"], r["cot"]) for r in runs})
    return {cell: int(np.median([r["largest_solved"] for r in runs if (r["n_layers"], r["cot"]) == cell]))
            for cell in cells}


def check_cot_depth_prediction(answer: dict | None, path=DATA_DIR / "chain_cot_sweep.json") -> bool | None:
    """answer: {(n_layers, cot): largest k solved}, e.g. {(2, True): 6, (2, False): 1, ...}."""
    if _unanswered(answer):
        return None
    truth = cot_depth_outcomes(path)
    missing = [cell for cell in truth if cell not in answer]
    if missing:
        return _verdict(False, "", f"give a number for every cell; missing {missing}")
    wrong = {cell: (answer[cell], truth[cell]) for cell in truth if int(answer[cell]) != truth[cell]}
    return _verdict(not wrong, "every cell matches the shipped sweep's median over seeds",
                    "these differ (yours, measured): " + ", ".join(f"{c}: {a} vs {t}" for c, (a, t) in wrong.items()))


def solution_reshuffle_pairs(inputs: torch.Tensor, n_pairs: int, generator: torch.Generator) -> torch.Tensor:
    n = len(inputs)
    perm = torch.argsort(torch.rand(n, n_pairs, generator=generator), dim=1)
    pairs = inputs[:, : 2 * n_pairs].reshape(n, n_pairs, 2)
    pairs = torch.gather(pairs, 1, perm[:, :, None].expand(-1, -1, 2))
    return torch.cat([pairs.reshape(n, -1), inputs[:, 2 * n_pairs:]], dim=1)


def _reshuffle_problem(inputs: torch.Tensor, got, n_pairs: int) -> str | None:
    if not isinstance(got, torch.Tensor) or got.shape != inputs.shape:
        return f"return a tensor of shape {tuple(inputs.shape)}, got {getattr(got, 'shape', type(got).__name__)}"
    if not torch.equal(got[:, 2 * n_pairs:], inputs[:, 2 * n_pairs:]):
        return "the question and the chain-of-thought after the pairs must stay where they are"
    pairs_of = lambda t: [sorted(map(tuple, row.reshape(n_pairs, 2).tolist())) for row in t[:, : 2 * n_pairs]]
    if pairs_of(got) != pairs_of(inputs):
        same_tokens = all(sorted(a.tolist()) == sorted(b.tolist()) for a, b in zip(got[:, :2 * n_pairs], inputs[:, :2 * n_pairs]))
        return ("the tokens are all there but some pairs were split: move whole pairs [parent, child], "
                "not single tokens" if same_tokens else "each row must keep exactly its own pairs")
    if torch.equal(got, inputs):
        return "nothing moved: the pairs must change places"
    return None


def check_reshuffle_pairs(fn: Callable, trials: int = 4, seed: int | None = None) -> bool | None:
    """fn(inputs [n, T], n_pairs, generator) -> the inputs with the pairs in a new random order:
    pairs whole, the rest in place, each row its own permutation, drawn from `generator`."""
    seed = _fresh_seed() if seed is None else seed
    for trial in range(trials):
        data = make_chain_data(200, [1, 2, 3], "test_id", seed=seed + trial, cot=bool(trial % 2))
        n_pairs = data.info["chains"].shape[2] - 1
        sorted_rows = with_pairs_reordered(data, "chain").inputs      # every row starts in chain order
        done, got = _attempt(fn, sorted_rows.clone(), n_pairs, torch.Generator().manual_seed(seed + trial))
        if not done:
            return None
        problem = _reshuffle_problem(sorted_rows, got, n_pairs)
        if problem:
            return _verdict(False, "", problem)
        moved = got[:, 0:2 * n_pairs:2] != sorted_rows[:, 0:2 * n_pairs:2]   # where each row's parents moved
        if (moved == moved[0]).all():
            return _verdict(False, "", "every row got the same permutation: draw one per row")
        if moved.any(dim=1).float().mean() < 0.9:
            return _verdict(False, "", f"only {moved.any(dim=1).float().mean():.0%} of the rows changed: shuffle every row")
        _, again = _attempt(fn, sorted_rows.clone(), n_pairs, torch.Generator().manual_seed(seed + trial))
        if not torch.equal(got, again):
            return _verdict(False, "", "the same generator seed gave a different shuffle: draw from `generator`")
    return _verdict(True, f"pairs move, stay whole, one permutation per row from the generator, and the "
                          f"question stays put, on {trials} random batches", "")


def check_intervention_prediction(answer: dict | None, measured: dict) -> bool | None:
    """answer: {"chain_order_still_solved": bool, "follows_redirected_token": bool};
    measured: the notebook's live numbers (accuracy with the pairs in chain order; fraction of
    redirected steps that write child(w))."""
    if _unanswered(answer):
        return None
    truth = {"chain_order_still_solved": measured["acc_pairs_in_chain_order"] >= 0.95,
             "follows_redirected_token": measured["follows_new_token"] >= 0.5}
    wrong = [k for k in truth if bool(answer.get(k)) != truth[k]]
    return _verdict(not wrong, "both predictions match the measurement",
                    f"these differ from the measurement: {wrong} (measured: accuracy in chain order "
                    f"{measured['acc_pairs_in_chain_order']:.2f}, follows the new token {measured['follows_new_token']:.2f})")


MYSTERY_DIAGNOSES = ("content matching", "iteration head", "residue shortcut", "broken layer")
_MYSTERY_KEY = {"A": "residue shortcut", "B": "iteration head", "C": "broken layer", "D": "content matching"}  # no peeking


def mystery_fingerprint(model, questions: dict, n: int = 1000) -> dict:
    """The measurements that tell the mysteries apart, computed live from fresh questions."""
    from .analysis import (cot_effective_matching_matrix, diagonal_score, effective_matching_matrix,
                           peakiness)
    from .experiments import mystery_questions
    from .train import evaluate, predict

    test, train = mystery_questions(questions, n, "test"), mystery_questions(questions, n, "train")
    fp = {"family": questions["family"], "train_acc": evaluate(model, train)["acc"],
          "test_acc": evaluate(model, test)["acc"]}
    _, cache = model.run_with_cache(test.inputs, names_filter=lambda name: name.endswith("hook_attn_out"))
    fp["dead_attention_layers"] = [l for l in range(model.cfg.n_layers) if cache["attn_out", l].abs().max() < 1e-6]
    if questions["family"] == "iteration":
        fp["peakiness"] = peakiness(model, test, min_length=4)
        return fp
    if questions["cot"]:
        fp["matching_score"] = diagonal_score(cot_effective_matching_matrix(model, test, model.cfg.n_layers - 1)[0])
    else:
        fp["matching_score"] = max(diagonal_score(effective_matching_matrix(model, test, layer, hop=1)[0])
                                   for layer in range(1, model.cfg.n_layers))
        with torch.no_grad():
            answers = model(test.inputs)[:, -1].argmax(-1)
        fp["shortcut_rate"] = solution_shortcut_rate(test.inputs, answers)
    return fp


def solution_diagnose(fp: dict) -> str:
    """The decision the fingerprint supports (see notebook 08, section 5)."""
    if fp["family"] == "iteration":
        return "iteration head" if fp["peakiness"][1] >= 0.9 else "unknown"
    if fp["dead_attention_layers"]:
        return "broken layer"
    if fp["test_acc"] >= 0.95 and fp["matching_score"] >= 0.9:
        return "content matching"
    if fp.get("shortcut_rate", 0) >= 0.8 and fp["test_acc"] < 0.2:
        return "residue shortcut"
    return "unknown"


def _mystery_evidence(name: str, fp: dict) -> str:
    parts = [f"train accuracy {fp['train_acc']:.2f}, test {fp['test_acc']:.2f}"]
    if "matching_score" in fp:
        parts.append(f"effective matching score {fp['matching_score']:.2f}")
    if "shortcut_rate" in fp:
        parts.append(f"{fp['shortcut_rate']:.0%} of its answers obey the training residue rule")
    if "peakiness" in fp:
        parts.append(f"peakiness {fp['peakiness'][0]:.2f} in the first layer, {fp['peakiness'][1]:.2f} in the second")
    if fp["dead_attention_layers"]:
        parts.append(f"attention output of layer(s) {fp['dead_attention_layers']} (counted from 0) is exactly zero")
    return f"mystery {name}: " + "; ".join(parts)


def check_mystery(answer: dict | None) -> bool | None:
    """answer: {"A": diagnosis, ...}, each one of MYSTERY_DIAGNOSES. A wrong diagnosis is
    answered with the measurements that contradict it (computed now, on fresh questions)."""
    from .experiments import MYSTERY_NAMES, load_mystery

    if _unanswered(answer):
        return None
    bad = {k: v for k, v in answer.items() if v not in MYSTERY_DIAGNOSES}
    if bad or set(answer) != set(MYSTERY_NAMES):
        return _verdict(False, "", f"give one of {list(MYSTERY_DIAGNOSES)} for each of {list(MYSTERY_NAMES)}; "
                                   f"got {answer}")
    wrong = []
    for name in MYSTERY_NAMES:
        if answer[name] != _MYSTERY_KEY[name]:
            model, questions = load_mystery(name)
            wrong.append(f"{_mystery_evidence(name, mystery_fingerprint(model, questions))}: "
                         f"that is not what '{answer[name]}' looks like")
    return _verdict(not wrong, "all four diagnoses are right", "\n   ".join(wrong))
