"""A small decoder-only transformer, written to be read and taken apart.

One file, one dataclass config, attention computed explicitly. Inspection follows
TransformerLens: every intermediate passes a named `HookPoint`, `run_with_cache` returns the
logits and a cache keyed like `blocks.1.attn.hook_pattern` ([batch, head, query, key]), and
`run_with_hooks` lets a function replace any activation (ablation, patching).

Paper A uses post-LN, ReLU, no biases except the output layer, and the init rate gamma;
paper B uses pre-LN with a final LN, GELU and no biases. Both are this one model.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Callable, Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F

NORMS = ("post", "pre", "pre_stream", "none")
ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}
POS_INIT_SCALES = ("vocab", "seq_len")
INITS = ("rate", "torch")
NOISE_TARGETS = ("both", "qk", "vo", "unmatched")
EMBED_NORMS = ("none", "shared")


@dataclass
class ModelConfig:
    vocab_size: int = 201
    seq_len: int = 13            # longest input the position embedding covers
    n_layers: int = 3
    n_heads: int = 1
    d_model: int = 64
    d_head: int | None = None    # None: d_model // n_heads
    d_ff: int = 256
    activation: str = "relu"
    norm: str = "post"           # "post": x = LN(x + f(x)); "pre": x = x + f(LN(x)) (GPT-2); "none": x + f(x);
                                 # "pre_stream": paper B's code, x = LN1(x); x = x + attn(x); x = x + mlp(LN2(x))
    ln_bias: bool = True         # LayerNorms with a bias (paper B's have none)
    final_norm: bool | None = None  # None: a final LN for pre-LN models only
    init: str = "rate"           # "rate": U(-b, b) below; "torch": PyTorch defaults (N(0,1) embeddings)
    init_rate: float = 1.0       # gamma: weights ~ U(-b, b), b = (6 / fan_in) ** gamma
    pos_init_scale: str = "vocab"  # fan_in of the position embedding: "vocab" or "seq_len"
    bias: bool = False           # biases in attention and FFN
    unembed_bias: bool = True
    dropout: float = 0.0         # on the embedding
    freeze_pos: bool = False     # position embedding kept at its init (paper B's `freeze_pos` control)
    embed_init_rate: float | None = None  # [ours] gamma of the token embedding alone (None: init_rate)
    freeze_embed: bool = False   # [ours] token embedding kept at its init (a control of paper A's OOD test)
    embed_norm: str = "none"     # [ours] "shared": every token row is rescaled to one learned norm g
    #                              (e_t = g u_t / |u_t|), so rows that training never touches stay as
    #                              large as the trained ones (a test of paper A's OOD explanation)
    noise_std: float = 0.0       # [ours] orthogonal noise sigma: frozen Xi_l on W_vo(l) and W_qk(l+1)
    noise_target: str = "both"   # where Xi_l goes: "both", "qk" (W_qk of l+1 only) or "vo" (W_vo of l only);
    #                              "unmatched" [ours, a control]: Xi_l on W_vo(l), an independent Xi'_l on W_qk(l+1)
    noise_seed: int = 0
    noise_layer: int | None = None  # [ours] only layer l gets Xi_l (on W_vo(l) and W_qk(l+1)); None: every layer

    def __post_init__(self):
        if self.d_head is None:
            self.d_head = self.d_model // self.n_heads
        if self.final_norm is None:
            self.final_norm = self.norm in ("pre", "pre_stream")
        checks = [
            (self.norm in NORMS, f"norm={self.norm!r} is not one of {list(NORMS)}"),
            (self.activation in ACTIVATIONS,
             f"activation={self.activation!r} is not one of {list(ACTIVATIONS)}"),
            (self.init in INITS, f"init={self.init!r} is not one of {list(INITS)}"),
            (self.embed_norm in EMBED_NORMS, f"embed_norm={self.embed_norm!r} is not one of {list(EMBED_NORMS)}"),
            (self.pos_init_scale in POS_INIT_SCALES,
             f"pos_init_scale={self.pos_init_scale!r} is not one of {list(POS_INIT_SCALES)}"),
            (self.init_rate > 0, f"init_rate={self.init_rate} must be > 0 (gamma; 0.5 is Kaiming scale)"),
            (self.embed_init_rate is None or self.embed_init_rate > 0,
             f"embed_init_rate={self.embed_init_rate} must be > 0 (or None: init_rate)"),
            (0 <= self.dropout < 1, f"dropout={self.dropout} must be in [0, 1)"),
            (self.noise_std >= 0, f"noise_std={self.noise_std} must be >= 0"),
            (self.noise_target in NOISE_TARGETS,
             f"noise_target={self.noise_target!r} is not one of {list(NOISE_TARGETS)}"),
            (self.noise_layer is None or 0 <= self.noise_layer < self.n_layers - 1,
             f"noise_layer={self.noise_layer} is outside the allowed range 0..{self.n_layers - 2} (or None: every layer)"),
        ]
        for name in ("vocab_size", "seq_len", "n_layers", "n_heads", "d_model", "d_head", "d_ff"):
            checks.append((getattr(self, name) >= 1, f"{name}={getattr(self, name)} must be >= 1"))
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown ModelConfig fields {sorted(unknown)}")
        return cls(**d)


def init_bound(fan_in: int, init_rate: float) -> float:
    """b = (6 / fan_in) ** gamma: the half-width of the uniform init (group code of paper A)."""
    return (6.0 / fan_in) ** init_rate


class HookPoint(nn.Module):
    """Identity that lets hook functions read or replace the tensor passing through it.

    A hook is `fn(tensor, hook) -> tensor | None`; returning a tensor replaces the activation.
    """

    def __init__(self):
        super().__init__()
        self.name: str | None = None
        self.fns: list[Callable] = []

    def forward(self, x):
        for fn in self.fns:
            out = fn(x, self)
            if out is not None:
                x = out
        return x


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        h, d, dh = cfg.n_heads, cfg.d_model, cfg.d_head
        self.W_Q = nn.Parameter(torch.empty(h, d, dh))
        self.W_K = nn.Parameter(torch.empty(h, d, dh))
        self.W_V = nn.Parameter(torch.empty(h, d, dh))
        self.W_O = nn.Parameter(torch.empty(h, dh, d))
        if cfg.bias:
            self.b_Q = nn.Parameter(torch.zeros(h, dh))
            self.b_K = nn.Parameter(torch.zeros(h, dh))
            self.b_V = nn.Parameter(torch.zeros(h, dh))
            self.b_O = nn.Parameter(torch.zeros(d))
        else:
            self.b_Q = self.b_K = self.b_V = self.b_O = None
        self.register_buffer("causal", torch.tril(torch.ones(cfg.seq_len, cfg.seq_len, dtype=torch.bool)),
                             persistent=False)
        self.scale = 1.0 / math.sqrt(dh)
        self.register_buffer("noise_qk", None)  # frozen [d_model, d_model] additions (head 0)
        self.register_buffer("noise_vo", None)
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_attn_scores, self.hook_pattern, self.hook_z = HookPoint(), HookPoint(), HookPoint()

    def forward(self, x):  # x: [batch, pos, d_model]
        q = self.hook_q(_project(x, self.W_Q, self.b_Q))  # [batch, pos, head, d_head]
        k = self.hook_k(_project(x, self.W_K, self.b_K))
        v = self.hook_v(_project(x, self.W_V, self.b_V))
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) * self.scale
        if self.noise_qk is not None:
            scores = scores.clone()
            scores[:, 0] += torch.einsum("bqm,mn,bkn->bqk", x, self.noise_qk, x) * self.scale
        T = x.shape[1]
        scores = self.hook_attn_scores(scores.masked_fill(~self.causal[:T, :T], float("-inf")))
        pattern = self.hook_pattern(scores.softmax(dim=-1))  # [batch, head, query, key]
        z = self.hook_z(torch.einsum("bhqk,bkhd->bqhd", pattern, v))
        out = torch.einsum("bqhd,hdm->bqm", z, self.W_O)
        if self.noise_vo is not None:
            out = out + pattern[:, 0] @ (x @ self.noise_vo)
        return out if self.b_O is None else out + self.b_O


def _project(x, W, b):
    out = torch.einsum("bpm,hmd->bphd", x, W)
    return out if b is None else out + b


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.W_in = nn.Linear(cfg.d_model, cfg.d_ff, bias=cfg.bias)
        self.W_out = nn.Linear(cfg.d_ff, cfg.d_model, bias=cfg.bias)
        self.act = ACTIVATIONS[cfg.activation]
        self.hook_post = HookPoint()

    def forward(self, x):
        return self.W_out(self.hook_post(self.act(self.W_in(x))))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm = cfg.norm
        make_ln = (lambda: nn.Identity()) if cfg.norm == "none" else (lambda: nn.LayerNorm(cfg.d_model, bias=cfg.ln_bias))
        self.ln1, self.ln2 = make_ln(), make_ln()
        self.attn, self.mlp = Attention(cfg), MLP(cfg)
        self.hook_resid_pre, self.hook_attn_out = HookPoint(), HookPoint()
        self.hook_resid_mid, self.hook_mlp_out = HookPoint(), HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(self, x):
        x = self.hook_resid_pre(x)
        if self.norm in ("post", "none"):  # with "none" the LNs are identities
            x = self.hook_resid_mid(self.ln1(x + self.hook_attn_out(self.attn(x))))
            return self.hook_resid_post(self.ln2(x + self.hook_mlp_out(self.mlp(x))))
        if self.norm == "pre_stream":  # paper B's block (`TransformerBlock` in src/cot/models/transformer.py):
            x = self.ln1(x)            # the normalised stream replaces the stream itself
            x = self.hook_resid_mid(x + self.hook_attn_out(self.attn(x)))
            return self.hook_resid_post(x + self.hook_mlp_out(self.mlp(self.ln2(x))))
        x = self.hook_resid_mid(x + self.hook_attn_out(self.attn(self.ln1(x))))
        return self.hook_resid_post(x + self.hook_mlp_out(self.mlp(self.ln2(x))))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        # embed_norm="shared": the one norm g every token row is rescaled to (set by reset_parameters)
        self.embed_scale = nn.Parameter(torch.ones(())) if cfg.embed_norm == "shared" else None
        self.pos_embed = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = nn.LayerNorm(cfg.d_model, bias=cfg.ln_bias) if cfg.final_norm else nn.Identity()
        self.unembed = nn.Linear(cfg.d_model, cfg.vocab_size, bias=cfg.unembed_bias)
        self.hook_embed, self.hook_pos_embed = HookPoint(), HookPoint()
        self._add_orthogonal_noise()
        self.hook_points: dict[str, HookPoint] = {}
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name
                self.hook_points[name] = module
        self.reset_parameters()
        for name, p in self.named_parameters():
            p.requires_grad_(name not in self.frozen_parameter_names())

    def frozen_parameter_names(self) -> set[str]:
        """The embeddings the config keeps at their init (`freeze_pos`, `freeze_embed`)."""
        return {name for name, frozen in (("pos_embed.weight", self.cfg.freeze_pos), ("embed.weight", self.cfg.freeze_embed))
                if frozen}

    def _add_orthogonal_noise(self) -> None:
        """[ours] Xi_l ~ N(0, sigma^2 / d) per entry, nearly orthogonal (Xi Xi^T ~ sigma^2 I), added
        as a frozen buffer to W_vo of layer l and W_qk of layer l + 1, so that W_qk(l+1) W_vo(l)^T
        holds sigma^2 I, the identity matching needs, from the first step.

        target "unmatched" is the control: W_vo(l) gets Xi_l and W_qk(l+1) an independent Xi'_l of
        the same scale, so both matrices receive the same amount of noise but their product
        Xi'_l Xi_l^T holds no identity."""
        cfg = self.cfg
        if cfg.noise_std == 0:
            return
        g = torch.Generator().manual_seed(cfg.noise_seed)
        g_other = torch.Generator().manual_seed(cfg.noise_seed + 1_000_003)   # the control's Xi'
        scale = cfg.noise_std / math.sqrt(cfg.d_model)
        for layer in range(cfg.n_layers - 1):
            xi = torch.randn(cfg.d_model, cfg.d_model, generator=g) * scale
            xi_other = torch.randn(cfg.d_model, cfg.d_model, generator=g_other) * scale
            if cfg.noise_layer is not None and layer != cfg.noise_layer:
                continue   # drawn anyway, so that layer l's Xi is the same with or without the others
            if cfg.noise_target in ("both", "vo", "unmatched"):
                self.blocks[layer].attn.noise_vo = xi
            if cfg.noise_target in ("both", "qk"):
                self.blocks[layer + 1].attn.noise_qk = xi.clone()
            if cfg.noise_target == "unmatched":
                self.blocks[layer + 1].attn.noise_qk = xi_other

    # ------------------------------------------------------------------ init
    def reset_parameters(self) -> None:
        """Every weight U(-b, b) with b = (6 / fan_in) ** init_rate; biases 0, LayerNorms 1/0.

        With init="torch": embeddings N(0, 1) and every matrix U(+-1/sqrt(fan_in)), as
        nn.Embedding and nn.Linear start by default (paper B's models).
        """
        cfg = self.cfg
        pos_fan_in = cfg.vocab_size if cfg.pos_init_scale == "vocab" else cfg.seq_len
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.startswith("ln") or ".ln" in name:
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                elif p.ndim <= 1 or ".b_" in name:
                    p.zero_()
                elif cfg.init == "torch":
                    if name in ("embed.weight", "pos_embed.weight"):
                        p.normal_(0.0, 1.0)
                    else:
                        bound = 1.0 / math.sqrt(self.fan_in(name, p))
                        p.uniform_(-bound, bound)
                else:
                    fan_in = {"embed.weight": cfg.vocab_size, "pos_embed.weight": pos_fan_in}.get(name)
                    rate = cfg.embed_init_rate if name == "embed.weight" and cfg.embed_init_rate is not None else cfg.init_rate
                    bound = init_bound(fan_in or self.fan_in(name, p), rate)
                    p.uniform_(-bound, bound)
            if self.embed_scale is not None:   # g starts at the rows' mean norm: the same first step
                self.embed_scale.fill_(self.embed.weight.norm(dim=-1).mean().item())

    def fan_in(self, name: str, p: torch.Tensor) -> int:
        """Inputs feeding one output unit of this weight."""
        if name.endswith(("W_Q", "W_K", "W_V")):
            return self.cfg.d_model
        if name.endswith("W_O"):
            return self.cfg.n_heads * self.cfg.d_head
        return p.shape[1]  # nn.Linear: [out, in]

    # ------------------------------------------------------------------ forward
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [batch, pos] -> logits [batch, pos, vocab]."""
        T = tokens.shape[1]
        if T > self.cfg.seq_len:
            raise ValueError(f"sequence length {T} exceeds the model's seq_len={self.cfg.seq_len}")
        positions = torch.arange(T, device=tokens.device)
        x = self.hook_embed(self._rescaled(self.embed(tokens))) + self.hook_pos_embed(self.pos_embed(positions))
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)
        return self.unembed(self.ln_final(x))

    def _rescaled(self, rows: torch.Tensor) -> torch.Tensor:
        """Token rows as the model uses them: with embed_norm="shared", each at norm g."""
        if self.embed_scale is None:
            return rows
        return rows * (self.embed_scale / rows.norm(dim=-1, keepdim=True))

    def token_embeddings(self) -> torch.Tensor:
        """W_E [vocab, d_model] as the forward pass sees it (embed.weight, rescaled if embed_norm="shared")."""
        return self._rescaled(self.embed.weight)

    # ------------------------------------------------------------------ inspection
    @contextmanager
    def hooks(self, fwd_hooks: Iterable[tuple[str | Callable[[str], bool], Callable]]):
        """Attach `(name or name_filter, fn)` hooks for the duration of a `with` block."""
        attached = []
        try:
            for name, fn in fwd_hooks:
                for hp in self._match(name):
                    hp.fns.append(fn)
                    attached.append((hp, fn))
            yield self
        finally:
            for hp, fn in attached:
                hp.fns.remove(fn)

    def run_with_hooks(self, tokens, fwd_hooks=()) -> torch.Tensor:
        with self.hooks(fwd_hooks):
            return self(tokens)

    def run_with_cache(self, tokens, names_filter=None, fwd_hooks=()):
        """Logits and an `ActivationCache` of every hook point (or those `names_filter` keeps)."""
        cache = ActivationCache()

        def save(x, hook):
            cache[hook.name] = x.detach()

        names = names_filter if names_filter is not None else (lambda name: True)
        with torch.no_grad(), self.hooks(list(fwd_hooks) + [(names, save)]):
            logits = self(tokens)
        return logits, cache

    def _match(self, name):
        if callable(name):
            found = [hp for n, hp in self.hook_points.items() if name(n)]
        elif isinstance(name, str) and name in self.hook_points:
            found = [self.hook_points[name]]
        else:
            found = []
        if not found and not callable(name):
            raise ValueError(f"no hook point named {name!r}; see model.hook_points")
        return found

    # ------------------------------------------------------------------ weights
    def W_qk(self, layer: int, head: int = 0) -> torch.Tensor:
        """W_q W_k^T [d_model, d_model]: score(i, j) = x_i W_qk x_j^T / sqrt(d_head) (+ frozen noise)."""
        attn = self._attn(layer, head)
        w = attn.W_Q[head] @ attn.W_K[head].T
        return w + attn.noise_qk if head == 0 and attn.noise_qk is not None else w

    def W_vo(self, layer: int, head: int = 0) -> torch.Tensor:
        """W_v W_o [d_model, d_model]: what a key position writes into the query's stream (+ noise)."""
        attn = self._attn(layer, head)
        w = attn.W_V[head] @ attn.W_O[head]
        return w + attn.noise_vo if head == 0 and attn.noise_vo is not None else w

    def _attn(self, layer: int, head: int) -> Attention:
        if not 0 <= layer < self.cfg.n_layers:
            raise ValueError(f"layer={layer} is outside 0..{self.cfg.n_layers - 1}")
        if not 0 <= head < self.cfg.n_heads:
            raise ValueError(f"head={head} is outside 0..{self.cfg.n_heads - 1}")
        return self.blocks[layer].attn

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device


SHORT_NAMES = {
    "pattern": "blocks.{l}.attn.hook_pattern", "attn_scores": "blocks.{l}.attn.hook_attn_scores",
    "q": "blocks.{l}.attn.hook_q", "k": "blocks.{l}.attn.hook_k", "v": "blocks.{l}.attn.hook_v",
    "z": "blocks.{l}.attn.hook_z", "resid_pre": "blocks.{l}.hook_resid_pre",
    "resid_mid": "blocks.{l}.hook_resid_mid", "resid_post": "blocks.{l}.hook_resid_post",
    "attn_out": "blocks.{l}.hook_attn_out", "mlp_out": "blocks.{l}.hook_mlp_out",
    "mlp_post": "blocks.{l}.mlp.hook_post",
}


class ActivationCache(dict):
    """A dict of activations; `cache["pattern", 1]` is `cache["blocks.1.attn.hook_pattern"]`."""

    def __getitem__(self, key):
        if isinstance(key, tuple):
            short, layer = key
            if short not in SHORT_NAMES:
                raise KeyError(f"{short!r} is not one of {list(SHORT_NAMES)}")
            key = SHORT_NAMES[short].format(l=layer)
        return super().__getitem__(key)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
