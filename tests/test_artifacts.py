"""Every shipped artifact in data/ loads, carries the config that made it, and says true things."""
from dataclasses import replace

import pytest
import torch

from helpers import DATA_DIR
from helpers import experiments as X
from helpers.model import ModelConfig
from helpers.data import make_chain_data
from helpers.train import accuracy_by, evaluate, load_checkpoint


def shipped_files():
    """Every file of data/ that the course ships. Per-run weights of the big sweeps and mid-run
    checkpoints are sweep internals, outside this budget: most stay local (.gitignore); the
    n_len-16 data-order control keeps its polynomial runs (what its fine-tunings start from) and its
    mid-run checkpoints in git so that the next session resumes them."""
    local = {"width_ladder", "parallel_sweep", "parallel_depth3", "iteration_sweep", "init_ln_2hop", "iteration16", "iteration16_100ep", "noise5_sweep", "authors_chain"}
    return [p for p in DATA_DIR.rglob("*") if p.is_file() and not p.name.endswith(".partial.pt")
            and not (p.parent.name in local and p.suffix == ".pt")]


def test_data_folder_stays_small():
    """A Colab clone stays quick: every file a few MB at most, the folder under 15 MB (raised from
    10 MB for the shared-norm 2-hop model, 0.9 MB, the one that answers never-seen tokens, then from
    12 MB for the n_len-16 sweep's records, 20 polynomial seeds: ~8 KB a run plus the aggregate,
    then from 14 MB for the 5-layer matched-pair model, 0.6 MB, whose pairs read each other)."""
    sizes = {p.relative_to(DATA_DIR).as_posix(): p.stat().st_size for p in shipped_files()}
    assert max(sizes.values()) < 3.5 * 2**20, f"largest: {max(sizes, key=sizes.get)}"
    assert sum(sizes.values()) < 15 * 2**20, f"data/ holds {sum(sizes.values()) / 2**20:.1f} MB; keep it under 15 MB"


def test_every_artifact_has_a_command_and_a_readme_row():
    readme = (DATA_DIR / "README.md").read_text()
    for name in X.ARTIFACTS:
        assert f"python -m helpers.experiments {name}" in readme


def test_chain_2hop_checkpoint():
    model, meta = X.load_chain_2hop()
    assert meta["command"] == "python -m helpers.experiments chain_2hop"
    assert meta["task"]["hops"] == 2 and meta["train_config"]["seed"] == meta["task"]["seed"]
    evals = X.chain_eval_sets(2)
    for split, data in evals.items():
        assert evaluate(model, data)["acc"] == pytest.approx(meta["results"][split], abs=1e-3)
    assert meta["results"]["test_id"] >= 0.99
    assert meta["history"]["acc"]["test_id"][-1] == meta["results"]["test_id"]
    other = ModelConfig(**{**X.CHAIN_2HOP_MODEL.to_dict(), "n_layers": 4})
    with pytest.raises(ValueError, match=r"n_layers=3 \(expected 4\)"):
        load_checkpoint(DATA_DIR / "chain_2hop.pt", expected=other)


def test_init_ln_sweep():
    sweep = X.load_sweep(DATA_DIR / "init_ln_sweep.json")
    assert sweep["command"] == "python -m helpers.experiments init_ln_sweep"
    assert ModelConfig.from_dict(sweep["model_config"]) == X.CHAIN_1HOP_MODEL
    grid = sweep["grid"]
    assert tuple(grid["gamma"]) == X.SWEEP_GAMMAS and len(grid["gamma"]) >= 9, "dense enough for the slider"
    cells = {(r["norm"], r["gamma"], r["seed"]) for r in sweep["runs"]}
    assert cells == {(n, g, s) for n in grid["norm"] for g in grid["gamma"] for s in grid["seed"]}
    for run in sweep["runs"]:
        history = run["history"]
        assert history.steps[-1] == sweep["train_config"]["steps"]
        assert all(history.final(split) == value for split, value in run["final"].items())
        assert all(0 <= v <= 1 for v in run["matching_scores"].values())


def test_noise_sweep():
    sweep = X.load_sweep(DATA_DIR / "noise_sweep.json")
    assert sweep["command"] == "python -m helpers.experiments noise_sweep"
    cells = [{k: r[k] for k in ("hops", "sigma", "target", "seed")} for r in sweep["runs"]]
    assert cells == X.noise_cells()
    assert tuple(sweep["sigmas"]) == X.NOISE_SIGMAS and tuple(sweep["targets"]) == X.NOISE_TARGETS
    assert {r["sigma"] for r in sweep["runs"] if r["hops"] == 2} == {0.0, 1.0}
    for run in sweep["runs"]:
        assert all(run["history"].final(split) == value for split, value in run["final"].items())


def test_polynomial_checkpoint():
    model, meta = X.load_polynomial_checkpoint()
    assert meta["command"] == "python -m helpers.experiments iteration_polynomial"
    assert meta["task"]["task"] == "polynomial" and meta["task"]["cot"]
    test = X.iteration_eval_sets("polynomial", seed=meta["task"]["seed"])["test"]
    assert evaluate(model, test)["acc"] == pytest.approx(meta["results"]["test"], abs=1e-3)
    assert meta["results"]["test"] >= 0.95


def test_iteration_sweep():
    sweep = X.load_sweep(DATA_DIR / "iteration_sweep.json")
    assert sweep["command"] == "python -m helpers.experiments iteration_sweep"
    assert ModelConfig.from_dict(sweep["model_config"]) == X.ITER_MODEL
    scratch = [r for r in sweep["runs"] if r["kind"] == "scratch"]
    assert {(r["task"], r["cot"]) for r in scratch} == {("polynomial", True), ("parity", True), ("parity", False)}
    finetune = [r for r in sweep["runs"] if r["kind"] == "finetune"]
    assert {(r["pretrain"], r["mode"]) for r in finetune} == {(p, m) for p in ("polynomial", "copy")
                                                             for m in ("all", "layer2_mlp")}
    for run in finetune:
        assert run["history"].steps[-1] <= sweep["finetune_config"]["steps"]
    for run in scratch:
        assert set(run["acc_by_length"]) == {str(L) for L in range(1, sweep["n_len"] + 1)}


@pytest.mark.parametrize("name", list(X.PARALLEL_SWEEPS))
def test_parallel_sweeps(name):
    spec = X.PARALLEL_SWEEPS[name]
    sweep = X.load_sweep(DATA_DIR / f"{name}.json")
    assert sweep["command"] == f"python -m helpers.experiments {name}"
    assert ModelConfig.from_dict(sweep["model_config"]) == spec.model_config(spec.depths[0])
    assert {(r["depth"], r["seed"]) for r in sweep["runs"]} == {(d, s) for d in spec.depths for s in spec.seeds}
    for run in sweep["runs"]:
        acc = run["acc_by_hop"]["test_id"]
        assert sorted(map(int, acc)) == list(spec.hops)
        assert run["largest_solved"] == X.largest_hops_solved(acc)
        assert run["history"].steps[-1] <= sweep["train_config"]["steps"]
    model, meta = X.load_parallel_best(name)
    assert meta["command"] == sweep["command"]
    data = X.chain_eval_sets(list(spec.hops), spec.n_nodes, "with_order")["test_id"]
    measured = accuracy_by(model, data, "hops")
    for k, value in meta["results"]["test_id"].items():
        assert measured[int(k)] == pytest.approx(value, abs=2e-3)   # held-out data, recomputed here
    assert X.largest_hops_solved(measured) == meta["largest_solved"]


@pytest.mark.parametrize("name", ["init_ln_sweep", "noise_sweep", "chain_cot_sweep", "width_ladder", "noise5_sweep"])
def test_resumable_sweep_is_assembled_from_its_run_files(name):
    """data/runs/NAME/ holds one file per run, and the aggregate holds exactly those runs: a
    teacher who re-runs the command after an interruption trains nothing that is already there."""
    import json

    sweep = json.loads((DATA_DIR / f"{name}.json").read_text())
    files = sorted((X.RUNS_DIR / name).glob("*.json"))
    assert len(files) == len(sweep["runs"])
    by_file = {p.name: json.loads(p.read_text()) for p in files}
    keys = (("dataset", "sigma", "target", "layer", "seed") if name == "noise5_sweep"   # its records also say n_layers
            else ("hops", "sigma", "target", "norm", "gamma", "seed", "task", "cot", "n_layers", "d_model", "lr", "pos", "embed"))
    from helpers.sweep import run_path
    for run in sweep["runs"]:
        assert by_file[run_path(X.RUNS_DIR / name, {k: run[k] for k in keys if k in run}).name] == run


def test_chain_cot_sweep():
    sweep = X.load_sweep(DATA_DIR / "chain_cot_sweep.json")
    assert sweep["command"] == "python -m helpers.experiments chain_cot_sweep"
    assert [{k: r[k] for k in ("task", "cot", "n_layers", "seed")} for r in sweep["runs"]] == X.chain_cot_cells()
    assert ModelConfig.from_dict(sweep["model_config"]["cot"]) == X.chain_cot_model_config(X.COT_DEPTHS[0], True)
    for run in sweep["runs"]:
        assert sorted(map(int, run["acc_by_hop"])) == list(X.COT_HOPS)
        assert run["largest_solved"] == X.largest_hops_solved(run["acc_by_hop"])
        assert run["history"].steps[-1] <= sweep["train_config"]["steps"]
        assert ("mechanism" in run) == (run["cot"] and run["n_layers"] >= 2)


@pytest.mark.parametrize("seed", X.COT_SEEDS)
def test_chain_cot_checkpoints(seed):
    """The shipped 2-layer CoT runs (fp16) still solve fresh held-out questions as recorded."""
    model, meta = X.load_chain_cot_model(seed)
    assert meta["command"] == "python -m helpers.experiments chain_cot_sweep" and meta["task"]["seed"] == seed
    measured = accuracy_by(model, X.chain_cot_eval_sets(cot=True)["test_id"], "hops")
    for k, value in meta["results"]["test_id"].items():
        assert measured[int(k)] == pytest.approx(value, abs=0.01)
    fresh = make_chain_data(1000, list(X.COT_HOPS), "test_id", seed=12345, cot=True)
    assert min(accuracy_by(model, fresh, "hops").values()) >= 0.95


def test_mysteries_ship_without_labels():
    for name in X.MYSTERY_NAMES:
        model, meta = load_checkpoint(X.MYSTERY_DIR / f"mystery_{name}.pt")
        assert meta["command"] == "python -m helpers.experiments mysteries"
        assert set(meta) == {"command", "questions"}, "a mystery carries what it reads, not what it does"
        assert all(v.dtype == torch.float16 for v in torch.load(X.MYSTERY_DIR / f"mystery_{name}.pt",
                                                                  weights_only=True)["state_dict"].values()
                   if v.is_floating_point())
    with pytest.raises(ValueError, match="name='E' is not one of"):
        X.load_mystery("E")


def test_width_ladder():
    """Every finished ladder run carries its config, curves, geometry and interventions, and the
    runs still to do are listed; the OOD questions follow the authors' rule."""
    sweep = X.load_sweep(DATA_DIR / "width_ladder.json")
    assert sweep["command"] == "python -m helpers.experiments width_ladder"
    assert sweep["test_ood_residues"] == [0, 1, 2, 3, 4]
    done = [{k: r[k] for k in ("d_model", "seed", *X.LADDER_CONTROL_KEYS) if k in r} for r in sweep["runs"]]
    assert sorted(map(str, done + sweep["pending"])) == sorted(map(str, X.ladder_cells()))
    for run, row in zip(sweep["runs"], X.ladder_summary(sweep["runs"])):
        h = run["history"]
        expected = X.ladder_model_config(run["d_model"])
        if "pos" in run:
            expected = replace(expected, pos_init_scale=run["pos"])
        if "embed" in run:
            expected = X.embed_control_config(expected, run["embed"])
        assert ModelConfig.from_dict(run["model_config"]) == expected
        assert run["train_config"]["lr"] == run.get("lr", X.ladder_train_config(run["d_model"]).lr)
        assert all(h.final(split) == value for split, value in run["final"].items())
        assert set(h.metrics) == {"ood_id_norm_ratio", "id_abs_cos", "id_ood_abs_cos", "ood_matching_layer1",
                                  "ood_matching_layer2"}
        assert all(len(v) == len(h.steps) for v in h.metrics.values())
        assert run["interventions"]["as_trained"] == pytest.approx(run["final"]["test_ood"], abs=1e-6)
        assert set(run["interventions"]["by_ratio"]) == {str(r) for r in X.LADDER_RATIOS}
        if run["stop_step"] is not None:   # kept training after the jump, as the recipe says
            assert h.steps[-1] == min(run["stop_step"] + sweep["train_config"]["steps_after_stop"],
                                      sweep["train_config"]["steps"])
        assert row["plateau_ood"][0] <= row["plateau_ood"][1]


def test_the_shared_norm_checkpoint_answers_never_seen_tokens():
    """Issue 15, item 5: the shipped shared-norm model is the ladder's SHARED_CELL run and answers
    fresh authors'-rule questions at test-ID >= 0.99 and test-OOD >= 0.85."""
    model, meta = X.load_chain_2hop_shared()
    assert meta["command"] == "python -m helpers.experiments chain_2hop_shared" and meta["ladder_cell"] == X.SHARED_CELL
    assert model.cfg.embed_norm == "shared"
    norms = model.token_embeddings().norm(dim=-1)
    assert torch.allclose(norms, norms.mean().expand_as(norms), rtol=1e-3), "every row, seen or not, at one norm"
    record = next(r for r in X.load_sweep(DATA_DIR / "width_ladder.json")["runs"]
                  if all(r.get(k) == v for k, v in X.SHARED_CELL.items()))
    assert meta["history"]["acc"]["test_ood"] == record["history"].acc["test_ood"]
    acc = {split: evaluate(model, make_chain_data(1000, 2, split, seed=4242))["acc"] for split in ("test_id", "test_ood")}
    assert acc["test_id"] >= 0.99 and acc["test_ood"] >= 0.85, acc


def test_noise5_sweep_and_the_5layer_checkpoint():
    """The 5-layer noise study ships what is finished (each run with its per-hop curves) and lists
    the rest; the shipped 5-layer model is its no-noise with-order run and answers fresh
    questions as its record says."""
    sweep = X.load_sweep(DATA_DIR / "noise5_sweep.json")
    assert len(sweep["runs"]) + len(sweep["pending"]) == len(X.noise5_cells())
    for run in sweep["runs"]:
        assert run["n_layers"] == 5 and {"noise_std", "noise_target", "noise_layer"} <= set(run)
        assert set(run["history"].metrics) == {f"hop {k}" for k in X.NOISE5_HOPS}
        assert set(run["steps_to_95_by_hop"]) == {str(k) for k in X.NOISE5_HOPS}
    keys = ("dataset", "sigma", "target", "layer", "seed")
    pending = [{k: c[k] for k in keys} for c in sweep["pending"]]
    for run in sweep.get("in_progress", []):   # unfinished runs: still pending, with their curves so far
        assert {k: run[k] for k in keys} in pending
        assert run["history"].steps[-1] == run["step"] < sweep["train_config"]["steps"]
    for run in sweep["runs"]:   # the hop position's own walk: shares of disjoint first layers, per hop count
        if "serial_walk" in run:
            assert run["dataset"] == "with_order_after" and set(run["serial_walk"]) == {str(k) for k in X.NOISE5_HOPS}
            for k, shares in run["serial_walk"].items():
                assert set(shares) == {str(s) for s in range(5 - int(k))} and 0 <= sum(shares.values()) <= 1 + 1e-6
        if "pair_traffic" in run:   # accuracy with the pairs kept apart, per layer(s) and hop count
            assert set(run["pair_traffic"]) == {"as trained", "0", "1", "2", "3", "0-3"}
            assert run["pair_traffic"]["as trained"] == pytest.approx(run["acc_by_hop"], abs=0.06)
            assert all(set(acc) == {str(k) for k in X.NOISE5_HOPS} for acc in run["pair_traffic"].values())
    data = X.chain_eval_sets(list(X.NOISE5_HOPS), X.NOISE5_NODES, "with_order_after")["test_id"]
    for name, cell in (("chain_5layer", X.CHAIN_5LAYER_CELL), ("chain_5layer_qk", X.CHAIN_5LAYER_QK_CELL),
                       ("chain_5layer_pair", X.CHAIN_5LAYER_PAIR_CELL)):
        model, meta = X.load_chain_5layer(DATA_DIR / f"{name}.pt", cell)
        assert meta["command"] == f"python -m helpers.experiments {name}" and meta["noise5_cell"] == cell
        record = next(r for r in sweep["runs"] if all(r[k] == v for k, v in cell.items()))
        assert meta["acc_by_hop"] == record["acc_by_hop"]
        measured = accuracy_by(model, data, "hops")
        for k, value in meta["acc_by_hop"].items():
            assert measured[int(k)] == pytest.approx(value, abs=5e-3)   # fp16 weights, the same held-out questions
        walk = X.noise5_serial_walk(model)
        for k, shares in record["serial_walk"].items():
            assert walk[k] == pytest.approx(shares, abs=0.01)
        traffic = X.noise5_pair_traffic(model, cell["dataset"])
        for layers, acc in record["pair_traffic"].items():
            assert traffic[layers] == pytest.approx(acc, abs=0.01)


def test_init_ln_2hop_sweep():
    """Every finished 2-hop init x LN run carries its config, its curves, what it answers, and a
    stop that follows the recipe; together with the pending cells they make the whole grid."""
    sweep = X.load_sweep(DATA_DIR / "init_ln_2hop_sweep.json")
    assert sweep["command"] == "python -m helpers.experiments init_ln_2hop_sweep"
    assert sweep["test_ood_residues"] == [0, 1, 2, 3, 4] and sweep["hops"] == 2
    done = [{k: r[k] for k in ("norm", "gamma", "seed")} for r in sweep["runs"]]
    assert sorted(map(str, done + sweep["pending"])) == sorted(map(str, X.init_ln_2hop_cells()))
    cfg = sweep["train_config"]
    for run in sweep["runs"]:
        h = run["history"]
        model_cfg, train_cfg = X.init_ln_2hop_configs(run["norm"], run["gamma"])
        assert ModelConfig.from_dict(run["model_config"]) == model_cfg
        assert all(h.final(split) == value for split, value in run["final"].items())
        for split, kinds in run["answer_kinds"].items():
            assert sum(kinds.values()) == pytest.approx(1.0, abs=1e-4)
            assert kinds["right"] == pytest.approx(run["final"][split], abs=1e-4)
        solved = h.steps_to("test_id", 0.99)
        assert run["stop_step"] == solved
        assert h.steps[-1] == (cfg["steps"] if solved is None else min(solved + cfg["steps_after_stop"], cfg["steps"]))


def test_parallel_sweep_runs_through_the_resumable_runner(tmp_path, monkeypatch):
    """A tiny parallel sweep: one record and one weight file per run, the best run's checkpoint
    next to the aggregate, and a second call trains nothing."""
    from dataclasses import replace

    spec = X.ParallelSweep("tiny", (2,), (0, 1), (1, 2), 7, replace(X.PARALLEL_TRAIN, steps=10, eval_every=5))
    monkeypatch.setitem(X.PARALLEL_SWEEPS, "tiny", spec)
    monkeypatch.setattr(X, "RUNS_DIR", tmp_path / "runs")
    monkeypatch.setattr(X, "N_TRAIN", 2_000)
    path = X.make_parallel_sweep(tmp_path / "tiny.json", workers=1, sweep="tiny")
    sweep = X.load_sweep(path)
    assert [(r["depth"], r["seed"]) for r in sweep["runs"]] == [(2, 0), (2, 1)]
    assert sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir()) == [
        "depth=2_seed=0.json", "depth=2_seed=0.pt", "depth=2_seed=1.json", "depth=2_seed=1.pt"]
    model, meta = load_checkpoint(tmp_path / "tiny_best.pt", expected=spec.model_config(2))
    assert meta["command"] == "python -m helpers.experiments tiny" and meta["task"]["seed"] in (0, 1)
    stamp = (tmp_path / "runs" / "tiny" / "depth=2_seed=0.json").stat().st_mtime_ns
    X.make_parallel_sweep(tmp_path / "tiny.json", workers=1, sweep="tiny")
    assert (tmp_path / "runs" / "tiny" / "depth=2_seed=0.json").stat().st_mtime_ns == stamp, "nothing retrained"


def test_iteration16_sweep():
    """The n_len-16 sweep ships what has finished (so far the data-order control), every record
    from its run file, each carrying the fields issue 11 asks for and the budget it ran under."""
    import json

    sweep = X.load_sweep(DATA_DIR / "iteration16_sweep.json")
    assert sweep["command"] == "python -m helpers.experiments iteration16_sweep" and sweep["n_len"] == 16
    assert len(sweep["runs"]) + len(sweep["pending"]) == len(X.iteration16_all_cells())
    files = {p.name: json.loads(p.read_text()) for p in X.ITER16_DIR.glob("*.json")}
    assert len(files) == len(sweep["runs"]) >= 1
    for run in sweep["runs"]:
        assert {"task", "cot", "seed", "kind", "acc_by_length", "peakiness", "invariance", "history"} <= set(run)
        assert sorted(map(int, run["acc_by_length"])) == list(range(1, run.get("n_len", 16) + 1))
        assert run["model_config"]["seq_len"] == 2 * run.get("n_len", 16) + 2
        assert run["model_config"]["d_model"] == run.get("d_model", 128)
        assert run["model_config"]["n_layers"] == run.get("n_layers", 2) and (run["peakiness"] is None) == ("n_layers" in run)
        assert run["history"].steps[-1] <= run["train_config"]["steps"]
        shuffled = run.get("order") == "shuffled"
        assert run["train_config"]["shuffle"] == shuffled
        if shuffled:   # the width x length control gets half the budget
            scaling = "d_model" in run or "n_len" in run
            assert run["train_config"]["steps"] == (X.ITER16_SCALING_STEPS if scaling else X.ITER16_SHUFFLED_STEPS)
    for run in sweep["in_progress"]:   # unfinished runs: still pending, with their curves so far
        assert {k: v for k, v in run.items() if k not in ("history", "step")} in sweep["pending"]
        assert run["history"].steps[-1] == run["step"]
    cell_of = lambda run: {k: run[k] for k in ("kind", "task", "cot", "seed", "order", *X.ITER16_VARIANT_KEYS) if k in run}
    finished = [cell_of(r) for r in sweep["runs"]]
    for run in sweep["runs"]:
        source = X.iteration16_needs(run)
        if source is not None:   # a fine-tuning: from a finished run, evaluated densely at first
            assert source in finished
            assert (run["train_config"]["early_eval_every"], run["train_config"]["early_eval_until"]) == \
                X.ITER16_FINETUNE_EARLY_EVAL
        if run.get("order") == "shuffled" and run["task"] == "polynomial" and not X.is_authors_control(run):   # shipped: fine-tunings start from it
            assert X._iteration16_weights(cell_of(run), X.ITER16_DIR).exists()
