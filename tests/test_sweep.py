"""lstm-inspector sweep: whole test sets (the demo's shipped ark, the real AMI ark, folders, list
files, scps), worst first, bad utterances as rows, identical rows from this process, worker
processes and a Dask cluster. Only the AMI test needs ../shared/realdata; the rest run on
``resources/demo_utterances.ark``, which ships."""
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lstm_inspector import resources_path
from lstm_inspector.io.corpus import list_utterances
from lstm_inspector.sweep.command import run_sweep
from lstm_inspector.sweep.summary import exit_code, histogram, worst_first
from lstm_inspector.sweep.work import VOLATILE_FIELDS, SweepSettings

DEMO = resources_path() / "demo_digits_cudnnlstm.h5"
CORPUS = resources_path() / "demo_utterances.ark"   # "seven" and "three", as shipped


def run_cli(*args, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "lstm_inspector", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def stable(rows):
    """Rows without what differs from run to run (the time)."""
    return [{k: v for k, v in r.items() if k not in VOLATILE_FIELDS} for r in rows]


def write_corpus(folder, count, frames=(20, 60), seed=0):
    """A real Kaldi ark (written by kaldiio) of ``count`` 13-dim utterances."""
    import kaldiio

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "corpus.ark"
    with kaldiio.WriteHelper(f"ark:{path}") as writer:
        for k in range(count):
            writer(f"utt{k:04d}", rng.standard_normal((int(rng.integers(*frames)), 13)).astype(np.float32))
    return path


@pytest.fixture(scope="module")
def ami(realdata):
    return realdata / "features" / "ami-mfcc13.ark"


@pytest.mark.slow
def test_real_ami_ark_every_utterance_agrees_exit_0(ami):
    code, out, err = run_cli("sweep", DEMO, ami, "--json")
    assert code == 0, err
    result = json.loads(out)
    rows = result["rows"]
    assert len(rows) == 10 and {r["kind"] for r in rows} == {"agree"}
    assert rows[0]["name"] == "AMI_ES2011a_H00_FEE041_0003427_0003714" and rows[0]["frames"] == 285
    assert all(r["max_error"] < 1e-5 and r["first"] is None and r["backend"] for r in rows)
    assert result["summary"]["counts"] == {"agree": 10, "precision": 0, "structural": 0, "error": 0}


def test_naive_reading_every_row_diverges_worst_first_exit_1(tmp_path):
    report = tmp_path / "sweep.html"
    code, out, err = run_cli("sweep", DEMO, CORPUS, "--backend", "numpy:naive", "--report", report)
    assert code == 1, err
    header = next(line for line in out.splitlines() if line.startswith("utterance"))
    assert header.split()[-1] == "address"
    table = [line for line in out.splitlines() if line.startswith("demo_")]
    assert len(table) == 2 and all(" structural " in line for line in table)
    diffs = [float(line.split()[3]) for line in table]
    assert diffs == sorted(diffs, reverse=True) and diffs[-1] > 1.0
    assert all(line.split()[-1].startswith(f"{CORPUS.resolve()}:") for line in table)  # address
    assert "2 structural" in out and "'naive' reading" in out and "-> eight" in out
    page = report.read_text()
    assert page.count("<tr class=\"structural\">") == 2 and "<svg" in page and "atol 1e-05" in page


def test_bad_utterances_are_rows_with_their_sentence(tmp_path):
    x = np.random.default_rng(1).standard_normal((30, 13)).astype(np.float32)
    folder = tmp_path / "set"
    (folder / "spk1").mkdir(parents=True)
    np.save(folder / "spk1" / "good.npy", x)
    np.save(folder / "spk1" / "narrow.npy", x[:, :5])
    bad = x.copy()
    bad[4, 2] = np.nan
    np.save(folder / "nan.npy", bad)
    (folder / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    (folder / ".hidden.npy").write_bytes(b"ignored")
    result = run_sweep(SweepSettings(str(DEMO), backend="numpy"), folder)
    by_name = {r["name"]: r for r in result["rows"]}
    assert sorted(by_name) == ["broken.npy", "nan.npy", "spk1/good.npy", "spk1/narrow.npy"]
    assert by_name["spk1/good.npy"]["kind"] == "agree"
    assert "13 inputs" in by_name["spk1/narrow.npy"]["verdict"]
    assert "frame 4, column 2" in by_name["nan.npy"]["verdict"]
    for name in ("broken.npy", "nan.npy", "spk1/narrow.npy"):
        row = by_name[name]
        assert row["kind"] == "error" and "internal error" not in row["verdict"]
    assert exit_code(result["rows"]) == 2  # nothing diverged, but not everything could run
    assert worst_first(result["rows"])[0]["name"] == "spk1/good.npy"


def test_list_file_and_scp_with_a_pipe_and_a_missing_file(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((12, 13), np.float32))
    (tmp_path / "set.list").write_text(f"# my test set\na.npy\nmissing.npy\n{CORPUS}\n")
    found = list_utterances(tmp_path / "set.list")
    assert [u.name for u in found][:2] == ["a.npy", "missing.npy"] and len(found) == 4
    assert "missing.npy, which does not exist" in found[1].problem
    lines = [f"{u.name[len(str(CORPUS)) + 1:]} {u.address}" for u in found[2:4]]
    (tmp_path / "feats.scp").write_text("\n".join(lines + ["piped compute-mfcc-feats x |"]) + "\n")
    rows = run_sweep(SweepSettings(str(DEMO), backend="numpy:naive"), tmp_path / "feats.scp")["rows"]
    assert [r["kind"] for r in rows] == ["structural", "structural", "error"]
    assert "shell pipe" in rows[2]["verdict"]
    direct = run_cli("compare", DEMO, rows[0]["address"], "--backend", "numpy:naive", "--json")
    assert json.loads(direct[1])["first"] == rows[0]["first"]  # the address reopens the utterance


@pytest.mark.parametrize("args, sentence", [
    (["sweep", DEMO, "nowhere.ark"], "does not exist"),
    (["sweep", DEMO, "{corpus}", "--backend", "cuda-magic"], "unknown backend 'cuda-magic'"),
    (["sweep", "{corpus}", "{corpus}"], ""),
    (["sweep", DEMO, "{corpus}", "--jobs", "0"], "--jobs must be at least 1"),
])
def test_bad_sweep_input_exit_2_one_line(args, sentence):
    code, out, err = run_cli(*[str(a).format(corpus=CORPUS) for a in args])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert sentence in err and "Traceback" not in err


def test_histogram_bins_by_decade():
    rows = [{"kind": "agree", "max_error": v} for v in (0.0, 3e-6, 7e-6, 2e-2, 40.0, float("nan"))]
    rows.append({"kind": "error", "max_error": None})
    counts = dict(histogram(rows))
    assert counts["<1e-9"] == 1 and counts["1e-6"] == 2 and counts["1e-2"] == 1
    assert counts[">=1e1"] == 2 and sum(counts.values()) == 6


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_prints_what_was_done(tmp_path):
    """At a terminal (stderr a pty, so the progress bar shows), Ctrl-C once rows are coming in."""
    corpus = write_corpus(tmp_path, 3000, frames=(200, 201))  # long enough not to end first
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "lstm_inspector", "sweep", str(DEMO), str(corpus),
                             "--backend", "numpy", "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    screen = _read_terminal_until(master, lambda text: re.search(r"\b[1-9]\d*/3000\b", text), 300)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    err = screen + _read_terminal_until(master, lambda text: False, 5)
    os.close(master)
    assert proc.returncode == 130, err
    assert "stopped by Ctrl-C after" in err and "Traceback" not in err
    done = [line for line in out.splitlines() if line.startswith("utt")]
    assert 0 < len(done) < 3000 and "of 3000)" in out


def _read_terminal_until(fd, done, seconds) -> str:
    """What a program wrote to the pty ``fd`` until ``done(text)`` or ``seconds`` or its end."""
    text, deadline = "", time.monotonic() + seconds
    while time.monotonic() < deadline and not done(text):
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the program ended (EIO on Linux)
                break
            if not chunk:
                break
            text += chunk.decode("utf-8", "replace")
    return text


@pytest.fixture(scope="module")
def corpus_alone():
    """The demo corpus swept in this process with auto (the real TensorFlow or torch LSTM)."""
    return run_sweep(SweepSettings(str(DEMO)), CORPUS)


@pytest.mark.slow
def test_two_worker_processes_give_identical_rows(corpus_alone):
    pooled = run_sweep(SweepSettings(str(DEMO)), CORPUS, jobs=2)
    assert stable(pooled["rows"]) == stable(corpus_alone["rows"])
    assert {r["kind"] for r in pooled["rows"]} == {"agree"} and len(pooled["rows"]) == 2


@pytest.mark.slow
def test_dask_local_cluster_gives_identical_rows(corpus_alone):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        clustered = run_sweep(SweepSettings(str(DEMO)), CORPUS, scheduler=cluster.scheduler_address)
    assert stable(clustered["rows"]) == stable(corpus_alone["rows"])
    assert clustered["scheduler"].startswith("tcp://")


def test_your_outputs_and_your_function_as_path_b(tmp_path):
    """--outputs DIR: one file per utterance (a missing one is an error row); --impl FILE.py."""
    from lstm_inspector import load_model, run_reference

    corpus = write_corpus(tmp_path, 3, frames=(15, 25))
    model = load_model(DEMO)
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    for utterance in list_utterances(corpus)[:2]:
        from lstm_inspector import load_features
        x = load_features(utterance.address).data
        h = run_reference(model, x, dtype="float64").layer(0).h  # a float64 port of layer 0
        np.save(outputs / f"{utterance.name}.npy", h)
    rows = run_sweep(SweepSettings(str(DEMO), outputs=str(outputs)), corpus)["rows"]
    assert [r["kind"] for r in rows] == ["agree", "agree", "error"], rows
    assert "holds no outputs for utterance 'utt0002'" in rows[2]["verdict"]
    impl = _tests_dir() / "impls" / "correct_step.py"
    rows = run_sweep(SweepSettings(str(DEMO), impl=str(impl)), corpus)["rows"]
    assert [r["kind"] for r in rows] == ["agree"] * 3, rows
    assert {r["backend"] for r in rows} == {"impl"} and all(r["answer"]["same"] for r in rows)


def _tests_dir():
    from pathlib import Path
    return Path(__file__).resolve().parent


@pytest.mark.parametrize("batch", [1, 4])
def test_memory_is_bounded_by_the_work_in_flight_not_the_corpus(tmp_path, batch):
    """Only rows are kept: sweeping 5x more utterances adds about a row's size each, not traces
    (a batch's traces are dropped once its rows are made: memory follows the batch)."""
    import tracemalloc

    settings = SweepSettings(str(DEMO), backend="numpy")
    run_sweep(settings, write_corpus(tmp_path / "warm", 2, frames=(40, 41)))  # one-time caches
    peaks = {}
    for count in (6, 30):
        corpus = write_corpus(tmp_path / str(count), count, frames=(30, 31))
        tracemalloc.start()
        rows = run_sweep(settings, corpus, batch=batch)["rows"]
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(rows) == count
    one_trace = 2 * 48 * 30 * 4 * 12  # 2 layers, H=48, T=30, float32, ~12 arrays per layer
    assert peaks[30] - peaks[6] < 24 * 4096 < 24 * one_trace, peaks
