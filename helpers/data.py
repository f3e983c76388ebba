"""Data generators for both task families of the course.

Every generator is seeded and returns a `SeqData`: `inputs`, `targets` and a boolean `mask`
that says which positions carry the loss and the accuracy. One training loop serves both
families: the chain task scores its last position only, the iteration tasks every position
after the end-of-input token.

Paper A, multi-hop chains (`make_chain_data`): the dataset of the authors' public code (see
notebook 00 for the rules), plus the double-chain and with-order variants, whose exact formats
are our reconstruction.
Paper B, iteration tasks (`make_iteration_data`): copy, parity and polynomial iteration, with or
without chain-of-thought.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

# ----------------------------------------------------------------------------------------------
# Paper A: multi-hop chains over shuffled pairs
# ----------------------------------------------------------------------------------------------
CHAIN_VOCAB_SIZE = 201          # ids 0..200; 0 is padding and never occurs
PAD = 0
ID_TOKENS = (1, 99)             # inclusive range of in-distribution tokens
OOD_TOKENS = (101, 199)         # inclusive range of out-of-distribution tokens
OOD_SHIFT = 100
# test_ood draws its chains with every residue, as the authors' `data.py` (`task_single_chain`, mode
# "OOD", xuzhiqin1990/understanding_dl) does: the OOD tokens were never seen, so no pair rule applies.
RESIDUES = {"train": (0, 1, 4), "test_id": (2, 3), "test_ood": (0, 1, 2, 3, 4)}
CHAIN_SPLITS = tuple(RESIDUES)
CHAIN_VARIANTS = ("single", "double", "with_order", "noised_double", "with_order_after")
HOP_TOKEN_BASE = 200            # [ours] with_order: hop count k is token 200 + k
MAX_HOP_TOKEN = 6
DEFAULT_NODES = 7
HOP_TOKEN_VARIANTS = ("with_order", "with_order_after")


def chain_vocab_size(variant: str = "single") -> int:
    """201 for the paper's datasets; the with-order variant adds one token per hop count."""
    _check_choice("variant", variant, CHAIN_VARIANTS)
    return CHAIN_VOCAB_SIZE + (MAX_HOP_TOKEN if variant in HOP_TOKEN_VARIANTS else 0)


@dataclass
class SeqData:
    """A batch of sequences. Loss and accuracy use the positions where `mask` is True."""

    inputs: torch.Tensor   # [n, seq] token ids fed to the model
    targets: torch.Tensor  # [n, seq] token expected at each position (only read under mask)
    mask: torch.Tensor     # [n, seq] bool
    info: dict = field(default_factory=dict)  # per-sequence tensors (hops, lengths, chains, ...)

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def __getitem__(self, idx) -> "SeqData":
        pick = lambda t: t[idx] if isinstance(t, torch.Tensor) and t.ndim and len(t) == len(self) else t
        return SeqData(pick(self.inputs), pick(self.targets), pick(self.mask),
                       {k: pick(v) for k, v in self.info.items()})

    def to(self, device) -> "SeqData":
        move = lambda t: t.to(device) if isinstance(t, torch.Tensor) else t
        return SeqData(move(self.inputs), move(self.targets), move(self.mask),
                       {k: move(v) for k, v in self.info.items()})

    @property
    def labels(self) -> torch.Tensor:
        """Chain task: the answer token of each sequence (with chain-of-thought: the last step)."""
        return self.info["answer"] if "answer" in self.info else self.targets[:, -1]


def make_chain_data(n: int, hops: int | Sequence[int] = 1, split: str = "train", seed: int = 0,
                    n_nodes: int = DEFAULT_NODES, variant: str = "single", cot: bool = False) -> SeqData:
    """`n` k-hop questions over a shuffled chain (paper A).

    hops: an int, or several ints to mix (each sequence draws one uniformly).
    split: "train" (pair residues {0,1,4}), "test_id" (residues {2,3}: unseen pairs of seen
        tokens) or "test_ood" (chain from 101..199 with every residue 0..4, then the answer and its
        parent shifted down by 100 to ID tokens, as `task_single_chain` mode "OOD" in the authors'
        `data.py`).
    variant: "single" (the paper's dataset, `task_single_chain` in the authors' `data.py`);
        "noised_double" (the group's `task_noised_double_chain`: two chains, each with one
        distractor pair [noise, c_j] pointing into an interior node c_j, all pairs shuffled
        together, the question [c_{L-k}] of one chain, so the answer is always a chain's end;
        train / test_id only); "with_order_after" (the group's `task_single_chain_with_order`:
        the hop count k as a token *after* the start token). Our earlier reconstructions stay as
        named variants: "double" (two chains, no distractors, any start) and "with_order" (the
        hop token *before* the start token; notebooks 05 and 08 use it). Hop tokens are ids
        200 + k [ours]: the group's code writes k as a plain number, which collides with our
        token ids 1..99.
    cot: [ours] chain-of-thought (notebook 08): after the start token the sequence goes on with
        the whole path x_{i+1} .. x_{i+k}; inputs are the sequence minus its last token, targets
        the sequence shifted by one, and the mask covers the k path predictions (teacher forced;
        shorter paths are padded with PAD, never scored). The same seed asks the same questions
        with and without CoT. Single variant only: the path itself says how far to go.
    """
    _check_choice("split", split, CHAIN_SPLITS)
    _check_choice("variant", variant, CHAIN_VARIANTS)
    hop_set = _check_hops(hops, n_nodes)
    if n < 1:
        raise ValueError(f"n={n} must be at least 1")
    if cot and variant != "single":
        raise ValueError(f"cot=True needs variant='single', got variant={variant!r}")
    if variant in HOP_TOKEN_VARIANTS and max(hop_set) > MAX_HOP_TOKEN:
        raise ValueError(f"hops={max(hop_set)} has no hop token; {variant} allows 1..{MAX_HOP_TOKEN}")
    if variant == "noised_double" and split == "test_ood":
        raise ValueError("split='test_ood' is not defined for variant='noised_double'; allowed: ['train', 'test_id']")
    if variant == "noised_double" and n_nodes < 3:
        raise ValueError(f"n_nodes={n_nodes}: variant='noised_double' needs an interior node; allowed n_nodes >= 3")
    n_chains = 2 if variant in ("double", "noised_double") else 1
    low, high = OOD_TOKENS if split == "test_ood" else ID_TOKENS
    if n_chains * n_nodes > (high - low + 1) // 3:
        raise ValueError(f"n_nodes={n_nodes} is too long for {high - low + 1} tokens; "
                         f"allowed 2..{(high - low + 1) // (3 * n_chains)}")

    rng = np.random.default_rng([seed, CHAIN_SPLITS.index(split)])  # splits never share draws
    chains = _sample_chains(rng, n, n_chains, n_nodes, low, high, RESIDUES[split])
    k = rng.choice(hop_set, size=n)
    asked = rng.integers(0, n_chains, size=n)
    start = (rng.random(n) * (n_nodes - k)).astype(np.int64)   # uniform in 0..n_nodes-1-k
    rows = np.arange(n)
    if variant == "noised_double":   # the question ends at the chain's last node
        start = n_nodes - 1 - k

    if split == "test_ood":  # answer a and its parent b become ID tokens wherever they occur
        for offset in (0, -1):
            chains[rows, asked, start + k + offset] -= OOD_SHIFT

    pairs = np.stack([chains[:, :, :-1], chains[:, :, 1:]], axis=-1).reshape(n, -1, 2)
    extra = {}
    if variant == "noised_double":
        noise, into = _sample_distractors(rng, chains, low, high, RESIDUES[split])
        distractors = np.stack([noise, chains[rows[:, None], np.arange(n_chains)[None, :], into]], axis=-1)
        pairs = np.concatenate([pairs, distractors], axis=1)
        extra = {"noise": torch.from_numpy(noise), "noise_into": torch.from_numpy(into)}
    order = np.argsort(rng.random(pairs.shape[:2]), axis=1)
    pairs = np.take_along_axis(pairs, order[:, :, None], axis=1).reshape(n, -1)
    question = [chains[rows, asked, start][:, None]]
    if variant == "with_order":
        question.insert(0, (HOP_TOKEN_BASE + k)[:, None])
    if variant == "with_order_after":
        question.append((HOP_TOKEN_BASE + k)[:, None])
    tokens = torch.from_numpy(np.concatenate([pairs] + question, axis=1))
    labels = torch.from_numpy(chains[rows, asked, start + k])
    info = {"hops": torch.from_numpy(k), "start": torch.from_numpy(start),
            "chain": torch.from_numpy(chains[rows, asked]), "chains": torch.from_numpy(chains),
            "n_pairs": pairs.shape[1] // 2, **extra}
    if cot:
        return _with_chain_of_thought(tokens, chains[rows, asked], start, k, int(max(hop_set)), info)

    targets = torch.zeros_like(tokens)
    targets[:, -1] = labels
    mask = torch.zeros_like(tokens, dtype=torch.bool)
    mask[:, -1] = True
    return SeqData(tokens, targets, mask, info)


def _with_chain_of_thought(tokens, chain, start, k, max_hops, info) -> SeqData:
    """Append the path x_{i+1} .. x_{i+k} (PAD after it) and score every step of it."""
    n, question_pos = len(k), tokens.shape[1] - 1
    step = np.arange(1, max_hops + 1)[None, :]
    on_path = step <= k[:, None]
    path = np.where(on_path, np.take_along_axis(chain, np.minimum(start[:, None] + step, chain.shape[1] - 1), 1), PAD)
    seq = torch.cat([tokens, torch.from_numpy(path)], dim=1)
    mask = torch.zeros(n, seq.shape[1] - 1, dtype=torch.bool)
    mask[:, question_pos:] = torch.from_numpy(on_path)
    info = {**info, "answer": torch.from_numpy(chain[np.arange(n), start + k]), "question_pos": question_pos}
    return SeqData(seq[:, :-1].clone(), seq[:, 1:].clone(), mask, info)


def _sample_chains(rng, n, n_chains, n_nodes, low, high, residues) -> np.ndarray:
    """[n, n_chains, n_nodes] distinct tokens; each step uniform among allowed residues.

    Rejection sampling: a candidate is redrawn until its difference to the previous node has an
    allowed residue mod 5 and it is new to the row, so every allowed token is equally likely.
    """
    flat = np.zeros((n, n_chains * n_nodes), dtype=np.int64)
    for j in range(n_chains * n_nodes):
        pending = np.arange(n)
        while pending.size:
            cand = rng.integers(low, high + 1, size=pending.size)
            ok = ~(flat[pending, :j] == cand[:, None]).any(axis=1)
            if j % n_nodes:  # not the first node of a chain
                ok &= np.isin((cand - flat[pending, j - 1]) % 5, residues)
            flat[pending[ok], j] = cand[ok]
            pending = pending[~ok]
    return flat.reshape(n, n_chains, n_nodes)


def _sample_distractors(rng, chains, low, high, residues):
    """One distractor per chain (the group's `task_noised_double_chain`): a fresh token `noise`
    and an interior node index j in 1..n_nodes-2 such that the pair [noise, c_j] has an allowed
    residue. Returns (noise [n, n_chains], j [n, n_chains])."""
    n, n_chains, n_nodes = chains.shape
    into = rng.integers(1, n_nodes - 1, size=(n, n_chains))
    noise = np.zeros((n, n_chains), dtype=np.int64)
    taken = chains.reshape(n, -1)
    for c in range(n_chains):
        target = chains[np.arange(n), c, into[:, c]]
        pending = np.arange(n)
        while pending.size:
            cand = rng.integers(low, high + 1, size=pending.size)
            ok = ~(taken[pending] == cand[:, None]).any(axis=1) & ~(noise[pending, :c] == cand[:, None]).any(axis=1)
            ok &= np.isin((target[pending] - cand) % 5, residues)
            noise[pending[ok], c] = cand[ok]
            pending = pending[~ok]
    return noise, into


def pair_residues(data: SeqData) -> torch.Tensor:
    """(child - parent) mod 5 of every pair in the inputs, [n, n_pairs]."""
    n_pairs = int(data.info.get("n_pairs", data.info["chains"].shape[1] * (data.info["chains"].shape[2] - 1)))
    pairs = data.inputs[:, : 2 * n_pairs].reshape(len(data), n_pairs, 2)
    return (pairs[..., 1] - pairs[..., 0]) % 5


def follow_chain(tokens: Sequence[int], start: int, hops: int) -> int:
    """Brute-force answer: follow the pairs of one sequence `hops` times from `start`."""
    tokens = [int(t) for t in tokens]
    child = {}
    for parent, kid in zip(tokens[0::2], tokens[1::2]):
        if parent in child:
            raise ValueError(f"token {parent} has two children; not a chain")
        child[parent] = kid
    node = int(start)
    for _ in range(hops):
        node = child[node]
    return node


# ----------------------------------------------------------------------------------------------
# Paper B: iteration tasks with or without chain-of-thought
# ----------------------------------------------------------------------------------------------
ITER_VOCAB_SIZE = 64
ITER_TASKS = ("copy", "parity", "polynomial")
PREFIX = {"polynomial": 58, "parity": 59, "copy": 60}
BOS, EOI, EOS = 61, 62, 63
POLY_MODULUS = 11
ITER_SPLITS = ("train", "test")
MIN_DISJOINT_STRINGS = 16   # below this many strings of a length, train and test share them


def input_alphabet(task: str) -> np.ndarray:
    _check_choice("task", task, ITER_TASKS)
    return np.arange(1, POLY_MODULUS) if task == "polynomial" else np.arange(2)


def iterate_states(task: str, x: np.ndarray) -> np.ndarray:
    """States s_1..s_L of each row of `x` ([n, L]): the chain-of-thought the model writes."""
    _check_choice("task", task, ITER_TASKS)
    x = np.asarray(x)
    if task == "copy":
        return x.copy()
    if task == "parity":
        return np.cumsum(x, axis=1) % 2
    s = np.empty_like(x)
    s[:, 0] = x[:, 0]
    for t in range(1, x.shape[1]):
        s[:, t] = (s[:, t - 1] * x[:, t] + 1) % POLY_MODULUS
    return s


def overlapping_lengths(task: str, n_len: int, n_per_length: int = 1024) -> list[int]:
    """Lengths whose few possible strings are shared by train and test (too few to split)."""
    base = len(input_alphabet(task))
    return [L for L in range(1, n_len + 1) if base ** L < MIN_DISJOINT_STRINGS]


ITER_SPLIT_RULES = ("authors", "disjoint")


def make_iteration_data(task: str, split: str = "train", n_len: int = 16, cot: bool = True,
                        n_per_length: int = 1024, seed: int = 0,
                        lengths: Sequence[int] | None = None, split_rule: str = "authors") -> SeqData:
    """Sequences [prefix, x_1..x_L, EoI, y..., EoS...] for lengths 1..n_len mixed (paper B).

    With CoT the y's are every state s_1..s_L; without, only s_L. Sequences are padded with EoS
    to 2*n_len + 3 tokens; inputs are seq[:-1] and targets seq[1:]. The mask covers every
    position after EoI (the states and the EoS pads), as the authors' loss and accuracy do.

    split_rule="authors" (default) follows `src/cot/data/data_processing.py` of
    facebookresearch/pal: per length, 2 * n_per_length strings are drawn uniformly *with
    replacement* and split half/half, so a string can sit in both splits (every short one does:
    there are only 2**L parity strings of length L). split_rule="disjoint" [ours] keeps train and
    test strings of one length apart whenever at least 16 strings of that length exist
    (`overlapping_lengths` lists the others). The same seed gives the same strings with and
    without CoT.
    """
    _check_choice("task", task, ITER_TASKS)
    _check_choice("split", split, ITER_SPLITS)
    _check_choice("split_rule", split_rule, ITER_SPLIT_RULES)
    if n_len < 1:
        raise ValueError(f"n_len={n_len} must be at least 1")
    if n_per_length < 1:
        raise ValueError(f"n_per_length={n_per_length} must be at least 1")
    lengths = list(range(1, n_len + 1)) if lengths is None else [int(L) for L in lengths]
    bad = [L for L in lengths if not 1 <= L <= n_len]
    if bad:
        raise ValueError(f"lengths {bad} are outside the allowed range 1..n_len={n_len}")

    rng = np.random.default_rng(seed)
    seq_len = 2 * n_len + 3
    alphabet = input_alphabet(task)
    rows, lens = [], []
    for L in range(1, n_len + 1):  # every length draws, so a subset of lengths keeps its strings
        if split_rule == "authors":
            drawn = rng.choice(alphabet, size=(2 * n_per_length, L))
            x_train, x_test = drawn[:n_per_length], drawn[n_per_length:]
        else:
            x_train, x_test = _split_strings(rng, alphabet, L, n_per_length)
        if L not in lengths:
            continue
        x = x_train if split == "train" else x_test
        s = iterate_states(task, x)
        seq = np.full((len(x), seq_len), EOS, dtype=np.int64)
        seq[:, 0] = PREFIX[task]
        seq[:, 1:L + 1] = x
        seq[:, L + 1] = EOI
        if cot:
            seq[:, L + 2:2 * L + 2] = s
        else:
            seq[:, L + 2] = s[:, -1]
        rows.append(seq)
        lens.append(np.full(len(x), L))
    seq = torch.from_numpy(np.concatenate(rows))
    length = torch.from_numpy(np.concatenate(lens))
    positions = torch.arange(seq_len - 1)
    mask = positions[None, :] >= (length + 1)[:, None]
    info = {"lengths": length, "eoi_pos": length + 1}
    return SeqData(seq[:, :-1].clone(), seq[:, 1:].clone(), mask, info)


def _split_strings(rng, alphabet, L, n):
    """[ours] Train and test strings of length L, n each, disjoint when the space allows it."""
    space = len(alphabet) ** L
    if space >= 2 * n:
        strings = np.unique(rng.choice(alphabet, size=(4 * n, L)), axis=0)
        while len(strings) < 2 * n:  # only for spaces barely above 2n
            more = rng.choice(alphabet, size=(4 * n, L))
            strings = np.unique(np.concatenate([strings, more]), axis=0)
        strings = rng.permutation(strings)[: 2 * n]
        return strings[:n], strings[n:]
    every = np.array(list(itertools.product(alphabet, repeat=L)))
    if space < MIN_DISJOINT_STRINGS:
        return every[rng.integers(0, space, n)], every[rng.integers(0, space, n)]
    every = rng.permutation(every)
    train_pool, test_pool = every[: space // 2], every[space // 2:]
    return (train_pool[rng.integers(0, len(train_pool), n)],
            test_pool[rng.integers(0, len(test_pool), n)])


# ----------------------------------------------------------------------------------------------
# Rendering for students
# ----------------------------------------------------------------------------------------------
ITER_TOKEN_NAMES = {PREFIX["polynomial"]: "poly", PREFIX["parity"]: "parity",
                    PREFIX["copy"]: "copy", BOS: "BoS", EOI: "EoI", EOS: "EoS"}


def chain_token_labels(tokens: Sequence[int]) -> list[str]:
    """One label per position, for attention maps: token ids, hop tokens as 'k=2'."""
    return [f"k={t - HOP_TOKEN_BASE}" if t > HOP_TOKEN_BASE else str(int(t)) for t in tokens]


def iteration_token_labels(tokens: Sequence[int]) -> list[str]:
    return [ITER_TOKEN_NAMES.get(int(t), str(int(t))) for t in tokens]


def iteration_role_labels(tokens: Sequence[int]) -> list[str]:
    """Labels that say each position's role in a chain-of-thought sequence, for attention maps:
    'x3=7' for the third input, 'EoI', 's2=4' for the second state, 'EoS' for the pads, the task
    name first. (Without CoT the one token after EoI is s_L, and would be labelled 's1'.)"""
    names = iteration_token_labels(tokens)
    if "EoI" not in names:
        raise ValueError(f"no EoI token in {names}: iteration_role_labels needs a full sequence")
    eoi = names.index("EoI")
    return ([names[0]] + [f"x{t}={names[t]}" for t in range(1, eoi)] + ["EoI"]
            + [name if name == "EoS" else f"s{t}={name}" for t, name in enumerate(names[eoi + 1:], start=1)])


def decode_chain(tokens: Sequence[int], label: int | None = None) -> str:
    """'pairs: 12->17 40->41 ... | question: 12, 2 hops | answer: 23' for one sequence."""
    tokens = [int(t) for t in tokens]
    hop_at = next((i for i in (-1, -2) if len(tokens) % 2 == 0 and tokens[i] > HOP_TOKEN_BASE), None)
    hop_token = tokens[hop_at] if hop_at else None
    n_pair_tokens = len(tokens) - (2 if hop_token else 1)
    pairs = " ".join(f"{a}->{b}" for a, b in zip(tokens[0:n_pair_tokens:2], tokens[1:n_pair_tokens:2]))
    question = f"question: {tokens[-2] if hop_at == -1 else tokens[-1]}"
    if hop_token:
        question += f", {hop_token - HOP_TOKEN_BASE} hops"
    answer = "" if label is None else f" | answer: {int(label)}"
    return f"pairs: {pairs} | {question}{answer}"


def decode_iteration(tokens: Sequence[int]) -> str:
    """'parity | x: 1 0 1 | EoI | y: 1 1 0 | EoS x3' for one full sequence."""
    names = iteration_token_labels(tokens)
    eoi = names.index("EoI")
    tail = names[eoi + 1:]
    n_eos = 0
    while tail and tail[-1] == "EoS":
        tail.pop()
        n_eos += 1
    pads = f" | EoS x{n_eos}" if n_eos else ""
    return f"{names[0]} | x: {' '.join(names[1:eoi])} | EoI | y: {' '.join(tail)}{pads}"


def full_sequence(data: SeqData, i: int) -> list[int]:
    """Inputs of row i plus its last target: the whole sequence of an iteration example."""
    return data.inputs[i].tolist() + [int(data.targets[i, -1])]


# ----------------------------------------------------------------------------------------------
def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {list(allowed)}")


def _check_hops(hops, n_nodes: int) -> np.ndarray:
    if n_nodes < 2:
        raise ValueError(f"n_nodes={n_nodes} must be at least 2")
    hop_set = np.atleast_1d(np.asarray(hops, dtype=np.int64))
    if hop_set.size == 0:
        raise ValueError("hops is empty; give at least one hop count")
    for k in hop_set:
        if not 1 <= k <= n_nodes - 1:
            raise ValueError(f"hops={int(k)} is outside the allowed range 1..{n_nodes - 1} "
                             f"for a chain of n_nodes={n_nodes}")
    return hop_set


def with_pairs_reordered(data: SeqData, order: str = "random", seed: int = 0) -> SeqData:
    """The same questions with the pairs moved: `order="random"` re-shuffles them, `"chain"`
    puts them in chain order (first chain's pairs first). Tokens, answers and chains are kept;
    only the positions of the pairs change. [ours] Notebook 08's intervention: a model that
    finds the next node by content does not care; one that counts positions does."""
    _check_choice("order", order, ("random", "chain"))
    chains = data.info["chains"]
    n, n_chains, n_nodes = chains.shape
    n_pairs = n_chains * (n_nodes - 1)
    seq = torch.cat([data.inputs, data.targets[:, -1:]], dim=1)
    if order == "random":
        perm = torch.argsort(torch.rand(n, n_pairs, generator=torch.Generator().manual_seed(seed)), dim=1)
        pairs = seq[:, : 2 * n_pairs].reshape(n, n_pairs, 2)
        pairs = torch.gather(pairs, 1, perm[:, :, None].expand(-1, -1, 2))
    else:
        pairs = torch.stack([chains[:, :, :-1], chains[:, :, 1:]], dim=-1).reshape(n, n_pairs, 2)
    seq = seq.clone()
    seq[:, : 2 * n_pairs] = pairs.reshape(n, -1)
    return SeqData(seq[:, :-1].clone(), seq[:, 1:].clone(), data.mask.clone(), dict(data.info))
