"""Every exercise checker accepts the reference answer, rejects a wrong one, and treats the
notebook's placeholder as "not attempted" (so a notebook runs top to bottom untouched)."""
import numpy as np
import pytest
import torch

from helpers import exercises as E
from helpers import experiments as X
from helpers.data import make_iteration_data


def stub(*_):
    raise NotImplementedError


def test_follow_chain(capsys):
    assert E.check_follow_chain(E.solution_follow_chain, n=50) is True
    assert E.check_follow_chain(lambda pairs, start, k: dict(pairs)[start], n=50) is False  # always 1 hop
    assert E.check_follow_chain(stub) is None
    assert "not attempted" in capsys.readouterr().out


def test_matching_matrix(capsys):
    model, _ = X.load_chain_2hop()
    model = model.cpu()
    assert E.check_matching_matrix(E.solution_matching_matrix, model) is True
    assert E.check_matching_matrix(lambda m, t: E.solution_matching_matrix(m, t).T, model) is False
    assert "transposed" in capsys.readouterr().out
    assert E.check_matching_matrix(lambda m, t: m.embed.weight[t] @ m.embed.weight[t].T, model) is False
    assert E.check_matching_matrix(lambda m, t: E.solution_matching_matrix(m, torch.arange(1, 100)), model) is False
    assert E.check_matching_matrix(stub, model) is None


# ---- 01 · the datasets ----
def test_ood_tokens_prediction(capsys):
    right = {"id_tokens_1hop": 2, "id_tokens_2hops": 2, "start_is_id_1hop": True}
    assert E.ood_question_facts(seed=0) == right
    assert E.check_ood_tokens_prediction(right) is True
    # the natural slip: "for 1 hop only the answer is shifted, the start stays OOD"
    assert E.check_ood_tokens_prediction({**right, "id_tokens_1hop": 1, "start_is_id_1hop": False}) is False
    assert "for 1 hop the start token is the answer's parent" in capsys.readouterr().out
    assert E.check_ood_tokens_prediction({**right, "id_tokens_3hops": 2}) is False
    assert E.check_ood_tokens_prediction(dict.fromkeys(right)) is None


def _answer_and_parent(tokens, k):
    pairs = list(zip(tokens[0:-1:2], tokens[1:-1:2]))
    return E.solution_follow_chain(pairs, tokens[-1], k), E.solution_follow_chain(pairs, tokens[-1], k - 1)


def test_ood_shift(capsys):
    assert E.check_ood_shift(E.solution_ood_shift) is True

    def answer_only(tokens, k):
        answer, _ = _answer_and_parent(tokens, k)
        return [t - 100 if t == answer else t for t in tokens]

    def start_not_parent(tokens, k):
        answer, _ = _answer_and_parent(tokens, k)
        return [t - 100 if t in (answer, tokens[-1]) else t for t in tokens]

    def first_occurrence_only(tokens, k):
        out = list(tokens)
        for node in _answer_and_parent(tokens, k):
            out[out.index(node)] -= 100
        return out

    for wrong, message in [(answer_only, "not its parent"), (start_not_parent, "you shifted the start token"),
                           (first_occurrence_only, "EVERY occurrence"), (lambda t, k: t[:-1], "all 13 tokens")]:
        assert E.check_ood_shift(wrong) is False
        assert message in capsys.readouterr().out
    assert E.check_ood_shift(stub) is None


def test_iteration_sequence(capsys):
    from helpers import data as D
    for task in D.ITER_TASKS:                  # the reference writes what the generator writes
        for cot in (True, False):
            d = D.make_iteration_data(task, n_len=8, cot=cot, n_per_length=2, seed=3)
            for i in range(len(d)):
                seq, L = D.full_sequence(d, i), int(d.info["lengths"][i])
                assert E.solution_iteration_sequence(task, seq[1:L + 1], cot, 8) == seq
    assert E.check_iteration_sequence(E.solution_iteration_sequence) is True

    def poly_from_zero(task, xs, cot, n_len):  # s_1 = (0 * x_1 + 1) mod 11 instead of x_1
        if task != "polynomial":
            return E.solution_iteration_sequence(task, xs, cot, n_len)
        states = E._recursion_from(xs, 0)
        seq = [D.PREFIX[task], *xs, D.EOI, *(states if cot else states[-1:])]
        return seq + [D.EOS] * (2 * n_len + 3 - len(seq))

    for wrong, message in [(lambda task, xs, cot, n: E.solution_iteration_sequence(task, xs, True, n), "only the last"),
                           (lambda task, xs, cot, n: E.solution_iteration_sequence(task, xs, cot, n)[:2 * len(xs) + 2],
                            "pad the end with EoS"),
                           (poly_from_zero, "s_1 = x_1")]:
        assert E.check_iteration_sequence(wrong) is False
        assert message in capsys.readouterr().out
    assert E.check_iteration_sequence(stub) is None


# ---- 02 · the matching mechanism ----
def test_two_hop_ood_prediction(capsys):
    truth = "above" if E.two_hop_ood_accuracy() > 0.5 else "below"
    assert truth == "below"                    # the shipped model: a few percent (notebook 02, section 5)
    assert E.check_two_hop_ood_prediction(truth) is True
    assert E.check_two_hop_ood_prediction("above") is False
    assert E.check_two_hop_ood_prediction("0.9") is False
    assert E.check_two_hop_ood_prediction(None) is None


def test_ablation_prediction():
    accs = E.ablation_accuracies()
    worst = min(accs, key=accs.get)
    assert worst == 2                          # only layer 2 brings the answer to the last position
    assert E.check_ablation_prediction(worst) is True
    assert E.check_ablation_prediction(0) is False
    assert E.check_ablation_prediction(3) is False
    assert E.check_ablation_prediction(None) is None


def test_hops_of_top_key(capsys):
    assert E.check_hops_of_top_key(E.solution_hops_of_top_key) is True
    solution = E.solution_hops_of_top_key
    for wrong, message in [(lambda p, t, c, s: p.argmax(-1), "key positions"),
                           (lambda p, t, c, s: solution(p, t, c, s) + s, "subtract the start"),
                           (lambda p, t, c, s: solution(p, t, c, s) + 1, "off by one"),
                           (lambda p, t, c, s: p.argmax(0), "shape")]:
        assert E.check_hops_of_top_key(wrong) is False
        assert message in capsys.readouterr().out
    assert E.check_hops_of_top_key(stub) is None


def test_init_ln_prediction():
    assert E.check_init_ln_prediction(E.solution_init_ln_prediction()) is True
    flipped = {cell: not v for cell, v in E.solution_init_ln_prediction().items()}
    assert E.check_init_ln_prediction(flipped) is False
    assert E.check_init_ln_prediction({("post", 1.0): True, ("pre", 1.0): None}) is None
    assert E.check_init_ln_prediction({("sideways", 1.0): True}) is False


def test_offdiagonal_ratio():
    assert E.check_offdiagonal_ratio(E.solution_offdiagonal_ratio) is True
    assert E.check_offdiagonal_ratio(lambda d, s, seed: E.solution_offdiagonal_ratio(d, s, seed) * s) is False
    assert E.check_offdiagonal_ratio(stub) is None


def test_layer2_prediction():
    model, _ = X.load_parallel_best()
    truth = E.layer2_offset_on_one_hop(model.cpu())
    assert truth == 0, "notebook 05's folded solution says layer 2 rests on the start node's slot"
    assert E.check_layer2_prediction(truth, model.cpu()) is True
    assert E.check_layer2_prediction(truth + 1, model.cpu()) is False
    assert E.check_layer2_prediction(None, model) is None


# ---- 06 · iteration heads ----
def test_sequence_accuracy(capsys):
    assert E.check_sequence_accuracy(E.solution_sequence_accuracy) is True

    def per_token(p, t, eoi):
        scored = torch.arange(t.shape[1])[None, :] >= eoi[:, None]
        return (p == t)[scored].float().mean().item()

    for wrong, message in [(per_token, "averaged over tokens"),
                           (lambda p, t, eoi: (p == t).all(dim=1).float().mean().item(), "before EoI"),
                           (lambda p, t, eoi: "all", "one number"),
                           (lambda p, t, eoi: 1.0, "expected")]:
        assert E.check_sequence_accuracy(wrong) is False                  # fresh random batches
        assert E.check_sequence_accuracy(wrong, seed=0) is False
        assert message in capsys.readouterr().out.splitlines()[-1]
    assert E.check_sequence_accuracy(stub) is None


def test_sequence_accuracy_matches_the_course_metric():
    """The exercise's reference agrees with `sequence_correct`, behind every iteration run's accuracy."""
    from helpers.train import sequence_correct
    predictions, targets, eoi = E._sequence_accuracy_batch(np.random.default_rng(3))
    data = make_iteration_data("polynomial", "test", n_len=8, n_per_length=2, seed=0)   # only for its mask's rule
    mask = torch.arange(targets.shape[1])[None, :] >= eoi[:, None]
    logits = torch.nn.functional.one_hot(predictions, num_classes=int(predictions.max()) + 1).float()
    course = sequence_correct(logits, type(data)(targets, targets, mask, {"eoi_pos": eoi})).float().mean().item()
    want = E.solution_sequence_accuracy(predictions, targets, eoi)
    assert 0 < want < 1 and want == pytest.approx(course)
    assert torch.equal(data.mask, torch.arange(data.targets.shape[1])[None, :] >= data.info["eoi_pos"][:, None])


def test_layer2_targets(capsys):
    assert E.check_layer2_targets(E.solution_layer2_targets) is True

    def one_late(tokens, eoi):                # points at x_k instead of x_{k+1}
        t = E.solution_layer2_targets(tokens, eoi)
        return torch.where(t >= 0, t - 1, t)

    def with_last(tokens, eoi):               # also gives the query that predicts EoS a target
        eoi_pos = (tokens == eoi).int().argmax(dim=1, keepdim=True)
        q = torch.arange(tokens.shape[1])[None, :]
        return torch.where((q >= eoi_pos) & (q <= 2 * eoi_pos - 1), q - eoi_pos + 1, -1)

    def layer1(tokens, eoi):
        t = E.solution_layer2_targets(tokens, eoi)
        eoi_pos = (tokens == eoi).int().argmax(dim=1, keepdim=True)
        return torch.where(t >= 0, eoi_pos.expand_as(t), t)

    for wrong, message in [(one_late, "off by one"), (with_last, "predicts EoS"), (layer1, "layer 1's target"),
                           (lambda tokens, eoi: E.solution_layer2_targets(tokens, eoi).T, "shape")]:
        assert E.check_layer2_targets(wrong) is False
        assert E.check_layer2_targets(wrong, seed=0) is False
        assert message in capsys.readouterr().out.splitlines()[-1]
    assert E.check_layer2_targets(stub) is None


def test_peakiness():
    assert E.check_peakiness(E.solution_peakiness) is True
    assert E.check_peakiness(lambda p, q, k: (p[q][:, k] > 0.5).float().mean().item()) is False
    assert E.check_peakiness(lambda p, q, k: p[q, k].mean().item()) is False      # mean weight, not a fraction
    assert E.check_peakiness(stub) is None


def test_parity_prediction():
    truth = E.parity_outcomes()
    assert truth == E.solution_parity_prediction()
    assert E.check_parity_prediction(truth) is True
    assert E.check_parity_prediction({name: True for name in truth}) is False     # "CoT solves every length"
    assert E.check_parity_prediction({"CoT, length 8": True}) is False
    assert E.check_parity_prediction({name: None for name in truth}) is None


# ---- 07 · transfer ----
def test_speedup(capsys):
    assert E.check_speedup(E.solution_speedup) is True

    def ignores_censoring(scratch, finetune, threshold):      # a censored run counted as if it had finished
        f = finetune.steps_to("test", threshold)
        return (None, False) if f is None else (scratch.steps[-1] / f if scratch.steps_to("test", threshold) is None
                                                else scratch.steps_to("test", threshold) / f, False)

    def drops_censored(scratch, finetune, threshold):
        s, f = scratch.steps_to("test", threshold), finetune.steps_to("test", threshold)
        return (None, False) if s is None or f is None else (s / f, False)

    def inverted(scratch, finetune, threshold):
        ratio, bound = E.solution_speedup(scratch, finetune, threshold)
        return (None if ratio is None else 1 / ratio), bound

    def fixed_budget(scratch, finetune, threshold):           # a censored run counted as 4,000 steps
        ratio, bound = E.solution_speedup(scratch, finetune, threshold)
        return (4000 / finetune.steps_to("test", threshold), True) if bound else (ratio, bound)

    def last_crossing(scratch, finetune, threshold):           # the last step above, not the first
        last = lambda h: max((s for s, a in zip(h.steps, h.acc["test"]) if a >= threshold), default=None)
        s, f = last(scratch), last(finetune)
        if f is None:
            return None, False
        return (scratch.steps[-1] / f, True) if s is None else (s / f, False)

    for wrong, message in [(ignores_censoring, "lower bound"), (drops_censored, "bounds the speed-up"),
                           (inverted, "Inverted"),
                           (lambda *a: E._speedup_variant(*a, reached=np.greater), ">=, not >"),
                           (fixed_budget, "own last step"), (last_crossing, "FIRST")]:
        assert E.check_speedup(wrong) is False
        assert E.check_speedup(wrong, seed=0) is False
        assert message in capsys.readouterr().out.splitlines()[-1]
    assert E.check_speedup(stub) is None


def test_train_only_layer2_mlp(capsys):
    assert E.check_train_only_layer2_mlp(E.solution_train_only_layer2_mlp) is True

    def loose_prefix(model):                  # also unfreezes blocks.10, blocks.11 of a deep model
        for name, p in model.named_parameters():
            p.requires_grad_(name.startswith("blocks.1") and "mlp" in name)
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    def counts_tensors(model):
        E.solution_train_only_layer2_mlp(model)
        return sum(1 for p in model.parameters() if p.requires_grad)

    def only_freezes(model):                  # never switches the MLP back on
        for name, p in model.named_parameters():
            if not name.startswith("blocks.1.mlp."):
                p.requires_grad_(False)
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    for wrong, message in [(loose_prefix, "blocks.10"), (counts_tensors, "numel"), (only_freezes, "explicitly")]:
        assert E.check_train_only_layer2_mlp(wrong) is False
        assert E.check_train_only_layer2_mlp(wrong, seed=0) is False
        assert message in capsys.readouterr().out.splitlines()[-1]
    assert E.check_train_only_layer2_mlp(stub) is None


def test_transfer_prediction():
    assert E.fastest_pretraining() == "polynomial"
    truth = E.transfer_outcomes()
    assert truth == E.solution_transfer_prediction()
    assert E.check_transfer_prediction(truth) is True
    assert E.check_transfer_prediction({**truth, "faster pretraining": "copy"}) is False
    assert E.check_transfer_prediction({**truth, "faster pretraining": "parity"}) is False
    assert E.check_transfer_prediction({**truth, "copy: median under 100 steps": True}) is False
    assert E.median_finetune_steps()["copy"] >= 100 > E.median_finetune_steps()["polynomial"]
    assert E.check_transfer_prediction({"faster pretraining": "polynomial"}) is False
    assert E.check_transfer_prediction({k: None for k in truth}) is None


def test_shortcut_rate(capsys):
    assert E.check_shortcut_rate(E.solution_shortcut_rate) is True
    in_context_only = lambda inputs, answers: (inputs[:, :-1] == answers[:, None]).any(1).float().mean().item()
    assert E.check_shortcut_rate(in_context_only) is False
    assert "residue rule" in capsys.readouterr().out
    assert E.check_shortcut_rate(stub) is None


def test_init_weight(capsys):
    assert E.check_init_weight(E.solution_init_weight) is True
    normal = lambda shape, fan_in, gamma, g: torch.randn(shape, generator=g) * (6 / fan_in) ** gamma / 3 ** 0.5
    assert E.check_init_weight(normal) is False
    assert "uniform" in capsys.readouterr().out
    exponent_on_fan_in = lambda shape, fan_in, gamma, g: (2 * torch.rand(shape, generator=g) - 1) * 6 / fan_in ** gamma
    assert E.check_init_weight(exponent_on_fan_in) is False
    assert E.check_init_weight(stub) is None


def test_diagonal_share_prediction(capsys):
    truth = E.solution_diagonal_share_prediction()
    assert truth == "most" and 0.75 <= E.diagonal_share() < 0.999
    assert E.diagonal_win_rate(1024) == 1.0
    assert E.check_diagonal_share_prediction(truth) is True
    assert E.check_diagonal_share_prediction("all") is False
    assert "measured" in capsys.readouterr().out
    assert E.check_diagonal_share_prediction("nearly all") is False
    assert E.check_diagonal_share_prediction(None) is None


def test_noise_prediction():
    truth = E.solution_noise_prediction()
    assert set(truth) == {"both", "qk", "vo"} and truth["both"] == "faster"
    assert E.check_noise_prediction(truth) is True
    flipped = {**truth, "vo": "faster" if truth["vo"] != "faster" else "slower"}
    assert E.check_noise_prediction(flipped) is False
    assert E.check_noise_prediction({"both": "quicker", "qk": "same", "vo": "same"}) is False
    assert E.check_noise_prediction({"both": None, "qk": None, "vo": None}) is None


def test_unmatched_prediction():
    truth = E.solution_unmatched_prediction()
    assert set(truth) == {0.5, 1.0} and set(truth.values()) <= {"faster", "slower", "same"}
    assert E.check_unmatched_prediction(truth) is True
    flipped = {**truth, 0.5: "faster" if truth[0.5] != "faster" else "slower"}
    assert E.check_unmatched_prediction(flipped) is False
    assert E.check_unmatched_prediction({0.5: "same"}) is False
    assert E.check_unmatched_prediction({0.5: None, 1.0: None}) is None


def test_depth2_best_hop():
    sweep = X.load_sweep(X.DATA_DIR / "parallel_sweep.json")
    truth = E.depth2_best_hop(sweep)
    depth2 = [r for r in sweep["runs"] if r["depth"] == 2]
    assert all(r["acc_by_hop"]["test_id"][str(truth)] >= r["acc_by_hop"]["test_id"]["1"] for r in depth2)
    assert E.check_depth2_best_hop(truth, sweep) is True
    assert E.check_depth2_best_hop(1, sweep) is False
    assert E.check_depth2_best_hop(None, sweep) is None


def test_largest_hops_solved(capsys):
    assert E.check_largest_hops_solved(E.solution_largest_hops_solved) is True
    best_passing = lambda acc, threshold: max([k for k, v in acc.items() if v >= threshold], default=0)
    assert E.check_largest_hops_solved(best_passing) is False
    assert "every hop count" in capsys.readouterr().out
    assert E.check_largest_hops_solved(stub) is None
    for acc in ({1: 0.99, 2: 0.2, 3: 0.99}, {}, {1: 0.96}):
        assert E.solution_largest_hops_solved(acc) == X.largest_hops_solved(acc)


# ---- 08 · chain-of-thought against the depth bound ----
def test_cot_depth_prediction(capsys):
    truth = E.cot_depth_outcomes()
    assert E.check_cot_depth_prediction(dict(truth)) is True
    assert E.check_cot_depth_prediction({**truth, (2, True): 1}) is False          # "CoT cannot beat L - 1"
    assert "(2, True): 1 vs 6" in capsys.readouterr().out
    assert E.check_cot_depth_prediction({(2, True): 6}) is False
    assert E.check_cot_depth_prediction({cell: None for cell in truth}) is None


def test_reshuffle_pairs(capsys):
    assert E.check_reshuffle_pairs(E.solution_reshuffle_pairs) is True

    def token_shuffle(inputs, n_pairs, g):                  # moves tokens, splitting pairs
        out = inputs.clone()
        perm = torch.argsort(torch.rand(len(inputs), 2 * n_pairs, generator=g), dim=1)
        out[:, :2 * n_pairs] = torch.gather(inputs[:, :2 * n_pairs], 1, perm)
        return out

    assert E.check_reshuffle_pairs(token_shuffle) is False
    assert "pairs were split" in capsys.readouterr().out

    def whole_row(inputs, n_pairs, g):                       # also moves the question (a random permutation
        return inputs.roll(1, dims=1)                        # of the row could leave it in place by chance)

    assert E.check_reshuffle_pairs(whole_row) is False
    assert "question" in capsys.readouterr().out
    assert E.check_reshuffle_pairs(lambda inputs, n_pairs, g: inputs.clone()) is False
    assert "nothing moved" in capsys.readouterr().out

    def one_permutation(inputs, n_pairs, g):                 # the same order for every row
        perm = torch.roll(torch.randperm(n_pairs, generator=g), 1)   # never the identity (a random one
        perm = perm if not torch.equal(perm, torch.arange(n_pairs)) else torch.roll(perm, 1)  # can be: 1 in 720)
        pairs = inputs[:, :2 * n_pairs].reshape(len(inputs), n_pairs, 2)[:, perm]
        return torch.cat([pairs.reshape(len(inputs), -1), inputs[:, 2 * n_pairs:]], dim=1)

    assert E.check_reshuffle_pairs(one_permutation) is False
    assert "same permutation" in capsys.readouterr().out

    def half_the_rows(inputs, n_pairs, g):                   # leaves every other row untouched
        out = E.solution_reshuffle_pairs(inputs, n_pairs, g)
        out[::2] = inputs[::2]
        return out

    assert E.check_reshuffle_pairs(half_the_rows) is False
    assert "of the rows changed" in capsys.readouterr().out
    assert E.check_reshuffle_pairs(lambda inputs, n_pairs, g: E.solution_reshuffle_pairs(inputs, n_pairs, None)) is False
    assert "draw from `generator`" in capsys.readouterr().out
    assert E.check_reshuffle_pairs(stub) is None


def test_intervention_prediction(capsys):
    content = {"acc_pairs_in_chain_order": 0.99, "follows_new_token": 0.98, "keeps_old_path": 0.0}
    right = {"chain_order_still_solved": True, "follows_redirected_token": True}
    assert E.check_intervention_prediction(right, content) is True
    assert E.check_intervention_prediction({**right, "follows_redirected_token": False}, content) is False
    positional = {"acc_pairs_in_chain_order": 0.2, "follows_new_token": 0.1, "keeps_old_path": 0.8}
    assert E.check_intervention_prediction(right, positional) is False
    assert E.check_intervention_prediction({"chain_order_still_solved": None,
                                            "follows_redirected_token": None}, content) is None


def test_mystery_checker(capsys):
    key = {"A": "residue shortcut", "B": "iteration head", "C": "broken layer", "D": "content matching"}
    assert E.check_mystery(key) is True
    assert E.check_mystery({**key, "A": "content matching"}) is False
    out = capsys.readouterr().out
    assert "mystery A" in out and "obey the training residue rule" in out and "mystery B" not in out
    assert E.check_mystery({**key, "C": "dead"}) is False
    assert E.check_mystery({name: None for name in key}) is None


@pytest.mark.parametrize("name", ["A", "B", "C", "D"])
def test_each_mystery_is_diagnosable_by_measurement(name):
    """The intended diagnosis is the one the course's measurements give, on fresh questions."""
    model, questions = X.load_mystery(name)
    fingerprint = E.mystery_fingerprint(model, questions)
    assert E.solution_diagnose(fingerprint) == E._MYSTERY_KEY[name], fingerprint


def test_shrink_prediction(capsys):
    run = E.widest_ladder_run()
    truth = run["interventions"]["by_ratio"]["0.05"]
    assert E.check_shrink_prediction(truth) is True
    assert E.check_shrink_prediction(min(1.0, truth + 0.3) if truth < 0.5 else truth - 0.3) is False
    assert f"d_model {run['d_model']}" in capsys.readouterr().out
    assert E.check_shrink_prediction(1.5) is False and E.check_shrink_prediction(None) is None


def test_shared_norm_rows(capsys):
    assert E.check_shared_norm_rows(E.solution_shared_norm_rows) is True
    assert E.check_shared_norm_rows(lambda rows, g: rows / rows.norm(dim=-1, keepdim=True)) is False
    assert "expected all" in capsys.readouterr().out
    assert E.check_shared_norm_rows(lambda rows, g: g * rows / rows.norm()) is False            # one norm for the whole matrix
    flipped = lambda rows, g: E.solution_shared_norm_rows(rows.flip(0), g)                      # right norms, wrong rows
    assert E.check_shared_norm_rows(flipped) is False and "changed direction" in capsys.readouterr().out

    def stub(rows, g):
        raise NotImplementedError
    assert E.check_shared_norm_rows(stub) is None
