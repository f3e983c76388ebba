"""Paper B as the authors built it: their data rule, metrics and model (issue 11)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import helpers.analysis as A
import helpers.experiments as X
from helpers.data import EOI, make_iteration_data
from helpers.model import ModelConfig
from helpers.train import TrainConfig, evaluate, make_model, train


def _strings(data, L):
    return [tuple(r) for r in data.inputs[data.info["lengths"] == L, 1:L + 1].tolist()]


def test_authors_rule_draws_with_replacement_and_splits_in_half():
    train_d = make_iteration_data("parity", "train", n_len=10, n_per_length=512, seed=0)
    test_d = make_iteration_data("parity", "test", n_len=10, n_per_length=512, seed=0)
    for L in (1, 4, 10):
        tr, te = _strings(train_d, L), _strings(test_d, L)
        assert len(tr) == len(te) == 512
        if L <= 4:          # few strings exist: drawn with replacement, both halves hold all of them
            assert set(tr) == set(te) == set(map(tuple, np.ndindex(*(2,) * L)))
        seen = np.mean([x in set(tr) for x in te])
        # with replacement the chance that a test string is in the training half is 1-(1-2^-L)^512
        assert seen == pytest.approx(1 - (1 - 2.0 ** -L) ** 512, abs=0.06)
    # the disjoint variant keeps long strings apart
    dis_tr = make_iteration_data("parity", "train", n_len=10, n_per_length=512, seed=0, split_rule="disjoint")
    dis_te = make_iteration_data("parity", "test", n_len=10, n_per_length=512, seed=0, split_rule="disjoint")
    assert not set(_strings(dis_tr, 10)) & set(_strings(dis_te, 10))


def test_split_rule_is_checked():
    with pytest.raises(ValueError, match="split_rule='random' is not one of"):
        make_iteration_data("parity", split_rule="random")


def _literal_peakiness(model, data):
    """A second, loop-by-loop reading of `attention_metrics` in the authors' evals/cot.py."""
    out = {0: [], 1: []}
    _, cache = model.run_with_cache(data.inputs)
    for L in sorted(set(data.info["lengths"].tolist())):
        hits = {0: [], 1: []}
        for i in torch.nonzero(data.info["lengths"] == L).flatten().tolist():
            eoi = data.inputs[i].tolist().index(EOI)
            eos = 2 * eoi
            for q in range(eoi + 1, eos):
                hits[0].append(float(cache["pattern", 0][i, 0, q, eoi]) > 0.5)
            for j, q in enumerate(range(eoi, eos - 1)):
                hits[1].append(float(cache["pattern", 1][i, 0, q, 1 + j]) > 0.5)
        for layer in (0, 1):
            out[layer].append(np.mean(hits[layer]))
    return {layer: float(np.mean(v)) for layer, v in out.items()}


def _iter_model():
    return make_model(ModelConfig(vocab_size=64, seq_len=2 * 6 + 2, n_layers=2, d_model=32, d_ff=64,
                                  norm="pre_stream", ln_bias=False, init="torch"), seed=0)


def test_peakiness_is_one_for_a_perfect_head_and_zero_for_uniform_attention():
    data = make_iteration_data("polynomial", "test", n_len=6, n_per_length=8, seed=1)
    model = _iter_model()
    with A.iteration_head_by_hand(model, EOI):
        perfect = A.iteration_attention_metrics(model, data)
        assert _literal_peakiness(model, data) == {0: 1.0, 1: 1.0}
    assert perfect["peaky"] == (1.0, 1.0) and perfect["invariance"] == (1.0, 1.0)

    def uniform(pattern, hook):
        T = pattern.shape[-1]
        causal = torch.tril(torch.ones(T, T))
        return (causal / causal.sum(-1, keepdim=True)).expand_as(pattern).clone()

    with A.iteration_head_by_hand(model, EOI, layers=(1,)):   # layer 2 set by hand, layer 1 the model's own
        half = _literal_peakiness(model, data)
    assert half[1] == 1.0 and half[0] == _literal_peakiness(model, data)[0] < 1.0
    for bad in ((), (2,), (0, 3)):
        with pytest.raises(ValueError, match="layers="):
            with A.iteration_head_by_hand(model, EOI, layers=bad):
                pass

    hooks = [(f"blocks.{layer}.attn.hook_pattern", uniform) for layer in (0, 1)]
    with model.hooks(hooks):
        flat = A.iteration_attention_metrics(model, data, min_length=2)
    assert flat["peaky"] == (0.0, 0.0)
    assert flat["mean"][0] < 0.2 and flat["invariance"] == pytest.approx((1.0, 1.0))


def test_peakiness_matches_a_literal_reading_of_the_authors_code():
    data = make_iteration_data("polynomial", "test", n_len=6, n_per_length=6, seed=2)
    model = _iter_model()
    with torch.no_grad():   # sharpen a random model so that some weights pass 0.5
        for block in model.blocks:
            block.attn.W_Q *= 6
    ours = A.peakiness(model, data)
    assert ours == pytest.approx(_literal_peakiness(model, data))
    assert 0 < ours[0] + ours[1] < 2
    with pytest.raises(ValueError, match="min_length=7"):
        A.peakiness(model, data, min_length=7)


def test_pre_stream_block_is_the_authors_block_and_has_no_ln_bias():
    model = _iter_model().eval()
    names = [n for n, _ in model.named_parameters()]
    assert not any(".ln" in n and n.endswith("bias") for n in names) and "ln_final.weight" in names
    block = model.blocks[0]
    x = torch.randn(3, 5, 32)
    with torch.no_grad():
        normed = F.layer_norm(x, (32,), block.ln1.weight)
        mid = normed + block.attn(normed)
        want = mid + block.mlp(F.layer_norm(mid, (32,), block.ln2.weight))
        assert torch.allclose(block(x), want, atol=1e-5)
        gpt2 = ModelConfig(vocab_size=64, seq_len=14, n_layers=2, d_model=32, d_ff=64, norm="pre")
        other = make_model(gpt2, seed=0).blocks[0]
        other.load_state_dict(block.state_dict(), strict=False)
        assert not torch.allclose(other(x), want, atol=1e-3)   # GPT-2's block keeps x on the residual


def test_authors_config_and_frozen_positions():
    cfg = X.AUTHORS_ITER_MODEL
    assert (cfg.n_layers, cfg.n_heads, cfg.d_model, cfg.d_ff, cfg.activation) == (2, 1, 128, 512, "gelu")
    assert (cfg.norm, cfg.ln_bias, cfg.bias, cfg.dropout, cfg.seq_len) == ("pre_stream", False, False, 0.1, 34)
    t = X.AUTHORS_ITER_TRAIN
    assert (t.optimizer, t.lr, t.batch_size, t.shuffle, t.steps) == ("adam", 3e-4, 256, False, 64_000)
    model = make_model(ModelConfig(vocab_size=64, seq_len=14, n_layers=2, d_model=16, d_ff=32, norm="pre_stream",
                                   freeze_pos=True, init="torch"), seed=0)
    before = model.pos_embed.weight.detach().clone()
    data = make_iteration_data("copy", n_len=6, n_per_length=16)
    train(model, data, cfg=TrainConfig(steps=5, batch_size=16, lr=1e-2, optimizer="adam", eval_every=5), progress=False)
    assert torch.equal(model.pos_embed.weight, before)
    assert not torch.equal(model.embed.weight, make_model(model.cfg, seed=0).embed.weight)


def test_unshuffled_training_takes_batches_in_data_order():
    data = make_iteration_data("parity", n_len=4, n_per_length=8, seed=0)
    cfg = ModelConfig(vocab_size=64, seq_len=10, n_layers=2, d_model=16, d_ff=32, norm="pre_stream", init="torch")
    tc = TrainConfig(steps=1, batch_size=8, lr=1e-2, optimizer="adam", warmup_steps=0, schedule="constant",
                     grad_clip=None, eval_every=1, shuffle=False)
    ordered, first_batch = make_model(cfg, seed=0), make_model(cfg, seed=0)
    train(ordered, data, cfg=tc, progress=False)
    train(first_batch, data[:8], cfg=tc, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(ordered.parameters(), first_batch.parameters()))
    assert (data.info["lengths"][:8] == 1).all()     # the first batch holds length 1 only, as theirs


def test_per_length_sample_covers_every_length():
    data = make_iteration_data("parity", n_len=8, n_per_length=64, seed=0)
    sample = X.per_length_sample(data, 5)
    assert sorted(sample.info["lengths"].tolist()) == sorted(list(range(1, 9)) * 5)
    with pytest.raises(ValueError, match="train_eval_rows='middle'"):
        TrainConfig(train_eval_rows="middle")


def _tiny_iteration16(monkeypatch, steps: int, eval_every: int) -> ModelConfig:
    """The n_len-16 sweep shrunk to n_len 5, d_model 16 and a few steps (a CPU test's size)."""
    tiny = ModelConfig(vocab_size=64, seq_len=12, n_layers=2, n_heads=1, d_model=16, d_ff=64, activation="gelu",
                       norm="pre_stream", ln_bias=False, init="torch", bias=False, unembed_bias=False)
    monkeypatch.setattr(X, "AUTHORS_N_LEN", 5)
    monkeypatch.setattr(X, "AUTHORS_ITER_MODEL", tiny)
    monkeypatch.setattr(X, "ITER16_TRAIN", TrainConfig(steps=steps, batch_size=64, lr=1e-3, optimizer="adam",
                                                       warmup_steps=0, schedule="constant", eval_every=eval_every,
                                                       shuffle=False, train_eval_rows="spread", eval_size=100))
    return tiny


def test_iteration16_sweep_records_and_transfer(tmp_path, monkeypatch):
    tiny = _tiny_iteration16(monkeypatch, steps=4, eval_every=2)
    monkeypatch.setattr(X, "ITER16_PRETRAIN_STEPS", 3)
    first, then = X.iteration16_cells(seeds=(0,))
    assert len(first) == 7 and len(then) == 2
    pre = next(c for c in first if c["kind"] == "pretrain")
    record = X._iteration16_run(pre, tmp_path)
    assert record["history"]["steps"][-1] == 3
    assert set(record["acc_by_length"]) == {1, 2, 3, 4, 5} and len(record["peakiness"]) == 2
    pretrained, _ = X.load_checkpoint(tmp_path / f"{X.cell_key(pre)}.pt", expected=tiny)
    X._iteration16_run(then[1], tmp_path)   # finetune_mlp2: only the layer-2 MLP moves
    tuned, _ = X.load_checkpoint(tmp_path / f"{X.cell_key(then[1])}.pt", expected=tiny)
    for (name, a), b in zip(pretrained.state_dict().items(), tuned.state_dict().values()):
        moved = not torch.equal(a.half().float(), b)   # the fine-tuned copy is stored in fp16
        assert moved == name.startswith("blocks.1.mlp."), name
    one_layer = {"kind": "control", "task": "parity", "cot": True, "seed": 0, "n_layers": 1, "d_model": 8}
    control = X._iteration16_run(one_layer, tmp_path)
    assert control["model_config"]["n_layers"] == 1 and control["model_config"]["d_model"] == 8
    assert control["peakiness"] is None
    assert {c.get("n_layers", 2) for c in X.iteration16_control_cells()} == {1, 2}
    with pytest.raises(ValueError, match="kind='distill' is not one of"):
        X._iteration16_run({"kind": "distill", "task": "parity", "cot": True, "seed": 0}, tmp_path)


def test_iteration16_seeds_trained_together_match_one_by_one(tmp_path, monkeypatch):
    """`--together`: seeds of one setting trained as one vmapped model give the records that
    training them one by one gives (no dropout here, so up to floating-point order)."""
    from helpers.sweep import run_path, run_sweep_together, seed_groups
    _tiny_iteration16(monkeypatch, steps=6, eval_every=3)
    cells = [{"kind": "scratch", "task": "parity", "cot": True, "seed": s} for s in (0, 1)]
    alone = [X._iteration16_run(c, tmp_path / "alone") for c in cells]
    records = run_sweep_together(X._iteration16_group, cells, tmp_path / "together", group_size=10, progress=False)
    assert all(run_path(tmp_path / "together", c).exists() for c in cells)
    assert all(X._iteration16_weights(c, tmp_path / "together").exists() for c in cells), "weights go to run_dir"
    for a, b in zip(alone, records):
        assert b["history"]["steps"] == a["history"]["steps"] == [3, 6]
        assert b["history"]["train_loss"] == pytest.approx(a["history"]["train_loss"], rel=1e-4)
        assert {int(k): v for k, v in b["acc_by_length"].items()} == pytest.approx(a["acc_by_length"], abs=0.02)
        assert b["peakiness"] == pytest.approx(a["peakiness"], abs=0.02)
    assert [len(g) for g in seed_groups(cells + [{**cells[0], "cot": False}], size=1)] == [1, 1, 1]
    assert [len(g) for g in seed_groups(cells + [{**cells[0], "cot": False}], size=10)] == [2, 1]


def test_iteration16_order_control_shuffles_batches(tmp_path, monkeypatch):
    """The data-order control [ours] trains on shuffled batches for its own budget; every other
    cell keeps the authors' order; a bad order is refused before any training."""
    _tiny_iteration16(monkeypatch, steps=4, eval_every=2)
    monkeypatch.setattr(X, "ITER16_SHUFFLED_STEPS", 6)
    monkeypatch.setattr(X, "ITER16_FINETUNE_EARLY_EVAL", (1, 3))
    cells = X.iteration16_order_cells(seeds=(0,))
    assert sorted(c["task"] for c in cells) == ["parity", "polynomial"]
    assert all(c in X.iteration16_control_cells() for c in X.iteration16_order_cells())
    shuffled = X._iteration16_run(next(c for c in cells if c["task"] == "parity"), tmp_path)
    assert shuffled["train_config"]["shuffle"] is True and shuffled["history"]["steps"][-1] == 6
    authors = X._iteration16_run({"kind": "scratch", "task": "parity", "cot": True, "seed": 0}, tmp_path)
    assert authors["train_config"]["shuffle"] is False and authors["history"]["steps"][-1] == 4
    with pytest.raises(ValueError, match="order='random' is not one of"):
        X._iteration16_run({**cells[0], "order": "random"}, tmp_path)
    # transfer inside the control: from that seed's shuffled polynomial run, only the layer-2 MLP moves
    source = next(c for c in cells if c["task"] == "polynomial")
    tune = next(c for c in X.iteration16_order_transfer_cells(seeds=(0,)) if c["kind"] == "finetune_mlp2")
    assert X.iteration16_finetune_source(tune) == source
    X._iteration16_run(source, tmp_path)
    tuned = X._iteration16_run(tune, tmp_path)
    assert tuned["train_config"]["shuffle"] is True
    assert tuned["history"]["steps"] == [1, 2, 3, 4, 6], "fine-tunings are evaluated densely at first"
    assert X._iteration16_run(source, tmp_path / "again")["history"]["steps"] == [2, 4, 6], "scratch runs are not"
    before, _ = X.load_checkpoint(tmp_path / f"{X.cell_key(source)}.pt")
    after, _ = X.load_checkpoint(tmp_path / f"{X.cell_key(tune)}.pt")
    for (name, a), b in zip(before.state_dict().items(), after.state_dict().values()):
        assert (not torch.equal(a, b)) == name.startswith("blocks.1.mlp."), name


def test_the_shipped_n_len_16_model_has_an_iteration_head():
    """Issue 11 asks for the head to be checked independently of the course's metric code: the
    loop-by-loop reading above, on 40 test strings of every length 4..16."""
    model, meta = X.load_iteration16_polynomial()
    assert meta["command"] == "python -m helpers.experiments iteration16_polynomial"
    data = X.per_length_sample(make_iteration_data("polynomial", "test", n_len=16, seed=meta["task"]["seed"]), 40)
    data = data[torch.nonzero(data.info["lengths"] >= X.MIN_TEST_LENGTH).flatten()]
    literal = _literal_peakiness(model, data)
    assert literal[1] >= 0.9 and literal[1] == pytest.approx(meta["peakiness"][1], abs=0.03)
    assert literal[0] == pytest.approx(meta["peakiness"][0], abs=0.05)
    assert evaluate(model, data)["acc"] >= 0.95


def _record(task, seed, accs, peak2=0.95, kind="control"):
    """A finished n_len-16 record with the given accuracy at lengths 4..16 (str keys, as in JSON)."""
    return {"task": task, "cot": True, "seed": seed, "kind": kind, "order": "shuffled", "peakiness": [0.5, peak2],
            "acc_by_length": {str(L): a for L, a in zip(range(4, 17), accs)}}


def test_emergence_table_counts_seeds_against_issue_11s_bar():
    good, weak_long = [1.0] * 13, [1.0] * 12 + [0.8]
    assert X.mean_accuracy_over_lengths(_record("parity", 0, weak_long)) == pytest.approx((12 + 0.8) / 13)
    assert X.worst_length_accuracy({"acc_by_length": {L: 0.5 + L / 100 for L in range(1, 17)}}) == pytest.approx(0.54)
    sweep = {"runs": [_record("polynomial", 0, good), _record("polynomial", 1, good, peak2=0.5),   # no head
                      _record("parity", 0, good), _record("parity", 1, weak_long),               # one length below 0.9
                      _record("parity", 0, good, kind="finetune_full")],
             "in_progress": [{"task": "polynomial", "cot": True, "seed": 2, "kind": "control", "order": "shuffled"}]}
    rows = {r["task"]: r for r in X.iteration16_emergence(sweep)}
    assert rows["polynomial"] == {"task": "polynomial", "cot": True, "finished": [0, 1], "reached": [0], "failed": [1],
                                  "training": [2]}
    assert rows["parity"]["reached"] == [0] and rows["parity"]["failed"] == [1]
    transfer = X.iteration16_transfer_runs(sweep)
    assert [r["seed"] for r in transfer["scratch"]] == [0, 1] and transfer["finetune_mlp2"] == []
    no_cot, one_layer = {**_record("polynomial", 5, good), "cot": False}, {**_record("polynomial", 6, good), "n_layers": 1}
    sources = X.iteration16_polynomial_sources({"runs": sweep["runs"] + [no_cot, one_layer]})
    assert sorted(sources) == [0, 1] and all(r["cot"] for r in sources.values()), "a fine-tuning's source: the main line only"
    assert [(a["seed"], b["kind"]) for a, b in X.paired_by_seed(transfer["scratch"], transfer["finetune_full"])] == [
        (0, "finetune_full")]


def test_mean_std_band_holds_stopped_runs_at_their_last_value():
    from helpers.plots import carried_forward
    from helpers.train import History
    long = History(steps=[16, 32, 48], acc={"test": [0.2, 0.6, 1.0]})
    short = History(steps=[16, 32], acc={"test": [0.4, 0.99]})
    steps, curves = carried_forward([long, short])
    assert steps.tolist() == [16, 32, 48] and curves[1].tolist() == [0.4, 0.99, 0.99]
    with pytest.raises(ValueError, match="different schedules"):
        carried_forward([long, History(steps=[10, 20], acc={"test": [0.1, 0.2]})])


def test_iteration16_order_trains_each_fine_tuning_once_its_source_is_done(tmp_path, monkeypatch):
    _tiny_iteration16(monkeypatch, steps=2, eval_every=2)
    monkeypatch.setattr(X, "ITER16_SHUFFLED_STEPS", 2)
    monkeypatch.setattr(X, "ITER16_ORDER_SEEDS", (0,))
    monkeypatch.setattr(X, "ITER16_DIR", tmp_path / "runs")
    path = X.make_iteration16_sweep(tmp_path / "sweep.json", workers=1, only="order")
    sweep = X.load_sweep(path)
    assert sorted((r["kind"], r["task"], r["cot"]) for r in sweep["runs"]) == [
        ("control", "copy", False), ("control", "copy", True), ("control", "parity", False), ("control", "parity", True),
        ("control", "polynomial", False), ("control", "polynomial", True), ("finetune_full", "parity", True),
        ("finetune_mlp2", "parity", True)], "the main line and its transfer, then the tasks without CoT and copy"
    assert X.iteration16_needs(next(c for c in X.iteration16_order_transfer_cells((0,)))) == X.ITER16_SHIPPED_CELL
    assert [r["seed"] for r in X.iteration16_transfer_runs(sweep)["finetune_mlp2"]] == [0]


def test_iteration16_controls_and_the_grouped_order_sweep(tmp_path, monkeypatch):
    """`iteration16_controls` trains the authors' three controls on shuffled batches (the width x
    length cells on their own budget); `iteration16_order --together` trains each task's seeds as
    one group, then the fine-tunings of the finished polynomial runs, then the tasks without CoT."""
    _tiny_iteration16(monkeypatch, steps=4, eval_every=2)
    monkeypatch.setattr(X, "ITER16_SHUFFLED_STEPS", 4)
    monkeypatch.setattr(X, "ITER16_SCALING_STEPS", 2)
    monkeypatch.setattr(X, "ITER16_SCALING", {"d_model": (8,), "n_len": (4,)})
    monkeypatch.setattr(X, "ITER16_CONTROL_SEEDS", (0,))
    monkeypatch.setattr(X, "ITER16_ORDER_SEEDS", (0, 1))
    monkeypatch.setattr(X, "ITER16_FINETUNE_EARLY_EVAL", (1, 2))
    monkeypatch.setattr(X, "ITER16_DIR", tmp_path / "runs")
    sweep = X.load_sweep(X.make_iteration16_sweep(tmp_path / "controls.json", workers=1, only="controls"))
    assert len(sweep["runs"]) == len(X.iteration16_authors_controls()) == 5 and all(X.is_authors_control(r) for r in sweep["runs"])
    for r in sweep["runs"]:
        assert r["order"] == "shuffled" and r["train_config"]["shuffle"]
        assert r["history"].steps[-1] == (2 if "d_model" in r else 4)
        assert (r["peakiness"] is None) == ("n_layers" in r)
    assert X.iteration16_emergence(sweep) == [], "the controls are not the emergence table's runs"
    sweep = X.load_sweep(X.make_iteration16_sweep(tmp_path / "order.json", workers=1, together=2, only="order"))
    kinds = sorted((r["kind"], r["task"], r["cot"], r["seed"]) for r in sweep["runs"] if not X.is_authors_control(r))
    assert kinds == sorted([("control", t, cot, s) for s in (0, 1) for t, cot in
                            (("polynomial", True), ("parity", True), ("parity", False), ("polynomial", False),
                             ("copy", True), ("copy", False))]
                           + [(k, "parity", True, s) for s in (0, 1) for k in ("finetune_full", "finetune_mlp2")])
    assert not list((tmp_path / "runs").glob("*.partial.pt")), "a finished run leaves no mid-run checkpoint"
    rows = {(r["task"], r["cot"]): r for r in X.iteration16_emergence(sweep)}
    assert rows[("polynomial", True)]["finished"] == [0, 1] and rows[("copy", False)]["finished"] == [0, 1]


def test_a_group_cut_off_mid_run_is_resumed_together(tmp_path, monkeypatch):
    """A vmapped group stopped at step 4 (a lease's deadline) leaves one mid-run checkpoint per
    run; the next `run_sweep_together` resumes them together, as one-by-one training would have gone."""
    from helpers.sweep import partial_path, run_sweep_together
    from helpers.together import train_together
    _tiny_iteration16(monkeypatch, steps=4, eval_every=2)
    monkeypatch.setattr(X, "train_together", lambda *a, **k: train_together(*a, **{**k, "checkpoint_every_s": 0}))
    cells = [{"kind": "scratch", "task": "parity", "cot": True, "seed": s} for s in (0, 1)]
    X._iteration16_group(cells, run_dir=tmp_path / "cut")                 # the group "ran out of time" at step 4
    assert all(partial_path(tmp_path / "cut", c).exists() for c in cells)
    _tiny_iteration16(monkeypatch, steps=6, eval_every=2)                 # the same runs, their full budget
    alone = [X._iteration16_run(c, tmp_path / "alone") for c in cells]
    records = run_sweep_together(X._iteration16_group, cells, tmp_path / "cut", group_size=10, progress=False)
    for a, b in zip(alone, records):
        assert b["history"]["steps"] == a["history"]["steps"] == [2, 4, 6]
        assert b["history"]["train_loss"] == pytest.approx(a["history"]["train_loss"], rel=1e-3)
    assert not list((tmp_path / "cut").glob("*.partial.pt"))
