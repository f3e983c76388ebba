"""The resumable sweep runner: one file per run, finished runs are skipped, order is kept."""
import json

import pytest

from helpers.sweep import cell_key, pending_cells, run_path, run_sweep


def test_cell_key_is_stable_and_names_every_setting():
    assert cell_key({"seed": 0, "gamma": 1.0, "norm": "post"}) == "gamma=1.0_norm=post_seed=0"
    assert cell_key({"target": "qk/vo"}) == "target=qk-vo"
    with pytest.raises(ValueError, match="at least one setting"):
        cell_key({})


def test_sweep_resumes_and_skips_finished_runs(tmp_path):
    calls = []

    def run(cell):
        calls.append(cell["seed"])
        return {"score": cell["seed"] * 10}

    cells = [{"seed": s} for s in range(3)]
    run_path(tmp_path, cells[1]).write_text(json.dumps({"seed": 1, "score": 99}))   # finished earlier
    records = run_sweep(run, cells, tmp_path, workers=1, progress=False)
    assert calls == [0, 2], "the finished run is not trained again"
    assert [r["score"] for r in records] == [0, 99, 20]
    assert all("seconds" in r for r in (records[0], records[2]))
    assert pending_cells(cells, tmp_path) == []
    assert run_sweep(run, cells, tmp_path, workers=1, progress=False) == records
    assert calls == [0, 2], "a second call runs nothing"
    assert not list(tmp_path.glob("*.tmp")), "results are written atomically"


def test_sweep_runs_cells_in_a_process_pool(tmp_path):
    cells = [{"seed": s, "name": "x"} for s in range(3)]
    records = run_sweep(dict, cells, tmp_path, workers=2, progress=False)   # dict(cell) is a picklable run
    assert [r["seed"] for r in records] == [0, 1, 2]
    assert len(list(tmp_path.glob("*.json"))) == 3


def test_sweep_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="workers=0"):
        run_sweep(dict, [{"seed": 0}], tmp_path, workers=0)
    with pytest.raises(ValueError, match="share a key"):
        run_sweep(dict, [{"seed": 0}, {"seed": 0}], tmp_path)
