"""Every slider answers from shipped data, fast, and its title states what the data says."""
import time

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from helpers import DATA_DIR  # noqa: E402
from helpers import bench as B  # noqa: E402
from helpers import experiments as X  # noqa: E402
from helpers import sliders as S  # noqa: E402


@pytest.mark.parametrize("name", list(B.slider_settings()))
def test_every_slider_answers_quickly(name):
    update, settings = B.slider_settings()[name]
    for args in settings:
        update(*args)            # warm-up: the first figure pays for matplotlib's caches
        plt.close("all")
        start = time.perf_counter()
        fig = update(*args)
        (fig or plt.gcf()).canvas.draw()
        assert time.perf_counter() - start < 1.5, f"{name} {args} took too long for a slider"
        plt.close("all")


def test_init_rate_view_title_counts_the_seeds():
    sweep = X.load_sweep(DATA_DIR / "init_ln_sweep.json")
    runs = S.init_runs(sweep, "post", 1.0)
    solved = sum(r["history"].steps_to("test_id", 0.95) is not None for r in runs)
    fig = S.init_rate_view(sweep, 1.0, "post")
    assert f"{solved}/{len(runs)} seeds reach 95 %" in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="gamma=0.33"):
        S.init_rate_view(sweep, 0.33, "post")


def test_noise_view_and_steps():
    sweep = X.load_sweep(DATA_DIR / "noise_sweep.json")
    base = S.noise_steps_to_solve(sweep, 0.0, "qk")   # no noise has no target: every target gives it
    assert base == S.noise_steps_to_solve(sweep, 0.0, "both") and len(base) == len(sweep["seeds"])
    fig = S.noise_view(sweep, 1.0, "vo")
    assert "σ = 1.0, noise on vo" in fig.axes[0].get_title()
    plt.close(fig)
    fig = S.noise_view(sweep, 0.5, "unmatched")   # the control is drawn and named as such
    assert "unmatched pair (control)" in fig.axes[0].get_title()
    assert any("unmatched pair" in t.get_text() for t in fig.axes[1].get_legend().get_texts())
    plt.close(fig)
    with pytest.raises(ValueError, match="sigma=0.3"):
        S.noise_view(sweep, 0.3, "both")


def test_noise5_view_draws_every_finished_setting():
    sweep = X.load_sweep(DATA_DIR / "noise5_sweep.json")
    base = S.noise5_runs(sweep, "with_order_after", 0.0)
    assert base and all(r["sigma"] == 0 for r in base)
    assert S.noise5_steps_by_hop(base)[3] == [r["steps_to_95_by_hop"]["3"] for r in base]
    fig = S.noise5_view(sweep, "with_order_after", 1.0, 0)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"no noise ({len(base)} seeds)" in labels
    for target in S.NOISE_COLORS:
        runs = S.noise5_runs(sweep, "with_order_after", 1.0, target, 0)
        assert any(f"{S._noise_setting_name(target)}, layer 0 ({len(runs)} seed" in t for t in labels) == bool(runs)
    plt.close(fig)
    with pytest.raises(ValueError, match="dataset='double'"):
        S.noise5_runs(sweep, "double", 1.0)


def _noise5_run(seed, sigma, target, layer, test_id, dataset="with_order_after"):
    from helpers.train import History
    return {"dataset": dataset, "sigma": sigma, "target": target, "layer": layer, "seed": seed,
            "history": History(steps=[250 * (i + 1) for i in range(len(test_id))], acc={"test_id": test_id})}


def test_noise5_layer_steps_marks_runs_that_never_solve_as_censored():
    sweep = {"datasets": ["with_order_after", "noised_double"],
             "runs": [_noise5_run(0, 0.0, "both", None, [0.5, 0.99]), _noise5_run(1, 0.0, "both", None, [0.98, 0.99]),
                      _noise5_run(0, 1.0, "qk", 1, [0.2, 0.5, 0.97]), _noise5_run(0, 1.0, "both", 2, [0.99]),
                      _noise5_run(0, 0.5, "both", 2, [0.2]), _noise5_run(0, 1.0, "both", 2, [0.1], "noised_double")],
             "in_progress": [_noise5_run(1, 1.0, "qk", 1, [0.3, 0.4])]}
    steps = S.noise5_layer_steps(sweep, "with_order_after", 1.0)
    assert steps == {("none", None): [(500, False), (250, False)], ("qk", 1): [(750, True)],
                     ("both", 2): [(250, False)]}   # the run in progress is left out
    assert S.noise5_layer_steps(sweep, "with_order_after", 1.0, mark=0.95)[("qk", 1)][0] == (750, False)
    fig = S.noise5_layer_view(sweep, "with_order_after", 1.0)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["no noise (2 seeds: range and mean)", "σ = 1.0 noise on both", "σ = 1.0 noise on qk",
                      "not reached within the run (a lower bound; no mean bar then)"]
    assert list(fig.axes[0].get_xticks()) == [1, 2]
    plt.close(fig)
    twins = dict(sweep, runs=sweep["runs"] + [_noise5_run(1, 1.0, "both", 2, [0.99])])   # two seeds at the same step
    fig = S.noise5_layer_view(twins, "with_order_after", 1.0)
    dots = [o for c in fig.axes[0].collections for o in c.get_offsets().tolist() if o[1] == 250]
    assert len(dots) == 2 and dots[0][0] != dots[1][0], "seeds side by side, not on top of each other"
    plt.close(fig)
    with pytest.raises(ValueError, match="mark=1.5"):
        S.noise5_layer_steps(sweep, mark=1.5)
    with pytest.raises(ValueError, match="no run with sigma=0.5"):
        S.noise5_layer_view(sweep, "noised_double", 0.5)


def test_depth_hops_view_reads_the_final_accuracy():
    sweep = X.load_sweep(DATA_DIR / "parallel_sweep.json")
    fig = S.depth_hops_view(sweep, 3, 2)
    finals = [r["acc_by_hop"]["test_id"]["2"] for r in sweep["runs"] if r["depth"] == 3]
    assert ", ".join(f"{v:.2f}" for v in finals) in fig.axes[0].get_title()
    assert "within the serial budget" in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="depth=9"):
        S.depth_hops_view(sweep, 9, 1)
