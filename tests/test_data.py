import numpy as np
import pytest
import torch

from helpers.data import (EOI, EOS, OOD_SHIFT, PAD, PREFIX, decode_chain, decode_iteration,
                          iteration_role_labels,
                          follow_chain, full_sequence, iterate_states, make_chain_data,
                          make_iteration_data, overlapping_lengths, pair_residues,
                          with_pairs_reordered)


# ------------------------------------------------------------------ chain task
@pytest.mark.parametrize("variant,length", [("single", 13), ("double", 25), ("with_order", 14)])
def test_chain_shapes(variant, length):
    d = make_chain_data(50, hops=[1, 2, 3], variant=variant)
    assert d.inputs.shape == (50, length)
    assert d.mask.sum() == 50 and d.mask[:, -1].all()
    assert d.labels.shape == (50,)
    assert (d.inputs != 0).all(), "padding id 0 never occurs"


@pytest.mark.parametrize("split,allowed", [("train", {0, 1, 4}), ("test_id", {2, 3}), ("test_ood", {0, 1, 2, 3, 4})])
def test_pair_residues_follow_split(split, allowed):
    d = make_chain_data(2000, hops=2, split=split)
    assert set(pair_residues(d).unique().tolist()) == allowed


@pytest.mark.parametrize("variant", ["single", "double", "with_order"])
@pytest.mark.parametrize("split", ["train", "test_id", "test_ood"])
def test_labels_match_brute_force(split, variant):
    d = make_chain_data(300, hops=[1, 2, 3], split=split, variant=variant)
    n_pair_tokens = d.info["chains"].shape[1] * (d.info["chains"].shape[2] - 1) * 2
    for i in range(len(d)):
        pairs = d.inputs[i, :n_pair_tokens].tolist()
        answer = follow_chain(pairs, d.inputs[i, -1], int(d.info["hops"][i]))
        assert answer == d.labels[i]


def test_tokens_in_ranges_and_distinct():
    d = make_chain_data(500, hops=1, split="train")
    assert d.inputs.min() >= 1 and d.inputs.max() <= 99
    parents = d.inputs[:, 0:12:2]
    assert all(len(set(row.tolist())) == 6 for row in parents)


def test_ood_start_is_unseen_and_answer_is_shifted():
    train = make_chain_data(5000, hops=2, split="train")
    ood = make_chain_data(1000, hops=2, split="test_ood")
    start = ood.inputs[:, -1]
    assert start.min() >= 101 and start.max() <= 199
    assert not set(start.tolist()) & set(train.inputs.unique().tolist())
    assert (ood.labels <= 99).all(), "the answer is shifted down to an ID token"
    middle = ood.info["chain"][torch.arange(1000), ood.info["start"] + 1]
    assert (middle <= 99).all(), "the answer's parent is shifted too"
    n_id_tokens = (ood.inputs[:, :12] <= 99).sum(1)
    answer_has_child = (ood.info["start"] + 2) < 6
    assert torch.equal(n_id_tokens, 3 + answer_has_child.long()), "only a and b are ID tokens"


def test_ood_rule_rederived_from_generated_chains():
    """Authors' rule: OOD chains over 101..199 with every residue, then a and b shifted by -100."""
    ood = make_chain_data(3000, hops=[1, 2, 3], split="test_ood", seed=5)
    chain, start, k = ood.info["chain"].clone(), ood.info["start"], ood.info["hops"]
    rows = torch.arange(len(ood))
    answer_pos, parent_pos = start + k, start + k - 1
    assert (chain[rows, answer_pos] <= 99).all() and (chain[rows, parent_pos] <= 99).all()
    chain[rows, answer_pos] += 100
    chain[rows, parent_pos] += 100       # undo the shift: the whole chain is OOD again
    assert chain.min() >= 101 and chain.max() <= 199
    steps = (chain[:, 1:] - chain[:, :-1]) % 5
    assert set(steps.unique().tolist()) == {0, 1, 2, 3, 4}
    share = torch.bincount(steps.flatten(), minlength=5).float() / steps.numel()
    assert share.min() > 0.15, f"every residue about equally likely, got {share.tolist()}"


def test_hops_mixture_and_start_range():
    d = make_chain_data(3000, hops=[1, 3, 6])
    assert set(d.info["hops"].tolist()) == {1, 3, 6}
    assert ((d.info["start"] + d.info["hops"]) <= 6).all()


def test_longer_chain():
    d = make_chain_data(100, hops=10, n_nodes=12)
    assert d.inputs.shape == (100, 23)
    assert set(d.info["start"].tolist()) == {0, 1}
    assert all(follow_chain(d.inputs[i, :22].tolist(), d.inputs[i, -1], 10) == d.labels[i] for i in range(100))


def test_chain_deterministic_under_seed():
    a, b = make_chain_data(100, 2, seed=3), make_chain_data(100, 2, seed=3)
    c = make_chain_data(100, 2, seed=4)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.inputs, c.inputs)


@pytest.mark.parametrize("kwargs,message", [
    (dict(hops=7), "hops=7 is outside the allowed range 1..6"),
    (dict(hops=0), "hops=0 is outside the allowed range 1..6"),
    (dict(hops=4, n_nodes=4), "allowed range 1..3"),
    (dict(split="valid"), "split='valid' is not one of"),
    (dict(variant="triple"), "variant='triple' is not one of"),
    (dict(n_nodes=40), "n_nodes=40 is too long"),
    (dict(hops=[]), "hops is empty"),
])
def test_chain_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_chain_data(10, **kwargs)


def test_decode_chain():
    d = make_chain_data(1, hops=2, variant="with_order", seed=5)
    text = decode_chain(d.inputs[0], d.labels[0])
    assert text.count("->") == 6 and "2 hops" in text and f"answer: {int(d.labels[0])}" in text


# ------------------------------------------------------------------ iteration tasks
@pytest.mark.parametrize("task", ["copy", "parity", "polynomial"])
def test_iteration_states_match_brute_force(task):
    d = make_iteration_data(task, n_len=6, n_per_length=20)
    assert d.inputs.shape == (120, 2 * 6 + 2)
    for i in range(len(d)):
        seq = full_sequence(d, i)
        L = int(d.info["lengths"][i])
        x, states = seq[1:L + 1], seq[L + 2:2 * L + 2]
        s, expected = None, []
        for t, xt in enumerate(x):
            if task == "copy":
                s = xt
            elif task == "parity":
                s = (0 if t == 0 else s) ^ xt
            else:
                s = xt if t == 0 else (s * xt + 1) % 11
            expected.append(s)
        assert seq[0] == PREFIX[task] and seq[L + 1] == EOI
        assert states == expected
        assert set(seq[2 * L + 2:]) == {EOS}


def test_iteration_mask_covers_everything_after_eoi():
    d = make_iteration_data("parity", n_len=5, n_per_length=4)
    for i in range(len(d)):
        eoi = int(d.info["eoi_pos"][i])
        assert d.inputs[i, eoi] == EOI
        assert d.mask[i].tolist() == [j >= eoi for j in range(d.inputs.shape[1])]
        assert (d.targets[i, :-1] == d.inputs[i, 1:]).all()


def test_no_cot_keeps_only_the_final_state_and_same_strings():
    cot = make_iteration_data("polynomial", n_len=5, n_per_length=30, cot=True, seed=2)
    bare = make_iteration_data("polynomial", n_len=5, n_per_length=30, cot=False, seed=2)
    for i in range(len(cot)):
        L = int(cot.info["lengths"][i])
        full_cot, full_bare = full_sequence(cot, i), full_sequence(bare, i)
        assert full_cot[:L + 2] == full_bare[:L + 2]
        assert full_bare[L + 2] == full_cot[2 * L + 1]
        assert set(full_bare[L + 3:]) == {EOS}


@pytest.mark.parametrize("task", ["parity", "polynomial"])
def test_train_and_test_strings_disjoint_where_possible(task):
    n_len = 8
    train = make_iteration_data(task, "train", n_len=n_len, n_per_length=256, split_rule="disjoint")
    test = make_iteration_data(task, "test", n_len=n_len, n_per_length=256, split_rule="disjoint")
    shared = overlapping_lengths(task, n_len)
    for L in range(1, n_len + 1):
        a = {tuple(r[:L + 1].tolist()) for r in train.inputs[train.info["lengths"] == L]}
        b = {tuple(r[:L + 1].tolist()) for r in test.inputs[test.info["lengths"] == L]}
        assert bool(a & b) == (L in shared), f"length {L}"
    assert shared == ([1, 2, 3] if task == "parity" else [1])


def test_iteration_deterministic_and_seed_sensitive():
    a = make_iteration_data("polynomial", n_len=4, n_per_length=50, seed=1)
    b = make_iteration_data("polynomial", n_len=4, n_per_length=50, seed=1)
    c = make_iteration_data("polynomial", n_len=4, n_per_length=50, seed=2)
    assert torch.equal(a.inputs, b.inputs) and not torch.equal(a.inputs, c.inputs)


@pytest.mark.parametrize("kwargs,message", [
    (dict(task="sorting"), "task='sorting' is not one of"),
    (dict(task="parity", n_len=0), "n_len=0 must be at least 1"),
    (dict(task="parity", split="valid"), "split='valid' is not one of"),
    (dict(task="parity", n_len=4, lengths=[5]), r"lengths \[5\] are outside"),
])
def test_iteration_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_iteration_data(**kwargs)


def test_iterate_states_polynomial_example():
    assert iterate_states("polynomial", np.array([[3, 4, 10]])).tolist() == [[3, 2, 10]]


def test_decode_iteration():
    d = make_iteration_data("parity", n_len=3, n_per_length=2, seed=0)
    text = decode_iteration(full_sequence(d, 5))
    assert text.startswith("parity | x: ") and "| EoI | y: " in text and "EoS x" in text


def test_iteration_role_labels_name_inputs_states_and_pads():
    d = make_iteration_data("polynomial", "test", n_len=8, n_per_length=1, seed=0, lengths=[3])
    seq = full_sequence(d, 0)
    labels = iteration_role_labels(seq)
    assert len(labels) == len(seq) and labels[0] == "poly" and labels[4] == "EoI"
    x = [int(t) for t in seq[1:4]]
    states = iterate_states("polynomial", np.array([x]))[0].tolist()
    assert labels[1:4] == [f"x{t}={v}" for t, v in enumerate(x, start=1)]
    assert labels[5:8] == [f"s{t}={v}" for t, v in enumerate(states, start=1)]
    assert set(labels[8:]) <= {"EoS"}
    with pytest.raises(ValueError, match="EoI"):
        iteration_role_labels([1, 2, 3])


# ---------------------------------------------------------------------------------------------
# Chain-of-thought chains (notebook 08) and the pair-reordering intervention
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("split", ["train", "test_id", "test_ood"])
def test_cot_chain_targets_are_the_path(split):
    data = make_chain_data(300, [1, 2, 3, 4, 5, 6], split, seed=3, cot=True)
    q = data.info["question_pos"]
    assert q == 12 and data.inputs.shape[1] == 12 + 6
    for i in range(len(data)):
        k = int(data.info["hops"][i])
        seq = data.inputs[i].tolist() + [int(data.targets[i, -1])]
        start = seq[q]
        assert data.mask[i].nonzero().flatten().tolist() == list(range(q, q + k))
        path = [follow_chain(seq[:12], start, j) for j in range(1, k + 1)]
        assert data.targets[i, q:q + k].tolist() == path          # teacher forced: step j predicts x_{i+j}
        assert seq[q + 1:q + 1 + k] == path and set(seq[q + 1 + k:]) <= {PAD}
        assert int(data.labels[i]) == path[-1]


def test_cot_chain_asks_the_same_questions_as_without():
    cot = make_chain_data(200, [1, 2, 3], "test_id", seed=5, cot=True)
    plain = make_chain_data(200, [1, 2, 3], "test_id", seed=5)
    assert torch.equal(cot.inputs[:, :13], plain.inputs) and torch.equal(cot.labels, plain.labels)


def test_cot_needs_the_single_variant():
    with pytest.raises(ValueError, match="cot=True needs variant='single'"):
        make_chain_data(10, 2, cot=True, variant="with_order")


@pytest.mark.parametrize("order", ["random", "chain"])
def test_pairs_reordered_keep_pairs_and_answers(order):
    data = make_chain_data(200, [1, 2, 3], "test_id", seed=2, cot=True)
    moved = with_pairs_reordered(data, order, seed=1)
    pairs = lambda d: [sorted(map(tuple, row[:12].reshape(6, 2).tolist())) for row in d.inputs]
    assert pairs(moved) == pairs(data) and not torch.equal(moved.inputs, data.inputs)
    assert torch.equal(moved.inputs[:, 12:], data.inputs[:, 12:]) and torch.equal(moved.targets[:, 11:], data.targets[:, 11:])
    if order == "chain":
        chain = data.info["chain"]
        assert torch.equal(moved.inputs[:, 0:12:2], chain[:, :-1]) and torch.equal(moved.inputs[:, 1:12:2], chain[:, 1:])
    with pytest.raises(ValueError, match="order='sorted' is not one of"):
        with_pairs_reordered(data, "sorted")


# ---------------------------------------------------------------------------------------------
# The group's harder datasets, as their generators build them
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("split,allowed", [("train", {0, 1, 4}), ("test_id", {2, 3})])
def test_noised_double_chain_rules(split, allowed):
    data = make_chain_data(400, [1, 2, 3], split, seed=6, variant="noised_double")
    chains, noise, into = data.info["chains"], data.info["noise"], data.info["noise_into"]
    n_nodes = chains.shape[2]
    assert data.inputs.shape[1] == 4 * (n_nodes - 1) + 5                 # 2L + 2 pairs, then the start
    assert set(pair_residues(data).unique().tolist()) <= allowed
    for i in range(len(data)):
        pairs = data.inputs[i, :-1].reshape(-1, 2).tolist()
        expected = [[int(c[j]), int(c[j + 1])] for c in chains[i] for j in range(n_nodes - 1)]
        expected += [[int(noise[i, c]), int(chains[i, c, into[i, c]])] for c in range(2)]
        assert sorted(pairs) == sorted(expected)                          # chains + one distractor each
        assert all(1 <= int(j) <= n_nodes - 2 for j in into[i])           # into an interior node
        tokens = data.inputs[i, :-1].tolist()
        assert len(set(tokens) - set(chains[i].flatten().tolist())) == 2  # two fresh noise tokens
        k, start = int(data.info["hops"][i]), int(data.inputs[i, -1])
        assert int(data.labels[i]) == int(data.info["chain"][i, -1])     # the answer is a chain's end
        assert follow_chain(tokens, start, k) == int(data.labels[i])
    with pytest.raises(ValueError, match="test_ood' is not defined for variant='noised_double'"):
        make_chain_data(10, 1, "test_ood", variant="noised_double")


def test_with_order_after_puts_the_hop_token_last():
    data = make_chain_data(300, [1, 2, 3, 4], "train", seed=2, variant="with_order_after")
    before = make_chain_data(300, [1, 2, 3, 4], "train", seed=2, variant="with_order")
    k = data.info["hops"]
    assert torch.equal(data.inputs[:, -1], 200 + k) and torch.equal(data.inputs[:, -2], before.inputs[:, -1])
    assert torch.equal(data.labels, before.labels)
    for i in range(len(data)):
        assert follow_chain(data.inputs[i, :12].tolist(), int(data.inputs[i, -2]), int(k[i])) == int(data.labels[i])
    assert decode_chain(data.inputs[0].tolist()).endswith(f"question: {int(data.inputs[0, -2])}, {int(k[0])} hops")


def test_mixed_hops_cover_every_hop_count():
    for variant in ("noised_double", "with_order_after"):
        data = make_chain_data(600, [1, 2, 3], "train", seed=1, variant=variant)
        assert set(data.info["hops"].tolist()) == {1, 2, 3}
