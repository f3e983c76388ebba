import pytest
import torch

from helpers import analysis as A
from helpers.data import chain_vocab_size, make_chain_data, make_iteration_data
from helpers.handbuilt import matching_model
from helpers.model import ModelConfig
from helpers.train import evaluate, make_model


@pytest.fixture(scope="module")
def hand2():
    return matching_model(2, d_token=48)


def test_handbuilt_model_solves_hops_it_was_built_for(hand2):
    for split in ("train", "test_id", "test_ood"):
        assert evaluate(hand2, make_chain_data(300, 2, split, seed=1))["acc"] == 1.0
    assert evaluate(matching_model(1, d_token=48), make_chain_data(300, 1, "test_ood"))["acc"] == 1.0
    with pytest.raises(ValueError, match="hops=7 is outside the allowed range 1..6"):
        matching_model(7)


def test_matching_scores_separate_handbuilt_from_random(hand2):
    data = make_chain_data(2000, 2, "test_id", seed=2)
    assert A.diagonal_score(A.matching_matrix(hand2, 1, torch.arange(1, 200))) == 1.0
    for layer in (1, 2):
        assert A.diagonal_score(A.effective_matching_matrix(hand2, data, layer)[0]) == 1.0
    random_model = make_model(ModelConfig(d_model=32, d_ff=64), seed=0)
    assert A.diagonal_score(A.effective_matching_matrix(random_model, data, 1)[0]) < 0.1
    assert A.hop_attention_accuracy(hand2, data) == {0: 1.0, 1: 1.0, 2: 1.0}
    with pytest.raises(ValueError, match="layer=0: matching starts at layer 1"):
        A.matching_matrix(hand2, 0, torch.arange(1, 10))


def test_diagonal_score():
    assert A.diagonal_score(torch.eye(4)) == 1.0
    assert A.diagonal_score(torch.eye(4).flip(0)) == 0.0


def test_ablation_and_redirection_change_the_answer(hand2):
    data = make_chain_data(300, 2, "test_id", seed=3)
    assert A.ablation_accuracy(hand2, data, "blocks.1.hook_attn_out") < 0.3
    with pytest.raises(ValueError, match="mode='half' is not one of"):
        A.ablation_accuracy(hand2, data, "blocks.1.hook_attn_out", mode="half")
    rows = torch.arange(len(data))
    chain, start = data.info["chain"], data.info["start"]
    other = A.other_middle_node(data)
    assert (other != start + 1).all() and (other <= 5).all()
    predicted = A.redirect_last_query(hand2, data, 1, A.child_position(data, chain[rows, other]))
    assert (predicted == chain[rows, other + 1]).all()


def test_ood_rescaling_copies_and_only_touches_ood_rows():
    model = make_model(ModelConfig(d_model=32, d_ff=64), seed=0)
    ID, OOD = torch.arange(1, 100), torch.arange(101, 200)
    with torch.no_grad():
        model.embed.weight[ID] *= 10
    fixed = A.with_ood_embeddings_rescaled(model, OOD, ID)
    assert torch.allclose(A.embedding_norms(fixed, OOD), A.embedding_norms(model, ID).mean().expand(99), rtol=1e-4)
    assert torch.equal(fixed.embed.weight[ID], model.embed.weight[ID])
    assert not torch.allclose(A.embedding_norms(model, OOD), A.embedding_norms(fixed, OOD))


def test_ood_rows_set_to_a_ratio_or_to_fresh_random_codes():
    model = make_model(ModelConfig(d_model=32, d_ff=64), seed=0)
    ID, OOD = torch.arange(1, 100), torch.arange(101, 200)
    id_norm = A.embedding_norms(model, ID).mean()
    shrunk = A.with_ood_embeddings_rescaled(model, OOD, ID, ratio=0.1)
    assert torch.allclose(A.embedding_norms(shrunk, OOD), (0.1 * id_norm).expand(99), rtol=1e-4)
    cos = torch.nn.functional.cosine_similarity(shrunk.embed.weight[OOD], model.embed.weight[OOD], dim=-1)
    assert torch.allclose(cos, torch.ones(99), atol=1e-5), "directions kept"
    fresh = A.with_ood_embeddings_rescaled(model, OOD, ID, random_directions=True, seed=1)
    cos = torch.nn.functional.cosine_similarity(fresh.embed.weight[OOD], model.embed.weight[OOD], dim=-1)
    assert cos.abs().mean() < 0.3, "new directions, unrelated to the old ones"
    assert torch.equal(fresh.embed.weight[ID], model.embed.weight[ID])
    with pytest.raises(ValueError, match="ratio=0 must be > 0"):
        A.with_ood_embeddings_rescaled(model, OOD, ID, ratio=0)


def test_embedding_geometry_of_random_rows():
    """At init every row is random: the OOD/ID norm ratio is ~1 and |cos| shrinks like 1/sqrt(d)."""
    ID, OOD = torch.arange(1, 100), torch.arange(101, 200)
    small = A.embedding_geometry(make_model(ModelConfig(d_model=16, d_ff=32), seed=0), ID, OOD)
    large = A.embedding_geometry(make_model(ModelConfig(d_model=256, d_ff=32), seed=0), ID, OOD)
    for g in (small, large):
        assert g["ood_id_norm_ratio"] == pytest.approx(1.0, abs=0.1)
        assert g["id_abs_cos"] == pytest.approx(g["id_ood_abs_cos"], rel=0.1)
    assert large["id_abs_cos"] < small["id_abs_cos"] / 3
    model = make_model(ModelConfig(d_model=16, d_ff=32), seed=0)
    with torch.no_grad():
        model.embed.weight[ID] *= 4
    assert A.embedding_geometry(model, ID, OOD)["ood_id_norm_ratio"] == pytest.approx(small["ood_id_norm_ratio"] / 4)


def test_iteration_head_targets_and_peakiness_range():
    data = make_iteration_data("parity", n_len=3, n_per_length=1, seed=0)  # lengths 1, 2, 3
    rows, queries, eoi, xs = A.iteration_head_targets(data)
    # length 3: EoI at 4; queries 4, 5, 6 read x_1, x_2, x_3 at 1, 2, 3
    last = rows == 2
    assert queries[last].tolist() == [4, 5, 6] and eoi[last].tolist() == [4, 4, 4] and xs[last].tolist() == [1, 2, 3]
    assert len(rows) == 1 + 2 + 3
    model = make_model(ModelConfig(vocab_size=64, seq_len=8, n_layers=2, d_model=32, d_ff=64, norm="pre"), seed=0)
    scores = A.peakiness(model, data)
    assert set(scores) == {0, 1} and all(0 <= v <= 1 for v in scores.values())


def test_chain_index_marks_chain_tokens_and_hop_token():
    data = make_chain_data(20, 2, "test_id", seed=3, variant="with_order")
    index = A.chain_index(data)
    assert index.shape == data.inputs.shape
    assert (index[:, -2] == -1).all()                               # the hop token
    assert torch.equal(index[:, -1], data.info["start"])            # the start node
    rows = torch.arange(20)[:, None]
    assert torch.equal(data.info["chain"][rows, index[:, :-2]], data.inputs[:, :-2])


def test_top_key_offsets_of_the_handbuilt_model_are_serial():
    model = matching_model(hops=3)
    data = make_chain_data(200, 3, "test_id", seed=4)
    last, pairs = A.top_key_chain_offsets(model, data)
    assert last.shape == (4, 200) and pairs.shape == (4, 200, 6)
    for layer in (1, 2, 3):
        assert (last[layer] == layer).float().mean() >= 0.99
    assert torch.isnan(pairs[0]).all()                              # layer 0 stays inside each pair


def test_largest_hops_solved_needs_every_smaller_hop():
    from helpers.experiments import largest_hops_solved
    assert largest_hops_solved({1: 0.99, 2: 0.96, 3: 0.5, 6: 0.99}) == 2
    assert largest_hops_solved({"1": 0.2, "6": 1.0}) == 0


def test_train_parallel_rejects_hops_beyond_the_chain():
    from helpers.experiments import train_parallel
    with pytest.raises(ValueError, match=r"hops=7 is outside the allowed range 1..6"):
        train_parallel(3, hops=(1, 7), n_nodes=7)


def test_handbuilt_parallel_model_beats_the_serial_budget():
    from helpers.handbuilt import parallel_model
    model = parallel_model()
    assert model.cfg.n_layers == 3                       # serial budget: 2 hops
    for split in ("test_id", "test_ood"):
        data = make_chain_data(500, 3, split, seed=11)
        assert evaluate(model, data)["acc"] == 1.0
    # both pair orders occur, and each is served by its own layer-2 head
    data = make_chain_data(500, 3, "test_id", seed=12)
    _, cache = model.run_with_cache(data.inputs)
    sink_weight = cache["pattern", 2][:, 1, -1, 0]       # head 1 rests on the sink when head 0 has it
    assert 0.2 < (sink_weight > 0.5).float().mean() < 0.8


# ---- notebook 08: chain-of-thought steps ----
def test_cot_child_slot_holds_the_next_node():
    from helpers.data import make_chain_data
    data = make_chain_data(200, [1, 2, 3, 4], "test_id", seed=4, cot=True)
    rows, pos, node = A.cot_queries(data)
    assert len(rows) == int(data.info["hops"].sum())
    slot = A.cot_child_slot(data, rows, node)
    assert torch.equal(data.inputs[rows, slot], data.targets[rows, pos])     # the slot holds the step's answer
    assert torch.equal(data.inputs[rows, slot - 1], node)                      # ... after its parent, the node


def test_cot_mechanism_metrics_on_the_shipped_model():
    """The shipped CoT model matches by content; a copy with its pairing layer silenced does not."""
    from helpers.experiments import chain_cot_eval_sets, cot_mechanism_metrics, load_chain_cot_model
    model, _ = load_chain_cot_model(0)
    test = chain_cot_eval_sets(cot=True)["test_id"][:600]
    good = cot_mechanism_metrics(model.cpu(), test)
    assert good["matching_score"] >= 0.95 and good["attention"]["content"] >= 0.95
    assert good["acc_pairs_reshuffled"] >= 0.95 and good["redirect"]["follows_new_token"] >= 0.95
    with torch.no_grad():
        model.blocks[0].attn.W_O.zero_()
    broken = cot_mechanism_metrics(model, test)
    assert broken["attention"]["content"] < 0.5 and broken["redirect"]["follows_new_token"] < 0.5


def test_redirect_needs_two_hops():
    from helpers.data import make_chain_data
    from helpers.experiments import load_chain_cot_model
    model, _ = load_chain_cot_model(0)
    with pytest.raises(ValueError, match="at least 2 hops"):
        A.redirected_step_accuracy(model, make_chain_data(20, 1, "test_id", cot=True))


def test_answer_kinds_tell_a_short_hop_from_a_right_answer(hand2):
    data = make_chain_data(300, 2, "test_id", seed=4)
    assert A.answer_kinds(hand2, data)["right"] == 1.0
    one_hop = matching_model(1, d_token=48)          # follows one pair: the middle node of a 2-hop question
    kinds = A.answer_kinds(one_hop, data)
    assert kinds["one_hop_short"] == 1.0 and sum(kinds.values()) == pytest.approx(1.0)


def test_with_order_attention_targets_labels_each_key_kind():
    """Hand-set patterns on with-order questions: every query reading the start token, then every
    query reading the slot that holds node 1 as a child, then node 1 as a parent (when it has one)."""
    data = make_chain_data(50, 2, "test_id", n_nodes=5, variant="with_order_after", seed=3)
    n, T = data.inputs.shape
    rows = torch.arange(n)
    node1 = data.info["chain"][rows, data.info["start"] + 1]
    node2 = data.info["chain"][rows, data.info["start"] + 2]
    patterns = [torch.zeros(n, T, T) for _ in range(3)]
    patterns[0][:, :, T - 2] = 1.0
    patterns[1][rows, :, A.child_position(data, node1)] = 1.0
    parent_slot = A.child_position(data, node2) - 1      # the first slot of the pair [node 1, node 2]
    patterns[2][rows, :, parent_slot] = 1.0
    (last,) = A.with_order_attention_targets(None, data, positions=(-1,), patterns=patterns)
    assert last[0] == {"start token": 1.0}
    assert last[1] == {"node 1": 1.0}
    assert last[2] == {"node 1 as a parent": 1.0}
    offsets = A.chain_offsets_read(None, data, (-1, -2), patterns=patterns)
    assert offsets.shape == (2, 3, n) and (offsets[:, 1] == 1).all() and (offsets[:, 0] == 0).all()


def test_serial_walk_share_finds_the_walk_and_its_first_layer():
    """Hand-set patterns on 2-hop with-order questions, 5 layers: the last position reads the start
    token in layer 1, node 1 in layer 2 and node 2 in layer 3 (a walk from layer 1) in the first
    half of the questions; in the second half it reads node 1 twice (no walk)."""
    data = make_chain_data(40, 2, "test_id", n_nodes=5, variant="with_order_after", seed=5)
    n, T = data.inputs.shape
    rows = torch.arange(n)
    slot = {j: A.child_position(data, data.info["chain"][rows, data.info["start"] + j]) for j in (1, 2)}
    patterns = [torch.full((n, T, T), 1.0 / T) for _ in range(5)]
    patterns[1][:, :, T - 2] = 1.0
    patterns[2][rows, -1, slot[1]] = 1.0
    patterns[3][rows, -1, torch.where(rows < n // 2, slot[2], slot[1])] = 1.0
    shares = A.serial_walk_share(None, data, 2, patterns=patterns)
    assert list(shares) == [0, 1, 2]
    assert shares[1] == pytest.approx(0.5) and shares[0] == 0.0 and shares[2] == 0.0
    with pytest.raises(ValueError, match="hops=5"):
        A.serial_walk_share(None, data, 5, patterns=patterns)


def test_serial_walk_share_counts_a_question_once():
    """1-hop questions, 5 layers: the last position reads the start token in layers 0 and 3 and
    node 1 in layers 1 and 4, so every question fits a walk from layer 0 and one from layer 3; it
    counts under layer 0 only, and the shares add up to 1, not 2."""
    data = make_chain_data(30, 1, "test_id", n_nodes=5, variant="with_order_after", seed=6)
    n, T = data.inputs.shape
    rows = torch.arange(n)
    slot = A.child_position(data, data.info["chain"][rows, data.info["start"] + 1])
    patterns = [torch.full((n, T, T), 1.0 / T) for _ in range(5)]
    for layer in (0, 3):
        patterns[layer][:, -1, T - 2] = 1.0
    for layer in (1, 4):
        patterns[layer][rows, -1, slot] = 1.0
    shares = A.serial_walk_share(None, data, 1, patterns=patterns)
    assert shares[0] == pytest.approx(1.0) and shares[3] == 0.0 and sum(shares.values()) == pytest.approx(1.0)


def test_without_start_token_removes_that_weight_only_in_the_named_layers():
    data = make_chain_data(20, 2, "test_id", n_nodes=5, variant="with_order_after", seed=6)
    model = make_model(ModelConfig(vocab_size=chain_vocab_size("with_order_after"), seq_len=data.inputs.shape[1],
                                   d_model=32, n_layers=3, n_heads=1), seed=0)
    with model.hooks(A.without_start_token((1,))):
        _, cache = model.run_with_cache(data.inputs)
    assert (cache["pattern", 1][:, 0, -1, -2] == 0).all()
    assert cache["pattern", 1][:, 0, -1].sum(-1) == pytest.approx(torch.ones(len(data)))
    assert (cache["pattern", 0][:, 0, -1, -2] > 0).all() and (cache["pattern", 2][:, 0, -1, -2] > 0).all()


def test_pairs_kept_apart_leaves_each_pair_only_itself_in_the_named_layers():
    data = make_chain_data(20, 2, "test_id", n_nodes=5, variant="with_order_after", seed=6)
    model = make_model(ModelConfig(vocab_size=chain_vocab_size("with_order_after"), seq_len=data.inputs.shape[1],
                                   d_model=32, n_layers=3, n_heads=1), seed=0)
    n_pairs = A.pair_token_count(data)
    with model.hooks(A.pairs_kept_apart((1,), n_pairs)):
        _, cache = model.run_with_cache(data.inputs)
    kept, free = cache["pattern", 1][:, 0], cache["pattern", 0][:, 0]
    for q in range(n_pairs):
        own = [q - 1, q] if q % 2 else [q]
        assert kept[:, q].sum(-1) == pytest.approx(torch.ones(len(data)))
        assert kept[:, q, own].sum(-1) == pytest.approx(torch.ones(len(data)))
    assert (free[:, 3, :2] > 0).all(), "layer 0 untouched: pair 1 still reads pair 0"
    assert (kept[:, -1, :n_pairs].sum(-1) > 0).all(), "the question's positions still read the pairs"
    with pytest.raises(ValueError, match="n_pair_tokens=3"):
        A.pairs_kept_apart((0,), 3)


def test_shared_node_reads_counts_reads_of_the_other_pair_with_the_same_node():
    data = make_chain_data(4, 1, "test_id", n_nodes=5, variant="with_order_after", seed=3)
    n_pairs, T = A.pair_token_count(data), data.inputs.shape[1]
    inputs = data.inputs
    pattern = torch.zeros(len(data), T, T)
    pattern[:, torch.arange(T), torch.arange(T)] = 1.0           # everyone reads itself: no shared-node read
    nobody = A.shared_node_reads(None, data, 0, patterns=[pattern])
    assert nobody["parent"] == nobody["child"] == nobody["parent of those that can"] == 0.0
    expected = 0
    for b in range(len(data)):                                    # each first slot reads an earlier slot holding its token
        for q in range(0, n_pairs, 2):
            match = [t for t in range(q) if t // 2 != q // 2 and inputs[b, t] == inputs[b, q]]
            if match:
                pattern[b, q] = 0.0
                pattern[b, q, match[0]] = 1.0
                expected += 1
    shares = A.shared_node_reads(None, data, 0, patterns=[pattern])
    assert shares["child"] == 0.0 and shares["parent"] == pytest.approx(expected / (len(data) * n_pairs // 2))
    assert shares["parent can"] == pytest.approx(shares["parent"]) and shares["parent of those that can"] == 1.0
    assert 0.0 < shares["parent"] < 1.0 and 0.0 < shares["child can"] < 1.0   # a pair that comes first has nothing earlier
    with pytest.raises(ValueError, match="layer=1: allowed 0..0"):
        A.shared_node_reads(None, data, 1, patterns=[pattern])
