"""Searches on Ray Tune (`mnist-cnn tune`) and ensembles trained on Ray: search spaces,
the leaderboard and best options, thread limits in Ray workers, and (slow tier) real
searches on MNIST: on this machine, resumed after the search's process was killed,
and on a two-node cluster on loopback whose worker node is killed mid-trial."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mnist_cnn import cluster, tuning
from mnist_cnn.cli import main
from mnist_cnn.config import TrainConfig, read_options
from mnist_cnn.errors import MnistCnnError

# -- Fast tier: no data, no training. -----------------------------------------------------------


def test_search_spaces_are_read_from_a_name_or_a_file_and_checked(tmp_path):
    assert tuning.read_space("default")["lr"] == ["loguniform", 0.003, 0.03]
    space = tmp_path / "space.toml"
    space.write_text('lr = ["loguniform", 0.001, 0.01]\nmodel = ["choice", ["fast"]]\nepochs = 2\n')
    assert tuning.read_space(space) == {
        "lr": ["loguniform", 0.001, 0.01],
        "model": ["choice", ["fast"]],
        "epochs": 2,
    }
    wrong = {
        "unknown option": {"colour": 2},
        "where runs go": {"runs_dir": "x"},
        "unknown kind": {"lr": ["normal", 0.1, 0.2]},
        "too few arguments": {"lr": ["uniform", 0.1]},
        "low above high": {"lr": ["uniform", 0.2, 0.1]},
        "log of zero": {"lr": ["loguniform", 0.0, 0.1]},
        "wrong type": {"batch_size": ["choice", [64, "big"]]},
        "empty choice": {"model": ["choice", []]},
        "fixed of the wrong type": {"epochs": "two"},
    }
    for case, bad in wrong.items():
        with pytest.raises(MnistCnnError):
            tuning.read_space(bad)
            pytest.fail(case)
    with pytest.raises(MnistCnnError, match="unknown search space"):
        tuning.read_space("nope")


def test_a_space_fixes_the_weights_trials_start_from_by_their_full_path(tmp_path, monkeypatch):
    # Ray runs each trial in a folder of its own: "init" must not be relative there.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "start.keras").write_bytes(b"")
    space = tuning.read_space({"init": "start.keras", "lr": ["uniform", 0.001, 0.01]})
    assert space["init"] == str(tmp_path.resolve() / "start.keras")
    with pytest.raises(MnistCnnError, match="no such run folder"):
        tuning.read_space({"init": "missing.keras"})
    with pytest.raises(MnistCnnError, match="fix it"):
        tuning.read_space({"init": ["choice", ["start.keras"]]})


def test_spaces_become_ray_tune_distributions():
    fixed, drawn = tuning.split_space(
        {"lr": ["loguniform", 1e-3, 1e-2], "batch_size": ["choice", [64, 128]], "epochs": 3}
    )
    assert fixed == {"epochs": 3}
    rng = np.random.default_rng(0)
    lrs = [drawn["lr"].sample(random_state=rng) for _ in range(50)]
    assert all(1e-3 <= lr <= 1e-2 for lr in lrs)
    assert {drawn["batch_size"].sample(random_state=rng) for _ in range(50)} == {64, 128}


def reported(losses: list[float], epochs: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {"epoch": epochs, "val_loss": losses, "val_accuracy": [1 - x for x in losses]}
    )


def test_the_leaderboard_ranks_by_validation_loss_and_writes_its_files(tmp_path):
    results = [
        SimpleNamespace(  # stopped by ASHA after one epoch
            metrics_dataframe=reported([0.5], [1]),
            metrics={"trial_id": "a", "node": "n1", "time_total_s": 3.0},
            config={"lr": np.float64(0.01)},
            error=None,
            path="/x/run_trial_a",
        ),
        SimpleNamespace(  # its node died after epoch 1; its second run is what counts
            metrics_dataframe=reported([0.1, 0.4, 0.3, 0.2], [1, 1, 2, 3]),
            metrics={"trial_id": "b", "node": "n2", "time_total_s": 9.0},
            config={"lr": np.float64(0.02)},
            error=None,
            path="/x/run_trial_b",
        ),
        SimpleNamespace(
            metrics_dataframe=None,
            metrics={},
            config={"lr": 0.03},
            error=RuntimeError("boom\nDataError: no MNIST"),
            path="/x/run_trial_c",
        ),
    ]
    rows = tuning.leaderboard(results, epochs=3)
    assert [r["trial"] for r in rows] == ["b", "a", "run_trial_c"]
    assert rows[0]["best val_loss"] == 0.2 and rows[0]["epochs"] == 3 and rows[0]["retries"] == 1
    assert rows[0]["status"] == "completed" and rows[1]["status"] == "stopped early"
    assert rows[2]["status"] == "error: DataError: no MNIST" and rows[2]["best val_loss"] is None
    assert rows[0]["val_accuracy"] == 0.8 and isinstance(rows[0]["lr"], float)

    table = tuning.write_leaderboard(rows, tmp_path)
    assert "| b | completed | 3 | 0.2 |" in table
    lines = (tmp_path / tuning.TABLE_FILE).read_text().splitlines()
    assert lines[0].startswith("trial,status,epochs,best val_loss") and len(lines) == 4
    assert (tmp_path / "search.png").read_bytes()[:4] == b"\x89PNG"

    setup = {
        "space": {"lr": ["loguniform", 0.001, 0.1]},
        "options": {
            "preset": "fast",
            "epochs": 3,
            "patience": 3,
            "seed": 0,
            "limit": 500,
            "runs_dir": str(tmp_path / "trials"),
            "data_dir": "/data",
        },
    }
    best = tuning.write_best(rows[0], setup, tmp_path)
    options = read_options(best)  # what mnist-cnn train --config reads
    assert options == {
        "preset": "fast",
        "epochs": 3,
        "patience": 3,
        "seed": 0,
        "lr": 0.02,
    }  # the search's share of the images (limit) left out: best.json trains on all
    assert TrainConfig.from_preset(**options).model == "fast"


def test_user_errors_are_one_line(capsys, tmp_path, monkeypatch):
    def error_of(*args: str) -> str:
        assert main(list(args)) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err
        return err

    assert "unknown search space" in error_of(
        "tune", "--space", "nope", "--runs-dir", str(tmp_path)
    )
    assert "not both" in error_of("ensemble")
    assert "not both" in error_of("ensemble", "runs/a", "--train", "2")
    assert "at least 2 members" in error_of("ensemble", "--train", "1")
    (tmp_path / "taken").mkdir()
    assert "already exists" in error_of(
        "ensemble", "--train", "2", "--name", "taken", "--runs-dir", str(tmp_path)
    )
    (tmp_path / "taken").rmdir()
    assert "epochs must be at least 1" in error_of(
        "tune", "--epochs", "0", "--runs-dir", str(tmp_path)
    )
    assert "no such options file" in error_of("tune", "--space", str(tmp_path / "s.toml"))
    assert "not a search folder" in error_of("tune", "--resume", str(tmp_path))
    assert "leave out --epochs, --trials" in error_of(
        "tune", "--resume", str(tmp_path), "--trials", "4", "--epochs", "2"
    )
    # Even an option given at its default value would be ignored, so it is refused too.
    assert "leave out --seed" in error_of("tune", "--resume", str(tmp_path), "--seed", "0")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert "mnist-cnn[cluster]" in error_of("ensemble", "--train", "2", "--runs-dir", str(tmp_path))
    assert "mnist-cnn[cluster]" in error_of("tune", "--runs-dir", str(tmp_path))
    assert not list(tmp_path.iterdir())  # nothing half-made


@pytest.mark.slow  # starts a Ray cluster and two TensorFlow workers: 12 s
def test_a_ray_task_gets_as_many_tensorflow_threads_as_cpus():
    ray = cluster.connect()
    try:

        def threads() -> tuple[int, int]:
            import tensorflow as tf

            given = cluster.limit_threads()
            return given, tf.config.threading.get_intra_op_parallelism_threads()

        # (A fresh worker each: TensorFlow's threads are set once per process.)
        assert ray.get(ray.remote(num_cpus=1, max_calls=1)(threads).remote()) == (1, 1)
        assert ray.get(ray.remote(num_cpus=2, max_calls=1)(threads).remote()) == (2, 2)
    finally:
        ray.shutdown()


# -- Slow tier: real searches on MNIST. ---------------------------------------------------------

SPACE = {"lr": ["loguniform", 0.003, 0.03], "model": ["choice", ["fast", "fast24"]]}


def run(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mnist_cnn.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def lines_until(process: subprocess.Popen, seen: list[str], done, timeout: float = 240) -> None:
    """Read `process`'s output into `seen` until `done(line)` or the end."""
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        seen.append(line)
        if done(line):
            return
        assert time.monotonic() < deadline, "".join(seen[-30:])


@pytest.mark.slow
def test_a_search_on_local_ray_trains_its_trials_and_its_best_options_train_again(
    mnist_dir, tmp_path
):
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    search = tuning.tune(space, trials=4, epochs=2, limit=2000, name="s", runs_dir=tmp_path)
    rows = list(map(str.split, (search / tuning.TABLE_FILE).read_text().splitlines()))
    assert len(rows) == 5  # a header and 4 trials
    # Every trial is an ordinary run folder; ASHA ran each for 1 or 2 epochs.
    for trial in (search / "trials").iterdir():
        [run_dir] = trial.iterdir()
        assert (run_dir / "model.keras").is_file() and (run_dir / "history.csv").is_file()
    best = read_options(search / tuning.BEST_FILE)
    assert "limit" not in best and best["model"] in ("fast", "fast24")
    # The test set chose nothing: the best is the trial with the lowest validation loss.
    table = (search / tuning.TABLE_FILE).read_text().splitlines()[1:]
    losses = [float(line.split(",")[3]) for line in table]
    assert losses == sorted(losses) and table[0].split(",")[1] == "completed"
    assert main(
        [
            "train",
            "--config",
            str(search / tuning.BEST_FILE),
            "--epochs",
            "1",
            "--limit",
            "2000",
            "--runs-dir",
            str(tmp_path / "again"),
        ]
    ) in (0, None)


@pytest.mark.slow
def test_a_search_whose_process_was_killed_resumes(mnist_dir, tmp_path):
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"lr": ["loguniform", 0.003, 0.03]}))
    common = ["--epochs", "3", "--limit", "2000", "--runs-dir", str(tmp_path)]
    # Tune saves the search's state at most every 10 s by default; here every second, so
    # that 3 s after a trial ends its end is saved (else the test depends on timing).
    every_second = {"TUNE_GLOBAL_CHECKPOINT_S": "1"}
    first = run(
        "tune", "--space", str(space), "--trials", "4", "--name", "s", *common, env=every_second
    )
    seen: list[str] = []
    lines_until(first, seen, lambda line: line.startswith("trial") and "ended" in line)
    time.sleep(3)
    first.send_signal(signal.SIGKILL)
    first.wait()
    finished = {line.split()[1] for line in seen if "ended" in line}
    second = run("tune", "--resume", str(tmp_path / "s"))
    out, _ = second.communicate(timeout=300)
    assert second.returncode == 0, out
    rerun = {
        line.split()[1]
        for line in out.splitlines()
        if line.startswith("trial") and "started" in line
    }
    table = (tmp_path / "s" / tuning.TABLE_FILE).read_text().splitlines()
    assert len(table) == 5 and finished and not finished & rerun


@pytest.mark.slow
def test_an_ensemble_trains_its_members_on_ray_and_finishes_a_stopped_one(mnist_dir, tmp_path):
    args = [
        "ensemble",
        "--train",
        "2",
        "--preset",
        "fast",
        "--epochs",
        "1",
        "--limit",
        "2000",
        "--name",
        "e",
        "--runs-dir",
        str(tmp_path),
    ]
    assert main(args) in (0, None)
    members = [tmp_path / f"e-member-{i}" for i in (0, 1)]
    configs = [json.loads((m / "config.json").read_text())["config"] for m in members]
    assert [c["seed"] for c in configs] == [0, 1] and (tmp_path / "e" / "model.keras").is_file()
    assert [c["name"] for c in configs] == ["e-member-0", "e-member-1"]
    # As if the command had been stopped after one member: the other is kept.
    kept = (members[0] / "model.keras").stat().st_mtime_ns
    for folder in (tmp_path / "e", members[1]):
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    assert main(args) in (0, None)
    assert (members[0] / "model.keras").stat().st_mtime_ns == kept
    assert (members[1] / "model.keras").is_file() and (tmp_path / "e" / "metrics.json").is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def processes_with(fragment: str) -> list:
    """Processes whose command line holds `fragment`, with all their children."""
    import psutil

    found = []
    for process in psutil.process_iter(["cmdline"]):
        if process.pid != os.getpid() and fragment in " ".join(process.info["cmdline"] or []):
            found += [process, *process.children(recursive=True)]
    return found


def kill(processes: list) -> None:
    """Kill `processes` and wait until they are gone (their ports free again)."""
    import psutil

    for process in processes:
        with contextlib.suppress(Exception):  # gone already
            process.kill()
    psutil.wait_procs(processes, timeout=30)


@pytest.fixture
def two_nodes():
    """A Ray cluster of two nodes on this machine, one CPU each (`ray start --head`, then
    `ray start --address`): its address, the worker node's port and the environment
    to run commands in; every process of it is killed afterwards."""
    head_port, worker_port = free_port(), free_port()
    while worker_port == head_port:  # each port was free alone, and may be the same one
        worker_port = free_port()
    address = f"127.0.0.1:{head_port}"
    # A cluster of one machine: no tokens; a dead node is noticed within seconds.
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "RAY_health_check_period_ms": "1000",
        "RAY_health_check_failure_threshold": "3",
        "RAY_health_check_initial_delay_ms": "1000",
    }
    start = [str(Path(sys.executable).parent / "ray"), "start", "--num-cpus", "1"]
    start.append("--disable-usage-stats")
    head = ["--head", "--port", str(head_port), "--include-dashboard", "false"]
    worker = ["--address", address, "--node-manager-port", str(worker_port)]
    try:
        for where in (head, worker):
            # Ray waits a fixed 30 s for a new node to register; on a busy 2-core machine
            # the worker's sometimes takes longer. Its processes are killed and it starts
            # once more before the test gives up.
            for tries_left in (1, 0):
                done = subprocess.run([*start, *where], env=env, capture_output=True, timeout=120)
                if not done.returncode:
                    break
                if where is head or not tries_left:
                    pytest.fail(f"{' '.join(where)}: {done.stdout.decode()}{done.stderr.decode()}")
                kill(processes_with(f"--node_manager_port={worker_port}"))
        yield address, worker_port, env
    finally:
        kill(processes_with(f":{head_port}") + processes_with(f"={head_port}"))


@pytest.mark.slow
def test_a_two_node_cluster_runs_trials_on_both_and_survives_a_killed_worker(
    mnist_dir, tmp_path, two_nodes
):
    address, worker_port, env = two_nodes
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"lr": ["loguniform", 0.003, 0.03]}))
    search = run(
        "tune",
        "--address",
        address,
        "--space",
        str(space),
        "--trials",
        "4",
        "--no-asha",  # every trial runs on: one is running on the worker when it dies
        "--epochs",
        "4",
        "--limit",
        "6000",
        "--name",
        "s",
        "--runs-dir",
        str(tmp_path),
        "--data-dir",
        str(mnist_dir),
        env=env,
    )
    seen: list[str] = []
    # Both nodes busy, each with a trial that has reported an epoch: kill the worker's.
    lines_until(search, seen, lambda line: sum("epoch 1:" in s for s in seen) >= 2)
    kill(processes_with(f"--node_manager_port={worker_port}"))
    out, _ = search.communicate(timeout=600)
    seen += out.splitlines(keepends=True)
    assert search.returncode == 0, "".join(seen[-40:])
    nodes = {line.rsplit("(", 1)[1].strip(" )\n") for line in seen if "epoch 1:" in line}
    assert len(nodes) == 2, "".join(seen)  # trials ran on both nodes
    assert any("running it again" in line for line in seen), "".join(seen)
    table = (tmp_path / "s" / tuning.TABLE_FILE).read_text().splitlines()[1:]
    assert len(table) == 4 and not any(",error" in line for line in table)
    assert sum(int(line.split(",")[7]) for line in table) >= 1  # the retried trial


@pytest.mark.slow
def test_an_ensemble_member_on_a_killed_worker_is_trained_again(mnist_dir, tmp_path, two_nodes):
    address, worker_port, env = two_nodes
    ensemble = run(
        "ensemble",
        "--train",
        "2",
        "--preset",
        "cnn",  # slow enough (float32, batch norm) to be mid-training when the worker dies
        "--epochs",
        "1",
        "--limit",
        "10000",
        "--address",
        address,
        "--data-dir",
        str(mnist_dir),
        "--name",
        "e",
        "--runs-dir",
        str(tmp_path),
        env=env,
    )
    seen: list[str] = []
    lines_until(ensemble, seen, lambda line: line.startswith("Training 2 members"))
    time.sleep(8)  # one member on each node, both training
    kill(processes_with(f"--node_manager_port={worker_port}"))
    out, _ = ensemble.communicate(timeout=600)
    seen += out.splitlines(keepends=True)
    assert ensemble.returncode == 0, "".join(seen[-40:])
    # Two members on two one-CPU nodes: one began on the worker, and both ended on the head.
    nodes = [line.rsplit(" on ", 1)[1].split()[0] for line in seen if line.startswith("member ")]
    assert len(nodes) == 2 and len(set(nodes)) == 1, "".join(seen)
    assert (tmp_path / "e" / "model.keras").is_file()
