import math

import pytest
import torch

from helpers.model import ModelConfig, Transformer, init_bound
from helpers.train import make_model


def small_config(**kw):
    base = dict(vocab_size=201, seq_len=13, n_layers=3, d_model=32, d_ff=64)
    base.update(kw)
    return ModelConfig(**base)


@pytest.mark.parametrize("gamma", [0.3, 0.5, 1.0])
def test_init_rate_gives_stated_bound(gamma):
    model = make_model(small_config(d_model=64, d_ff=256, init_rate=gamma), seed=0)
    for name, fan_in in [("blocks.0.attn.W_Q", 64), ("blocks.1.mlp.W_in.weight", 64),
                         ("blocks.1.mlp.W_out.weight", 256), ("embed.weight", 201),
                         ("pos_embed.weight", 201)]:
        w = dict(model.named_parameters())[name]
        b = (6 / fan_in) ** gamma
        assert w.abs().max() <= b + 1e-7
        assert w.abs().max() > 0.95 * b, f"{name} does not fill its range"
    assert init_bound(6, 0.7) == 1.0


def test_position_scale_option_uses_seq_len():
    model = make_model(small_config(pos_init_scale="seq_len", init_rate=1.0))
    assert math.isclose(model.pos_embed.weight.abs().max().item(), 6 / 13, rel_tol=0.1)


def test_embed_init_rate_sets_only_the_token_rows_and_freeze_embed_keeps_them():
    from helpers.data import make_chain_data
    from helpers.train import TrainConfig, train
    model = make_model(small_config(init_rate=1.0, embed_init_rate=0.5, freeze_embed=True), seed=0)
    params = dict(model.named_parameters())
    assert math.isclose(params["embed.weight"].abs().max().item(), (6 / 201) ** 0.5, rel_tol=0.05)
    assert params["pos_embed.weight"].abs().max() <= 6 / 201 + 1e-7
    assert params["blocks.0.attn.W_Q"].abs().max() <= 6 / 32 + 1e-7
    before = {k: v.detach().clone() for k, v in params.items()}
    train(model, make_chain_data(200, 1, "train", seed=0), {}, TrainConfig(steps=5, batch_size=32, warmup_steps=0,
          weight_decay=0.1, decay_all=True, eval_every=5), progress=False)
    assert torch.equal(params["embed.weight"], before["embed.weight"]), "a frozen token embedding moved"
    assert not torch.equal(params["pos_embed.weight"], before["pos_embed.weight"])


def test_shared_embed_norm_keeps_untouched_rows_as_large_as_trained_ones(tmp_path):
    """embed_norm="shared": every token row, trained or never seen, has the one learned norm g."""
    from helpers.data import make_chain_data
    from helpers.train import TrainConfig, load_checkpoint, save_checkpoint, train
    model = make_model(small_config(embed_norm="shared"), seed=0)
    raw = model.embed.weight.norm(dim=-1)
    assert math.isclose(model.embed_scale.item(), raw.mean().item(), rel_tol=1e-6)   # g starts at the rows' mean norm
    assert torch.allclose(model.token_embeddings().norm(dim=-1), model.embed_scale.detach().expand(201), rtol=1e-5)
    g0 = model.embed_scale.item()

    def train_briefly(m):   # 1-hop questions use only ID tokens: rows 100..200 get no gradient
        train(m, make_chain_data(500, 1, "train", seed=0), {}, TrainConfig(steps=40, batch_size=64, lr=3e-2,
              warmup_steps=0, eval_every=40), progress=False)

    train_briefly(model)
    assert abs(model.embed_scale.item() - g0) > 1e-3, "the shared norm g never moved"
    norms = model.token_embeddings().norm(dim=-1)
    assert torch.allclose(norms[150:], norms[1:100].mean().expand(51), rtol=1e-4), "never-seen rows fell behind"
    plain = make_model(small_config(), seed=0)
    train_briefly(plain)
    plain_norms = plain.token_embeddings().norm(dim=-1)
    assert plain_norms[150:].mean() < 0.8 * plain_norms[1:100].mean(), "without it the unseen rows do fall behind"
    save_checkpoint(tmp_path / "m.pt", model)
    loaded, _ = load_checkpoint(tmp_path / "m.pt")
    tokens = make_chain_data(8, 1, "test_id", seed=1).inputs
    assert torch.allclose(loaded(tokens), model(tokens), atol=1e-5)


@pytest.mark.parametrize("kwargs,message", [
    (dict(embed_norm="unit"), "embed_norm='unit' is not one of"),
    (dict(init_rate=0.0), "init_rate=0.0 must be > 0"),
    (dict(embed_init_rate=0.0), "embed_init_rate=0.0 must be > 0"),
    (dict(init_rate=-1), "init_rate=-1 must be > 0"),
    (dict(norm="middle"), "norm='middle' is not one of"),
    (dict(activation="tanh"), "activation='tanh' is not one of"),
    (dict(n_layers=0), "n_layers=0 must be >= 1"),
])
def test_config_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_config(**kwargs)


@pytest.mark.parametrize("norm", ["post", "pre"])
def test_forward_shape_and_causality(norm):
    model = make_model(small_config(norm=norm), seed=1)
    x = torch.randint(1, 100, (4, 13))
    logits = model(x)
    assert logits.shape == (4, 13, 201)
    y = x.clone()
    y[:, 8:] = torch.randint(1, 100, (4, 5))
    assert torch.allclose(model(y)[:, :8], logits[:, :8], atol=1e-6), "future tokens leak"
    with pytest.raises(ValueError, match="exceeds the model's seq_len=13"):
        model(torch.randint(1, 100, (1, 14)))


def test_run_with_cache_contents():
    model = make_model(small_config(n_heads=2, d_model=32), seed=0)
    x = torch.randint(1, 100, (5, 13))
    logits, cache = model.run_with_cache(x)
    assert torch.allclose(logits, model(x))
    for layer in range(3):
        pattern = cache["pattern", layer]
        assert pattern is cache[f"blocks.{layer}.attn.hook_pattern"]
        assert pattern.shape == (5, 2, 13, 13)                 # [batch, head, query, key]
        assert torch.allclose(pattern.sum(-1), torch.ones(5, 2, 13))
        assert (pattern.triu(1) == 0).all(), "no attention to later positions"
        assert cache["resid_post", layer].shape == (5, 13, 32)
        assert cache["q", layer].shape == (5, 13, 2, 16)
    assert not model.hook_points["blocks.0.attn.hook_pattern"].fns, "cache hooks are removed"
    _, only = model.run_with_cache(x, names_filter=lambda n: n.endswith("hook_pattern"))
    assert len(only) == 3


def test_scores_equal_W_qk_quadratic_form():
    model = make_model(small_config(), seed=2)
    x = torch.randint(1, 100, (2, 13))
    _, cache = model.run_with_cache(x)
    resid = cache["resid_pre", 1]
    scores = cache["attn_scores", 1][:, 0]
    expected = resid @ model.W_qk(1) @ resid.transpose(1, 2) / math.sqrt(model.cfg.d_head)
    causal = torch.tril(torch.ones(13, 13, dtype=torch.bool))
    assert torch.allclose(scores[:, causal], expected[:, causal], atol=1e-5)
    z_out = cache["pattern", 1][:, 0] @ resid @ model.W_vo(1)
    assert torch.allclose(z_out, cache["attn_out", 1], atol=1e-5)


def test_run_with_hooks_ablation_and_cleanup():
    model = make_model(small_config(), seed=0)
    x = torch.randint(1, 100, (3, 13))
    clean = model(x)
    ablated = model.run_with_hooks(x, [("blocks.1.hook_attn_out", lambda t, hook: torch.zeros_like(t))])
    assert not torch.allclose(ablated, clean)
    assert torch.allclose(model(x), clean), "hooks are removed after the run"
    with pytest.raises(ValueError, match="no hook point named 'blocks.9.attn'"):
        model.run_with_hooks(x, [("blocks.9.attn", lambda t, hook: t)])
    with pytest.raises(ValueError, match="layer=5 is outside 0..2"):
        model.W_qk(5)


def test_same_seed_same_weights():
    a, b = make_model(small_config(), seed=7), make_model(small_config(), seed=7)
    c = make_model(small_config(), seed=8)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.embed.weight, c.embed.weight)


def test_orthogonal_noise_is_frozen_and_plants_the_identity():
    model = make_model(small_config(d_model=64, noise_std=1.0), seed=0)
    xi = model.blocks[0].attn.noise_vo
    assert torch.equal(xi, model.blocks[1].attn.noise_qk)
    assert model.blocks[0].attn.noise_qk is None and model.blocks[2].attn.noise_vo is None
    assert all("noise" not in name for name, _ in model.named_parameters()), "noise is never trained"
    gram = xi @ xi.T
    assert (gram.argmax(1) == torch.arange(64)).all()
    assert gram.diagonal().mean() == pytest.approx(1.0, abs=0.15)
    plain = make_model(small_config(d_model=64), seed=0)
    assert torch.allclose(model.W_qk(1), plain.W_qk(1) + xi)
    qk_only = make_model(small_config(d_model=64, noise_std=1.0, noise_target="qk"), seed=0)
    assert qk_only.blocks[0].attn.noise_vo is None and qk_only.blocks[1].attn.noise_qk is not None
    with pytest.raises(ValueError, match="noise_target='ov' is not one of"):
        small_config(noise_target="ov")
    with pytest.raises(ValueError, match="noise_std=-1 must be >= 0"):
        small_config(noise_std=-1)


def test_unmatched_noise_has_the_same_scale_but_no_identity():
    """The control: W_vo(l) keeps Xi_l, W_qk(l+1) gets an independent Xi'_l of the same size, so
    the product that matching reads (Xi'_l Xi_l^T) has no diagonal."""
    both = make_model(small_config(d_model=64, noise_std=1.0), seed=0)
    ctrl = make_model(small_config(d_model=64, noise_std=1.0, noise_target="unmatched"), seed=0)
    xi, xi_other = ctrl.blocks[0].attn.noise_vo, ctrl.blocks[1].attn.noise_qk
    assert torch.equal(xi, both.blocks[0].attn.noise_vo)
    assert xi_other.norm() == pytest.approx(xi.norm().item(), rel=0.1)
    assert (xi @ xi.T).diagonal().mean() > 0.85
    assert (xi_other @ xi.T).diagonal().abs().mean() < 0.3
    assert ((xi_other @ xi.T).argmax(1) == torch.arange(64)).float().mean() < 0.1


def test_noise_on_one_layer_only():
    """noise_layer=l plants Xi_l on W_vo(l) and W_qk(l+1) only, the same Xi_l as with every layer."""
    one = Transformer(ModelConfig(n_layers=5, noise_std=1.0, noise_layer=1))
    every = Transformer(ModelConfig(n_layers=5, noise_std=1.0))
    assert [b.attn.noise_vo is not None for b in one.blocks] == [False, True, False, False, False]
    assert [b.attn.noise_qk is not None for b in one.blocks] == [False, False, True, False, False]
    assert torch.equal(one.blocks[1].attn.noise_vo, every.blocks[1].attn.noise_vo)
    with pytest.raises(ValueError, match="noise_layer=4 is outside the allowed range 0..3"):
        ModelConfig(n_layers=5, noise_layer=4)
