"""Resumable sweeps: one JSON result file per run, so that an interrupted sweep resumes.

    records = run_sweep(run_fn, cells, run_dir, workers=2)

`cells` is a list of dicts of JSON-able settings, e.g. `{"norm": "post", "gamma": 1.0, "seed": 0}`.
`run_fn(cell) -> dict` trains one run and returns its record (config, curves, final metrics); it
must be a module-level function so that a process pool can send it to a worker. Each finished run
is written atomically to `run_dir/<key>.json` (the key spells the cell's settings), so re-running
the same command skips every cell whose file exists and runs only the rest. `workers` processes run
side by side, each on one torch thread (on a machine with a GPU they share the one GPU).

A sweep's aggregate file in `data/` is then made from the run files by the caller
(`helpers.experiments`), and the run files are kept in `data/runs/<sweep>/` so that a teacher can
extend a grid without retraining what is there.
"""
from __future__ import annotations

import json
import re
import time
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm


def cell_key(cell: dict) -> str:
    """A file name for `cell`, e.g. {"norm": "post", "gamma": 1.0, "seed": 0} -> "gamma=1.0_norm=post_seed=0"."""
    if not cell:
        raise ValueError("a sweep cell needs at least one setting, got {}")
    key = "_".join(f"{name}={cell[name]}" for name in sorted(cell))
    return re.sub(r"[^\w.=+-]", "-", key)


def run_path(run_dir: Path, cell: dict) -> Path:
    return Path(run_dir) / f"{cell_key(cell)}.json"


def partial_path(run_dir: Path, cell: dict) -> Path:
    """Where a long run keeps its mid-run checkpoint (see `train(..., checkpoint=...)`); the run
    function deletes it once the run's result file is written."""
    return Path(run_dir) / f"{cell_key(cell)}.partial.pt"


def _save_record(run_dir: Path, cell: dict, record: dict, seconds: float) -> str:
    record = {**cell, **record}
    record.setdefault("seconds", seconds)
    record.setdefault("device", "cuda" if torch.cuda.is_available() else "cpu")   # where it ran (or finished)
    path = run_path(run_dir, cell)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)   # atomic: a killed run leaves no half-written result
    partial_path(run_dir, cell).unlink(missing_ok=True)
    return path.name


def _run_and_save(run_fn: Callable[[dict], dict], run_dir: Path, cell: dict) -> str:
    torch.set_num_threads(1)
    start = time.perf_counter()
    return _save_record(run_dir, cell, run_fn(cell), time.perf_counter() - start)


def _run_group_and_save(group_fn: Callable[[list], list], run_dir: Path, cells: list[dict]) -> list[str]:
    torch.set_num_threads(1)
    start = time.perf_counter()
    records = group_fn(cells, run_dir=run_dir)   # the group's weights go next to its records
    return [_save_record(run_dir, c, r, time.perf_counter() - start) for c, r in zip(cells, records)]


def seed_groups(cells: list[dict], size: int) -> list[list[dict]]:
    """`cells` grouped by every setting but "seed", in order, at most `size` cells a group."""
    groups: dict[str, list[list[dict]]] = {}
    for cell in cells:
        chunks = groups.setdefault(cell_key({k: v for k, v in cell.items() if k != "seed"} or {"_": 0}), [[]])
        if len(chunks[-1]) == size:
            chunks.append([])
        chunks[-1].append(cell)
    return [chunk for chunks in groups.values() for chunk in chunks]


def run_sweep_together(group_fn: Callable[[list], list], cells: list[dict], run_dir: Path, workers: int = 1,
                       group_size: int = 10, desc: str = "sweep", progress: bool = True) -> list[dict]:
    """`run_sweep` for a run function that trains the cells of a group together
    (`group_fn(cells, run_dir=run_dir) -> records`, e.g. several seeds as one vmapped model): the pending cells are
    grouped by every setting but the seed, and each group is one job (resumable between groups).
    Cells that have a mid-run checkpoint (`partial_path`) are grouped apart from those that do not,
    so that `group_fn` can resume them (together when their checkpoints share a step, else alone)."""
    if workers < 1 or group_size < 1:
        raise ValueError(f"workers={workers} and group_size={group_size} must be >= 1")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    pending = pending_cells(cells, run_dir)
    started = [c for c in pending if partial_path(run_dir, c).exists()]
    groups = seed_groups(started, group_size) + seed_groups([c for c in pending if c not in started], group_size)
    print(f"{desc}: {len(cells) - sum(map(len, groups))} of {len(cells)} runs already done in {run_dir}, "
          f"{len(groups)} group(s) of seeds to train together on {min(workers, max(1, len(groups)))} worker(s)")
    _run_jobs(partial(_run_group_and_save, group_fn, run_dir), groups, workers, desc, progress, "group")
    return finished_records(cells, run_dir)


def _run_jobs(job: Callable, items: list, workers: int, desc: str, progress: bool, unit: str) -> None:
    """job(item) for every item, in `workers` processes (in this one if 1), with a progress bar."""
    bar = tqdm(total=len(items), desc=desc, disable=not progress or not items, unit=unit)
    if workers == 1 or len(items) <= 1:
        for item in items:
            job(item)
            bar.update()
    else:
        with get_context("spawn").Pool(min(workers, len(items))) as pool:
            for _ in pool.imap_unordered(job, items):
                bar.update()
    bar.close()


def pending_cells(cells: list[dict], run_dir: Path) -> list[dict]:
    """The cells of `cells` that have no result file in `run_dir` yet."""
    return [c for c in cells if not run_path(run_dir, c).exists()]


def finished_records(cells: list[dict], run_dir: Path) -> list[dict]:
    """The records of the cells of `cells` that have a result file in `run_dir`, in `cells` order
    (a sweep that outlasts one sitting ships what it has; `pending_cells` lists the rest)."""
    return [json.loads(run_path(run_dir, c).read_text()) for c in cells if run_path(run_dir, c).exists()]


def in_progress_records(cells: list[dict], run_dir: Path) -> list[dict]:
    """For the cells with a mid-run checkpoint and no result yet: the cell, its curves so far and
    the step it reached (a long sweep ships how its unfinished runs stand)."""
    records = []
    for cell in pending_cells(cells, run_dir):
        if partial_path(run_dir, cell).exists():
            blob = torch.load(partial_path(run_dir, cell), map_location="cpu", weights_only=False)
            records.append({**cell, "history": blob["history"], "step": blob["step"]})
    return records


def _run_jobs_when_ready(job: Callable, cells: list[dict], workers: int, desc: str, progress: bool,
                         ready: Callable[[dict], bool]) -> list[dict]:
    """job(cell) for the cells, in `workers` processes, each started as soon as a worker is free
    and `ready(cell)` holds, earliest in `cells` first; returns the cells that never became ready."""
    bar = tqdm(total=len(cells), desc=desc, disable=not progress or not cells, unit="run")
    todo, running = list(cells), []
    if workers == 1:   # in this process
        while cell := next((c for c in todo if ready(c)), None):
            todo.remove(cell)
            job(cell)
            bar.update()
        bar.close()
        return todo
    with get_context("spawn").Pool(workers) as pool:
        while True:
            for cell in [c for c in todo if ready(c)][:workers - len(running)]:
                todo.remove(cell)
                running.append(pool.apply_async(job, (cell,)))
            if not running:
                break
            time.sleep(0.2)
            for result in [r for r in running if r.ready()]:
                result.get()   # re-raises a worker's error here
                running.remove(result)
                bar.update()
    bar.close()
    return todo


def run_sweep(run_fn: Callable[[dict], dict], cells: list[dict], run_dir: Path, workers: int = 1,
              desc: str = "sweep", progress: bool = True, after: Callable[[dict], dict | None] | None = None) -> list[dict]:
    """Run every cell that has no result in `run_dir` yet; return all records, in `cells` order.

    after(cell): a cell whose result the run needs (a fine-tuning's pretrained model), or None: the
    cell starts only once that result exists, as soon as a worker is free (earlier cells first);
    cells whose `after` is neither finished nor in this sweep are left pending (and reported)."""
    if workers < 1:
        raise ValueError(f"workers={workers} must be >= 1")
    keys = [cell_key(c) for c in cells]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{desc}: two cells share a key; every cell must differ in some setting")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    todo = pending_cells(cells, run_dir)
    print(f"{desc}: {len(cells) - len(todo)} of {len(cells)} runs already done in {run_dir}, "
          f"{len(todo)} to run on {min(workers, max(1, len(todo)))} worker(s)")
    if after is None:
        _run_jobs(partial(_run_and_save, run_fn, run_dir), todo, workers, desc, progress, "run")
        return [json.loads(run_path(run_dir, c).read_text()) for c in cells]
    ready = lambda c: after(c) is None or run_path(run_dir, after(c)).exists()
    left = _run_jobs_when_ready(partial(_run_and_save, run_fn, run_dir), todo, workers, desc, progress, ready)
    if left:
        print(f"{desc}: {len(left)} run(s) left pending: what they start from is not finished "
              f"(first: {cell_key(left[0])} needs {cell_key(after(left[0]))})")
    return finished_records(cells, run_dir)
