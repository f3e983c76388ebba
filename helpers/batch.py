"""Run several resumable sweeps side by side for a fixed time, then pack what they made: for a
borrowed GPU with a time limit and a cap on the files that come back (teachers regenerating data/).

    python -m helpers.batch authors_chain:2 noise5_sweep:4 --minutes 8 --out $OUT

Each `SWEEP:WORKERS` runs `python -m helpers.experiments SWEEP --workers WORKERS` in its own
process group (`SWEEP:WORKERS:N` adds `--together N`: N seeds of a setting as one vmapped model). At the deadline (or when all are done) every sweep is stopped, and `--out` gets:
- `results.tgz`: every run file (JSON) written since the start, and the logs;
- `weights_N.tar`: the weights of those runs (those that match `--weights`, a pattern under
  data/runs/), at most `--max-tars` tars of at most `--tar-mb` MB;
- for each run still going: its mid-run checkpoint whole in `partials_N.tar` if it matches
  `--full-partials` and fits (a later `python -m helpers.experiments SWEEP` resumes it), else its
  latest state in `states_N.tar`: fp16 weights, the curves so far and the step (what
  `experiments.record_stopped_authors_run` reads), small enough to come back where a full partial
  checkpoint (with the optimizer's state) is not.
Unpack them in the repository root (`tar xzf results.tgz; for t in weights_*.tar partials_*.tar
states_*.tar; do tar xf $t; done`), then `python -m helpers.experiments SWEEP --collect`.

Measured on one H100 (2026-11-26): 16 processes side by side kept the GPU at 100 % and gave each
only ~25-35 steps/s (the d_model-400 runs took most of it); two d_model-400 runs alone ran ~80
steps/s each. Prefer a few processes, and the big runs apart from the small ones. On 2026-11-27,
`iteration16_order:8 iteration16_controls:4` (12 processes, d_model-128 runs) gave each ~35 steps/s.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import torch

from .course import ROOT_DIR
from .experiments import ARTIFACTS, RUNS_DIR


def parse_jobs(specs: list[str]) -> dict[str, list[str]]:
    """SWEEP[:WORKERS[:TOGETHER]] -> the arguments of `python -m helpers.experiments`, e.g.
    "iteration16_sweep:2:10" -> ["iteration16_sweep", "--workers", "2", "--together", "10"]."""
    jobs = {}
    for spec in specs:
        name, *numbers = spec.split(":")
        if name not in ARTIFACTS:
            raise ValueError(f"sweep {name!r} is not one of {sorted(ARTIFACTS)}")
        if len(numbers) > 2 or not all(x.isdigit() and int(x) >= 1 for x in numbers):
            raise ValueError(f"{spec!r}: after the sweep's name come at most two integers >= 1 (workers, together)")
        args = [name, "--workers", numbers[0] if numbers else "1"]
        jobs[name] = args + (["--together", numbers[1]] if len(numbers) == 2 else [])
    return jobs


def run_side_by_side(commands: dict[str, list[str]], seconds: float, log_dir: Path,
                     poll: float = 15.0, env: dict | None = None) -> dict[str, int | None]:
    """Start every command in its own process group, wait until all end or `seconds` pass, kill
    what is left; {name: exit code, or None if it was stopped}."""
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = {name: subprocess.Popen(cmd, cwd=ROOT_DIR, stdout=open(log_dir / f"{name}.log", "w"),
                                    stderr=subprocess.STDOUT, start_new_session=True, env=env)
             for name, cmd in commands.items()}
    start = time.time()
    while time.time() - start < seconds and any(p.poll() is None for p in procs.values()):
        time.sleep(min(poll, max(0.1, seconds - (time.time() - start))))
    codes = {}
    for name, p in procs.items():
        codes[name] = p.poll()
        if codes[name] is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    return codes


def small_state(partial: Path, out: Path) -> Path:
    """The part of a partial checkpoint worth bringing back: fp16 weights, curves, step."""
    blob = torch.load(partial, map_location="cpu", weights_only=False)
    torch.save({"model": {k: v.half() if v.is_floating_point() else v for k, v in blob["model"].items()},
                "history": blob["history"], "step": blob["step"]}, out)
    return out


def pack(files: list[Path], out_dir: Path, stem: str, max_bytes: float, max_tars: int,
         root: Path = ROOT_DIR) -> tuple[list[Path], list[Path]]:
    """Put `files` (paths kept relative to `root`) into at most `max_tars` tars of at most
    `max_bytes` each, in the given order; returns (tars, files left out)."""
    tars, left, current, size = [], [], None, 0
    for f in files:
        s = f.stat().st_size
        if s > max_bytes:
            left.append(f)
            continue
        if current is None or size + s > max_bytes:
            if current is not None:
                current.close()
            if len(tars) == max_tars:
                current = None
                left.append(f)
                continue
            tars.append(out_dir / f"{stem}_{len(tars) + 1}.tar")
            current, size = tarfile.open(tars[-1], "w"), 0
        current.add(f, arcname=str(f.relative_to(root)))
        size += s
    if current is not None:
        current.close()
    return tars, left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("jobs", nargs="+", help="SWEEP, SWEEP:WORKERS or SWEEP:WORKERS:TOGETHER")
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tar-mb", type=float, default=15.5)
    parser.add_argument("--max-tars", type=int, default=3, help="weight tars (partial and state tars get as many)")
    parser.add_argument("--weights", default="**/*.pt", help="which new runs' weights come back (a glob under data/runs/)")
    parser.add_argument("--full-partials", default=None,
                        help="unfinished runs whose whole mid-run checkpoint comes back (a glob under data/runs/)")
    args = parser.parse_args()
    jobs = parse_jobs(args.jobs)
    if args.minutes <= 0:
        raise ValueError(f"--minutes={args.minutes} must be > 0")
    args.out.mkdir(parents=True, exist_ok=True)
    before = {p: p.stat().st_mtime for p in RUNS_DIR.rglob("*.json")}
    logs = Path("/tmp") / f"batch_logs_{os.getpid()}"
    commands = {name: [sys.executable, "-m", "helpers.experiments", *args] for name, args in jobs.items()}
    codes = run_side_by_side(commands, 60 * args.minutes, logs, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    print("exit codes (None: stopped at the deadline):", codes, flush=True)
    new = sorted(p for p in RUNS_DIR.rglob("*.json") if before.get(p) != p.stat().st_mtime)
    with tarfile.open(args.out / "results.tgz", "w:gz") as t:
        for p in new:
            t.add(p, arcname=str(p.relative_to(ROOT_DIR)))
        t.add(logs, arcname="batch_logs")
    chosen = set(RUNS_DIR.glob(args.weights))
    weights = [p.with_suffix(".pt") for p in new if p.with_suffix(".pt") in chosen]
    tars, left = pack(weights, args.out, "weights", args.tar_mb * 2**20, args.max_tars)
    partials = sorted(RUNS_DIR.rglob("*.partial.pt"))
    whole = set(RUNS_DIR.glob(args.full_partials)) if args.full_partials else set()
    partial_tars, not_whole = pack([p for p in partials if p in whole], args.out, "partials",
                                   args.tar_mb * 2**20, args.max_tars)
    states = [small_state(p, p.with_name(p.name.replace(".partial.pt", ".state.pt")))
              for p in partials if p not in whole or p in not_whole]
    state_tars, state_left = pack(states, args.out, "states", args.tar_mb * 2**20, args.max_tars)
    print(f"packed {len(new)} run files, {len(weights) - len(left)} weights in {len(tars)} tars, "
          f"{len(partials) - len(states)} whole mid-run checkpoints in {len(partial_tars)} tars, "
          f"{len(states) - len(state_left)} states of unfinished runs in {len(state_tars)} tars; "
          f"left out: {[str(p) for p in left + state_left]}", flush=True)


if __name__ == "__main__":
    main()
