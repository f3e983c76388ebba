"""Train several models of one config at once, as one vmapped model (for many seeds on one GPU).

    histories = train_together(models, train_datas, eval_datas, cfgs)

Model i trains on `train_datas[i]` with `cfgs[i]` (the configs may differ only in `seed`), exactly
as `train(models[i], train_datas[i], eval_datas[i], cfgs[i])` would, up to floating-point order
and dropout masks: the same batches, the same Adam / AdamW updates (they are elementwise, so one
optimizer over the stacked weights is N independent ones), gradient clipping per model, the same
evaluations and stop rule. What it gives up: a model that has stopped keeps being computed (its
weights and history are frozen at its stop). With `checkpoints`, each unfinished model's state is
written every `checkpoint_every_s` seconds (at an evaluation step) in `train`'s own format, so
that `train(..., checkpoint=that file)` finishes that run alone when a time-limited machine stops
the group; or, with `resume=True`, the group resumes together from those files when every model
has one from the same step (`can_resume_together`). Small models
spend most of their GPU time launching kernels, so N models at once cost little more than one.
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from .data import SeqData
from .train import History, TrainConfig, _record, _resume, _save_partial, lr_at, make_optimizer, set_seed


def can_resume_together(checkpoints: list) -> bool:
    """True when every file in `checkpoints` exists and all were saved at the same step."""
    if not checkpoints or not all(Path(c).exists() for c in checkpoints):
        return False
    return len({torch.load(c, map_location="cpu", weights_only=False)["step"] for c in checkpoints}) == 1


def _check_same_config(cfgs: list[TrainConfig]) -> None:
    base = replace(cfgs[0], seed=0).to_dict()
    for i, cfg in enumerate(cfgs[1:], 1):
        other = replace(cfg, seed=0).to_dict()
        diff = {k: (base[k], v) for k, v in other.items() if base[k] != v}
        if diff:
            raise ValueError(f"train_together needs configs that differ only in seed; config {i} differs in {diff}")


def _masked_mean_loss(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`masked_loss` without data-dependent shapes (so that it can be vmapped)."""
    ce = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view_as(targets)
    return (ce * mask).sum() / mask.sum()


def train_together(models: list, train_datas: list[SeqData], eval_datas: list[dict[str, SeqData]],
                   cfgs: list[TrainConfig], metrics: list[dict[str, Callable]] | None = None,
                   checkpoints: list | None = None, checkpoint_every_s: float = 240.0,
                   resume: bool = False) -> list[History]:
    """Train `models` (same architecture, on one device) in place, together; one History each.
    checkpoints: one file per model for its mid-run state (see the module's docstring), or None.
    resume: continue from `checkpoints` when any exists (every model needs one, all from one step)."""
    n = len(models)
    if checkpoints is not None and len(checkpoints) != n:
        raise ValueError(f"need one checkpoint file per model: got {len(checkpoints)} for {n} models")
    if resume and checkpoints is None:
        raise ValueError("resume=True needs `checkpoints`, one file per model")
    resumed = None
    if resume and any(Path(c).exists() for c in checkpoints):
        if not can_resume_together(checkpoints):
            raise ValueError(f"resume=True needs a checkpoint for every model, all from the same step; got "
                             f"{[str(c) for c in checkpoints if Path(c).exists()]} of {n} files (resume the rest "
                             "alone with `train(..., checkpoint=...)`)")
        # each model, its own optimizer and batch order, as `train` would resume it alone (`_resume`)
        singles = [make_optimizer(m, c) for m, c in zip(models, cfgs)]
        resumed_orders = [torch.Generator() for _ in models]
        resumed = [_resume(f, m, o, g) for f, m, o, g in zip(checkpoints, models, singles, resumed_orders)]
    if not (n == len(train_datas) == len(eval_datas) == len(cfgs)) or n == 0:
        raise ValueError(f"need one train set, eval sets and config per model: got {n} models, "
                         f"{len(train_datas)} train sets, {len(eval_datas)} eval sets, {len(cfgs)} configs")
    _check_same_config(cfgs)
    cfg, metrics = cfgs[0], metrics or [{} for _ in models]
    device = models[0].device
    if resumed is None:   # (a resumed group goes on with the random state `_resume` restored)
        set_seed(cfg.seed)
    datas = [d.to(device) for d in train_datas]
    evals = []
    for d, e, c in zip(datas, eval_datas, cfgs):
        e = {"train": d, **{k: v.to(device) for k, v in e.items()}}
        e = {k: v[: c.eval_size] for k, v in e.items()}
        if c.train_eval_rows == "spread" and len(d) > c.eval_size:
            e["train"] = d[torch.linspace(0, len(d) - 1, c.eval_size).long().to(device)]
        evals.append(e)
    trainable = [name for name, p in models[0].named_parameters() if p.requires_grad]
    params, buffers = stack_module_state(models)
    frozen = {k: v.detach() for k, v in params.items() if k not in trainable}
    weights = {k: params[k].detach().clone().requires_grad_(True) for k in trainable}
    # the groups of `train` (`_param_groups`): decay on weight matrices and embeddings, or on all
    decay = [k for k in trainable if cfg.decay_all or (params[k].ndim - 1 >= 2 and ".b_" not in k)]
    groups = [{"params": [weights[k] for k in decay], "weight_decay": cfg.weight_decay if cfg.optimizer == "adamw" else 0.0},
              {"params": [weights[k] for k in trainable if k not in decay], "weight_decay": 0.0}]
    opt = (torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam)(
        [g for g in groups if g["params"]], lr=cfg.lr)
    base = models[0]
    if resumed is not None:   # each model's optimizer state, as `train` saved it alone, stacked
        for i, (model, single) in enumerate(zip(models, singles)):
            names = {id(p): name for name, p in model.named_parameters()}
            for group in single.param_groups:
                for p in group["params"]:
                    shared = opt.state.setdefault(weights[names[id(p)]], {})
                    for k, v in single.state[p].items():
                        shared.setdefault(k, [None] * n)[i] = v
        for w in weights.values():
            opt.state[w] = {k: v[0].clone() if k == "step" else torch.stack(v).to(device)
                            for k, v in opt.state[w].items()}

    def loss_one(w, f, b, inputs, targets, mask):
        return _masked_mean_loss(functional_call(base, ({**w, **f}, b), (inputs,)), targets, mask)

    batched_loss = vmap(loss_one, randomness="different")
    orders = resumed_orders if resumed is not None else [torch.Generator().manual_seed(c.seed) for c in cfgs]

    def new_order(i):
        return torch.randperm(len(datas[i]), generator=orders[i]) if cfg.shuffle else torch.arange(len(datas[i]))

    done, running, start, first_step = [False] * n, [], time.perf_counter(), 1
    if resumed is not None:
        histories, perms, cursors, steps = (list(x) for x in zip(*resumed))
        first_step = steps[0]
        start -= histories[0].seconds or 0.0
    else:
        perms, cursors = [new_order(i) for i in range(n)], [0] * n
        histories = [History(acc={k: [] for k in e}, loss={k: [] for k in e}, metrics={k: [] for k in m})
                     for e, m in zip(evals, metrics)]

    def load_into_models():
        with torch.no_grad():
            for name, w in weights.items():
                for i, model in enumerate(models):
                    if not done[i]:
                        dict(model.named_parameters())[name].copy_(w[i])

    def save_partials(step):   # each unfinished model, as `train` would have saved it alone
        for i, model in enumerate(models):
            if done[i]:
                continue
            single = make_optimizer(model, cfgs[i])
            names = {id(p): name for name, p in model.named_parameters()}
            for group in single.param_groups:
                for p in group["params"]:
                    shared = opt.state[weights[names[id(p)]]]
                    single.state[p] = {k: v.clone() if k == "step" else v[i].clone() for k, v in shared.items()}
            histories[i].seconds = time.perf_counter() - start
            _save_partial(checkpoints[i], model, single, orders[i], histories[i], perms[i], cursors[i], step)

    last_save = time.perf_counter()
    base.train()
    for step in range(first_step, cfg.steps + 1):
        batches = []
        for i in range(n):
            if cursors[i] + cfg.batch_size > len(datas[i]):
                perms[i], cursors[i] = new_order(i), 0
            batches.append(datas[i][perms[i][cursors[i]:cursors[i] + cfg.batch_size].to(device)])
            cursors[i] += cfg.batch_size
        inputs, targets, mask = (torch.stack([getattr(b, a) for b in batches]) for a in ("inputs", "targets", "mask"))
        for group in opt.param_groups:
            group["lr"] = lr_at(step - 1, cfg)
        losses = batched_loss(weights, frozen, buffers, inputs, targets, mask.float())
        opt.zero_grad(set_to_none=True)
        losses.sum().backward()   # model i's loss depends on its own slice only: per-model gradients
        if cfg.grad_clip:
            norms = torch.sqrt(sum(w.grad.flatten(1).pow(2).sum(1) for w in weights.values()))   # [n]
            scale = (cfg.grad_clip / (norms + 1e-6)).clamp(max=1.0)
            for w in weights.values():
                w.grad.mul_(scale.view(-1, *[1] * (w.ndim - 1)))
        opt.step()
        running.append(losses.detach())
        if cfg.is_eval_step(step):
            load_into_models()
            mean_losses = torch.stack(running).mean(0)
            running = []
            for i in range(n):
                if done[i]:
                    continue
                h, c = histories[i], cfgs[i]
                _record(h, models[i], evals[i], metrics[i], step, [mean_losses[i]])
                if h.stop_step is None and c.stop_at and all(h.acc[s][-1] >= t for s, t in c.stop_at.items()):
                    h.stop_step = step
                if h.stop_step is not None and step >= h.stop_step + c.steps_after_stop:
                    done[i], h.seconds = True, time.perf_counter() - start
            if checkpoints is not None and not all(done) and time.perf_counter() - last_save >= checkpoint_every_s:
                save_partials(step)
                last_save = time.perf_counter()
            base.train()
            if all(done):
                break
    load_into_models()
    for i, h in enumerate(histories):
        if not done[i]:
            h.seconds = time.perf_counter() - start
        models[i].eval()
    return histories
