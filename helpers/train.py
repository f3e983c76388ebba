"""One training loop for every notebook, evaluation, and checkpoints that carry their config.

`train` works on any `SeqData`: the loss is cross-entropy on the masked positions, and a
sequence counts as correct only when every masked position is right (for the chain task: the
last position; for the iteration tasks: everything after EoI, teacher forced).
"""
from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.std import tqdm  # text bar: its last line stays readable in a saved notebook

from .data import SeqData
from .model import ModelConfig, Transformer

OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("cosine", "constant", "epoch_warmup_cosine")


@dataclass
class TrainConfig:
    steps: int = 600
    batch_size: int = 256
    lr: float = 1e-3
    warmup_steps: int = 50
    schedule: str = "cosine"        # after warm-up: "cosine" decay to 0, or "constant"; or
                                    # "epoch_warmup_cosine": paper A's schedule (see `lr_at`)
    optimizer: str = "adamw"
    weight_decay: float = 0.01
    decay_all: bool = False         # weight decay on every parameter (paper A's AdamW), not only matrices
    grad_clip: float | None = 1.0
    eval_every: int = 50
    early_eval_every: int = 0       # also evaluate every this many steps up to step early_eval_until
    early_eval_until: int = 0       # (fine-tunings that are done in tens of steps); 0: not at all
    eval_size: int = 2000           # sequences per evaluation split (the first ones)
    train_eval_rows: str = "first"  # which training rows "train" accuracy reads: the first eval_size,
                                    # or "spread": eval_size rows evenly spaced over the whole set
                                    # (for data sorted by length)
    stop_at: dict | None = None     # e.g. {"test_id": 0.99}: stop once every split reaches it
    steps_after_stop: int = 0       # keep training this many steps after stop_at is first met
                                    # (2-hop test-OOD keeps rising after test-ID has jumped)
    seed: int = 0
    shuffle: bool = True            # False: batches in data order every epoch (paper B's DataLoader,
                                    # which iterates its length-sorted data without shuffling)
    # only for schedule="epoch_warmup_cosine" (paper A's code): the lr changes once per epoch
    steps_per_epoch: int = 1
    warmup_epochs: int = 10
    warmup_multiplier: float = 4.0  # lr rises from `lr` to `lr * warmup_multiplier`
    cosine_epochs: int = 100        # T_max of the cosine that follows
    min_lr: float = 0.0             # eta_min of that cosine

    def __post_init__(self):
        checks = [
            (self.steps >= 1, f"steps={self.steps} must be >= 1"),
            (self.batch_size >= 1, f"batch_size={self.batch_size} must be >= 1"),
            (self.lr > 0, f"lr={self.lr} must be > 0"),
            (self.warmup_steps >= 0, f"warmup_steps={self.warmup_steps} must be >= 0"),
            (self.eval_every >= 1, f"eval_every={self.eval_every} must be >= 1"),
            (self.early_eval_every >= 0, f"early_eval_every={self.early_eval_every} must be >= 0"),
            (self.early_eval_until >= 0, f"early_eval_until={self.early_eval_until} must be >= 0"),
            (self.schedule in SCHEDULES, f"schedule={self.schedule!r} is not one of {list(SCHEDULES)}"),
            (self.optimizer in OPTIMIZERS, f"optimizer={self.optimizer!r} is not one of {list(OPTIMIZERS)}"),
            (self.steps_per_epoch >= 1, f"steps_per_epoch={self.steps_per_epoch} must be >= 1"),
            (self.warmup_epochs >= 1, f"warmup_epochs={self.warmup_epochs} must be >= 1"),
            (self.cosine_epochs >= 1, f"cosine_epochs={self.cosine_epochs} must be >= 1"),
            (self.min_lr >= 0, f"min_lr={self.min_lr} must be >= 0"),
            (self.steps_after_stop >= 0, f"steps_after_stop={self.steps_after_stop} must be >= 0"),
            (self.train_eval_rows in ("first", "spread"),
             f"train_eval_rows={self.train_eval_rows!r} is not one of ['first', 'spread']"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def to_dict(self) -> dict:
        return asdict(self)

    def is_eval_step(self, step: int) -> bool:
        """Whether training evaluates after `step`: every `eval_every` steps, the last step, and
        every `early_eval_every` steps up to `early_eval_until`."""
        early = self.early_eval_every and step <= self.early_eval_until and step % self.early_eval_every == 0
        return step % self.eval_every == 0 or step == self.steps or bool(early)


@dataclass
class History:
    """What a run measured at each evaluation step."""

    steps: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)   # mean training loss since the last eval
    acc: dict = field(default_factory=dict)          # split -> [accuracy per eval]
    loss: dict = field(default_factory=dict)         # split -> [loss per eval]
    metrics: dict = field(default_factory=dict)      # name -> [value per eval]
    seconds: float = 0.0
    stop_step: int | None = None                     # first step at which cfg.stop_at was met

    def final(self, split: str) -> float:
        return self.acc[split][-1]

    def steps_to(self, split: str, threshold: float) -> int | None:
        """First evaluated step at which `split` (an accuracy, or a tracked metric such as
        "hop 2") reached `threshold`, or None."""
        for step, a in zip(self.steps, self.acc[split] if split in self.acc else self.metrics[split]):
            if a >= threshold:
                return step
        return None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**d)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_model(cfg: ModelConfig, seed: int = 0, device=None) -> Transformer:
    """A freshly initialised model; the same seed gives the same weights."""
    set_seed(seed)
    return Transformer(cfg).to(device or default_device())


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to cfg.lr, then constant or cosine decay to 0 at cfg.steps.

    "epoch_warmup_cosine" is paper A's schedule as we read its code (`train.py` of
    xuzhiqin1990/understanding_dl, `GradualWarmupScheduler` then `CosineAnnealingLR`, stepped once
    per epoch): in epoch e (= step // steps_per_epoch) the lr is lr * (1 + (m - 1) e / W) for
    e <= W, then min_lr + (lr * m - min_lr) (1 + cos(pi (e - W) / T)) / 2, with m the warm-up
    multiplier, W the warm-up epochs and T the cosine's epochs.
    """
    if cfg.schedule == "epoch_warmup_cosine":
        epoch, W, peak = step // cfg.steps_per_epoch, cfg.warmup_epochs, cfg.lr * cfg.warmup_multiplier
        if epoch <= W:
            return cfg.lr * (1 + (cfg.warmup_multiplier - 1) * epoch / W)
        return cfg.min_lr + (peak - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * (epoch - W) / cfg.cosine_epochs))
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def masked_loss(logits: torch.Tensor, data: SeqData) -> torch.Tensor:
    return F.cross_entropy(logits[data.mask], data.targets[data.mask])


def sequence_correct(logits: torch.Tensor, data: SeqData) -> torch.Tensor:
    """[n] bool: every masked position predicted right."""
    wrong = (logits.argmax(-1) != data.targets) & data.mask
    return ~wrong.any(dim=1)


@torch.no_grad()
def predict(model: Transformer, data: SeqData, batch_size: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean masked loss and the per-sequence correctness of `data`, in batches, eval mode."""
    was_training = model.training
    model.eval()
    device = model.device
    losses, correct = [], []
    for i in range(0, len(data), batch_size):
        chunk = data[i:i + batch_size].to(device)
        logits = model(chunk.inputs)
        losses.append(masked_loss(logits, chunk) * chunk.mask.sum())
        correct.append(sequence_correct(logits, chunk).cpu())
    model.train(was_training)
    return torch.stack(losses).sum() / data.mask.sum(), torch.cat(correct)


@torch.no_grad()
def predict_tokens(model: Transformer, data: SeqData, batch_size: int = 4096) -> torch.Tensor:
    """[n] the token each sequence's last position predicts (the chain task's answer), eval mode."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(data.inputs[i:i + batch_size].to(model.device))[:, -1].argmax(-1).cpu()
                     for i in range(0, len(data), batch_size)])
    model.train(was_training)
    return out


def evaluate(model: Transformer, data: SeqData, batch_size: int = 4096) -> dict:
    """{"loss": mean masked loss, "acc": fraction of sequences entirely right}."""
    loss, correct = predict(model, data, batch_size)
    return {"loss": loss.item(), "acc": correct.float().mean().item()}


def accuracy_by(model: Transformer, data: SeqData, key: str) -> dict[int, float]:
    """Accuracy grouped by an info field, e.g. key="lengths" or key="hops"."""
    _, correct = predict(model, data)
    groups = data.info[key]
    return {int(g): correct[groups == g].float().mean().item() for g in groups.unique()}


def train(model: Transformer, train_data: SeqData, eval_data: dict[str, SeqData] | None = None,
          cfg: TrainConfig | None = None, metrics: dict[str, Callable] | None = None,
          progress: bool = True, desc: str = "training", checkpoint: str | Path | None = None,
          checkpoint_every_s: float = 240.0) -> History:
    """Train `model` in place on `train_data`; evaluate every `cfg.eval_every` steps.

    eval_data: named splits to score (the training split is scored on its first
        `cfg.eval_size` sequences as "train"). metrics: name -> fn(model) -> float, recorded
        at each evaluation (e.g. a peakiness score).
    checkpoint: a file for long runs. At an evaluation step, once `checkpoint_every_s` seconds
        have passed since the last save, the model, optimizer, data order, random state and history
        are written there; if the file exists when `train` starts, the run resumes from it and
        continues exactly as the uninterrupted run would have. The caller deletes it when done.
    """
    cfg = cfg or TrainConfig()
    eval_data = {"train": train_data, **(eval_data or {})}
    metrics = metrics or {}
    for split in (cfg.stop_at or {}):
        if split not in eval_data:
            raise ValueError(f"stop_at names split {split!r}; evaluated splits are {list(eval_data)}")
    device = model.device
    set_seed(cfg.seed)
    data = train_data.to(device)
    eval_data = {name: d[: cfg.eval_size].to(device) for name, d in eval_data.items()}
    if cfg.train_eval_rows == "spread" and len(data) > cfg.eval_size:
        eval_data["train"] = data[torch.linspace(0, len(data) - 1, cfg.eval_size).long().to(device)]
    opt = make_optimizer(model, cfg)
    order = torch.Generator().manual_seed(cfg.seed)

    history = History(acc={n: [] for n in eval_data}, loss={n: [] for n in eval_data},
                      metrics={n: [] for n in metrics})
    start = time.perf_counter()
    def new_order():
        return torch.randperm(len(data), generator=order) if cfg.shuffle else torch.arange(len(data))

    perm, cursor, running, first = new_order(), 0, [], 1
    if checkpoint is not None and Path(checkpoint).exists():
        history, perm, cursor, first = _resume(checkpoint, model, opt, order)
        start -= history.seconds
    last_save = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=first - 1, desc=desc, disable=not progress, mininterval=1.0, file=sys.stdout,
               bar_format="{desc}: {percentage:3.0f}% of {total_fmt} steps [{elapsed}<{remaining}{postfix}]")
    model.train()
    for step in range(first, cfg.steps + 1):
        if cursor + cfg.batch_size > len(data):
            perm, cursor = new_order(), 0
        batch = data[perm[cursor:cursor + cfg.batch_size].to(device)]
        cursor += cfg.batch_size
        for group in opt.param_groups:
            group["lr"] = lr_at(step - 1, cfg)
        running.append(train_step(model, opt, batch, cfg.grad_clip))  # no .item() here: a GPU need not wait every step
        bar.update()

        if cfg.is_eval_step(step):
            _record(history, model, eval_data, metrics, step, running)
            running = []
            bar.set_postfix({n: f"{a[-1]:.2f}" for n, a in history.acc.items()}, refresh=False)
            if (history.stop_step is None and cfg.stop_at
                    and all(history.acc[s][-1] >= t for s, t in cfg.stop_at.items())):
                history.stop_step = step
            if history.stop_step is not None and step >= history.stop_step + cfg.steps_after_stop:
                bar.set_postfix_str(f"{bar.postfix}, stopped at step {step}: {cfg.stop_at} reached"
                                    + (f" at step {history.stop_step}" if cfg.steps_after_stop else ""), refresh=True)
                break
            if checkpoint is not None and time.perf_counter() - last_save >= checkpoint_every_s:
                history.seconds = time.perf_counter() - start
                _save_partial(checkpoint, model, opt, order, history, perm, cursor, step)
                last_save = time.perf_counter()
    bar.close()
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def train_step(model: torch.nn.Module, opt: torch.optim.Optimizer, batch: SeqData,
               grad_clip: float | None) -> torch.Tensor:
    """One update on `batch`: forward, masked loss, backward, clipping, optimizer step.

    Returns the loss detached, not as a float: a GPU need not wait for it every step."""
    loss = masked_loss(model(batch.inputs), batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    opt.step()
    return loss.detach()


def _record(history, model, eval_data, metrics, step, running):
    history.steps.append(step)
    history.train_loss.append(torch.stack(running).mean().item())
    for name, d in eval_data.items():
        result = evaluate(model, d)
        history.acc[name].append(result["acc"])
        history.loss[name].append(result["loss"])
    model.eval()
    with torch.no_grad():
        for name, fn in metrics.items():
            history.metrics[name].append(float(fn(model)))
    model.train()


def _save_partial(path, model, opt, order, history, perm, cursor, step):
    """Everything `train` needs to continue a run after `step` as if it had never stopped."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {"model": model.state_dict(), "opt": opt.state_dict(), "order": order.get_state(),
            "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(), "python_rng": random.getstate(),
            "history": history.to_dict(), "perm": perm.cpu(), "cursor": cursor, "step": step}
    tmp = path.with_suffix(".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def _resume(path, model, opt, order):
    blob = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(blob["model"])
    opt.load_state_dict(blob["opt"])
    order.set_state(blob["order"])
    torch.set_rng_state(blob["torch_rng"])
    np.random.set_state(blob["numpy_rng"])
    random.setstate(blob["python_rng"])
    return History.from_dict(blob["history"]), blob["perm"], blob["cursor"], blob["step"] + 1


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """`cfg`'s Adam or AdamW over the trainable parameters, weight decay as `_param_groups` says."""
    decay, no_decay = _param_groups(model)
    if cfg.decay_all:
        decay, no_decay = decay + no_decay, []
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    wd = cfg.weight_decay if cfg.optimizer == "adamw" else 0.0
    return opt_cls([{"params": decay, "weight_decay": wd},
                    {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)


def _param_groups(model):
    """Weight decay on weight matrices and embeddings (as nanoGPT); not on biases or LayerNorms."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 and ".b_" not in name else no_decay).append(p)
    return decay, no_decay


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------
def save_checkpoint(path: str | Path, model: Transformer, fp16: bool = False, **meta) -> Path:
    """Weights + the model config + any JSON-able metadata (train config, data, results).

    fp16=True stores floating-point weights in half precision (half the size); `load_checkpoint`
    turns them back into float32."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if fp16:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"model_config": model.cfg.to_dict(), "state_dict": state, "meta": meta}, path)
    return path


def check_config(cfg: ModelConfig, expected: ModelConfig | dict, what: str = "model") -> None:
    """Raise ValueError naming every field where `cfg` differs from `expected`, with both values."""
    want = expected.to_dict() if isinstance(expected, ModelConfig) else ModelConfig(**expected).to_dict()
    diff = {k: (v, want[k]) for k, v in cfg.to_dict().items() if want[k] != v}
    if diff:
        detail = ", ".join(f"{k}={have!r} (expected {w!r})" for k, (have, w) in diff.items())
        raise ValueError(f"{what} was made for another config: {detail}")


def load_checkpoint(path: str | Path, expected: ModelConfig | dict | None = None,
                    device=None) -> tuple[Transformer, dict]:
    """(model in eval mode, meta). Raises ValueError if the checkpoint's config differs from
    `expected` in any field, naming each field with both values."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; see data/README.md to regenerate it")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    cfg = ModelConfig.from_dict(blob["model_config"])
    if expected is not None:
        check_config(cfg, expected, f"checkpoint {path.name}")
    model = Transformer(cfg)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["state_dict"].items()})
    return model.to(device or default_device()).eval(), blob["meta"]
