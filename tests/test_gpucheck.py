"""The one-shot GPU check, exercised on the CPU: --dry-run runs every stage and writes both reports;
an earlier report is kept unless --force; no CUDA is a clear error; the deadlines cut stages short."""
import json
import os
import subprocess
import sys
import time

import pytest
import torch

from perceiver_edu.__main__ import main
from perceiver_edu.data import load_mnist
from perceiver_edu.data.fetch import OFFLINE_VAR
from perceiver_edu.tools.gpucheck import REPORT_JSON, REPORT_MD, STAGES, Context, cli, stages
from perceiver_edu.tools.gpucheck.stages import DRY_SUBSETS, DRY_TRAIN, OutOfTime, training

JUPYTER = ("ipywidgets", "IPython", "nbformat")

DRY_RUN = f"""
import json, sys
import perceiver_edu.tools.gpucheck
after_import = [m for m in {JUPYTER!r} if m in sys.modules]
from perceiver_edu.__main__ import main
code = main(["gpucheck", "--dry-run", "--no-progress", "--minutes", "10", "--out", sys.argv[1]])
print(json.dumps({{"code": code, "after_import": after_import,
                  "after_run": [m for m in {JUPYTER!r} if m in sys.modules]}}))
"""


@pytest.mark.needs_data("mnist")
def test_dry_run_runs_every_stage_writes_both_reports_and_imports_no_jupyter(tmp_path):
    out = tmp_path / "report"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", DRY_RUN, str(out)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PERCEIVER_EDU_DEVICE": "cpu"})
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary == {"code": 0, "after_import": [], "after_run": []}
    # a dry run must take under 2 minutes (seconds on an idle 2-core CPU); its budgets are raised to
    # 10 minutes here so that a loaded test machine cannot cut a stage short
    assert seconds < 120

    report = json.loads((out / REPORT_JSON).read_text())
    markdown = (out / REPORT_MD).read_text()
    assert report["dry_run"] is True and "--dry-run" in report["command"]
    assert [s["name"] for s in report["stages"]] == list(STAGES)
    for stage in report["stages"]:
        assert stage["status"] == "done" and stage["result"], stage
        assert f"| {stage['name']} | done |" in markdown
    by_name = {s["name"]: s["result"] for s in report["stages"]}
    assert set(by_name["matmul"]["flops_per_s"]) == {"64", "128"}
    assert [r["structure"] for r in by_name["bench"]["results"]] == ["repeat", "single"]
    assert by_name["bench"]["table"] in markdown
    steps_per_epoch = DRY_SUBSETS[0] // DRY_TRAIN["batch_size"]
    for name in ("mnist", "fashion-mnist"):
        r = by_name[name]
        assert r["train_examples"] == DRY_SUBSETS[0] and r["test_examples"] == DRY_SUBSETS[1]
        assert r["steps_done"] == r["steps_planned"] == steps_per_epoch * DRY_TRAIN["epochs"]
        assert [p["step"] for p in r["test_curve"]] == [steps_per_epoch * (e + 1) for e in range(DRY_TRAIN["epochs"])]
        assert r["final_test_accuracy"] == r["test_curve"][-1]["acc"]
        assert f"{100 * r['final_test_accuracy']:.2f} %" in markdown
    assert by_name["mnist"]["target_accuracy"] == 0.99 and "target_accuracy" not in by_name["fashion-mnist"]


@pytest.mark.needs_data("mnist")
def test_an_earlier_report_is_kept_unless_force(tmp_path, monkeypatch):
    (tmp_path / REPORT_MD).write_text("my notes")
    with pytest.raises(SystemExit, match="already exist.*--force"):
        main(["gpucheck", "--dry-run", "--out", str(tmp_path)])
    assert (tmp_path / REPORT_MD).read_text() == "my notes" and not (tmp_path / REPORT_JSON).exists()

    offline_while_loading = []
    real_load = cli.load_dataset
    monkeypatch.setattr(cli, "load_dataset", lambda *a: offline_while_loading.append(os.environ.get(OFFLINE_VAR))
                        or real_load(*a))
    monkeypatch.delenv(OFFLINE_VAR, raising=False)
    # a schedule of no time at all: every stage is skipped, the reports are still written
    assert main(["gpucheck", "--dry-run", "--force", "--minutes", "1e-9", "--out", str(tmp_path)]) == 0
    assert set(offline_while_loading) == {"1"} and OFFLINE_VAR not in os.environ  # set for the run only
    report = json.loads((tmp_path / REPORT_JSON).read_text())
    assert [s["status"] for s in report["stages"]] == ["skipped"] * len(STAGES)
    assert "| mnist | skipped |" in (tmp_path / REPORT_MD).read_text()


def test_cuda_is_required_without_dry_run(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    for args in (["--device", "cuda", "--dry-run"], [], ["--device", "cuda:1"]):
        with pytest.raises(SystemExit, match="needs a CUDA GPU.*--dry-run runs every stage on the CPU"):
            main(["gpucheck", "--out", str(tmp_path / "r"), *args])
    with pytest.raises(SystemExit, match="only --dry-run runs on cpu"):
        main(["gpucheck", "--device", "cpu", "--out", str(tmp_path / "r")])
    assert not (tmp_path / "r").exists()


def test_bad_arguments_are_clear_errors(tmp_path):
    (tmp_path / "file").write_text("")
    (tmp_path / "empty").mkdir()
    cases = {("--out", str(tmp_path / "file")): "expected a directory for the reports, found a file",
             ("--mnist-dir", str(tmp_path / "empty")): "expected the four MNIST files .* missing train-images",
             ("--fashion-mnist-dir", str(tmp_path / "nowhere")): "expected a directory .* found nothing",
             ("--minutes", "0"): "--minutes must be > 0"}
    for extra, message in cases.items():
        with pytest.raises(SystemExit, match=message):
            main(["gpucheck", "--dry-run", "--out", str(tmp_path / "r"), *extra])
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def ctx():
    data = {"mnist": (load_mnist("train").subset(128), load_mnist("test").subset(50))}
    return Context(device=torch.device("cpu"), data=data, dry_run=True, progress=False)


@pytest.mark.needs_data("mnist")
def test_a_training_stage_past_its_deadline_stops_after_one_step(ctx):
    with pytest.raises(OutOfTime) as stop:
        training("mnist", 0.99)(ctx, deadline=0.0)
    note, result = stop.value.args
    assert note == "stopped after step 1"
    assert result["steps_done"] == 1 and result["steps_planned"] == 4
    assert result["test_curve"] == [] and result["final_test_accuracy"] is None and result["seconds_to_target"] is None


@pytest.mark.needs_data("mnist")
def test_time_to_target_is_that_of_the_first_evaluation_reaching_it(ctx):
    result = training("mnist", 0.0)(ctx, deadline=time.perf_counter() + 600)
    curve = result["test_curve"]
    assert [p["epoch"] for p in curve] == [1.0, 2.0] and curve[0]["seconds"] <= curve[1]["seconds"]
    assert result["seconds_to_target"] == curve[0]["seconds"] and result["epoch_of_target"] == 1.0
    unreachable = training("mnist", 1.01)(ctx, deadline=time.perf_counter() + 600)
    assert unreachable["seconds_to_target"] is None and unreachable["train_seconds"] > 0


@pytest.mark.needs_data("mnist")
def test_stages_share_one_schedule_and_a_failure_does_not_stop_the_others(ctx, monkeypatch):
    ran = []

    def slow(ctx, deadline):
        ran.append("slow")
        time.sleep(0.3)
        return {"slept": True}

    def broken(ctx, deadline):
        raise ValueError("boom")

    def record(name):
        return lambda ctx, deadline: ran.append((name, round(deadline - start, 1))) or {}

    funcs = {name: record(name) for name in STAGES}
    funcs.update(environment=broken, matmul=slow)
    monkeypatch.setattr(stages, "STAGE_FUNCTIONS", funcs)
    monkeypatch.setattr(stages, "STAGE_SECONDS", {"environment": 0.1, "matmul": 0.1, "bench": 0.1, "mnist": 10,
                                                  "fashion-mnist": 10})
    start = time.perf_counter()
    reports = stages.run_stages(ctx)
    assert [r.status for r in reports] == ["failed", "done", "skipped", "done", "done"]
    assert reports[0].note == "ValueError: boom" and reports[2].note == "no time left in the schedule"
    # mnist ends 10.3 s after the start, whatever the overrun before it; fashion-mnist 10 s later
    assert ran[1:] == [("mnist", 10.3), ("fashion-mnist", 20.3)]


def test_environment_on_a_gpu_and_the_markdown_of_unfinished_stages(monkeypatch, capsys):
    from types import SimpleNamespace

    from perceiver_edu.tools.gpucheck import to_markdown

    gpu = SimpleNamespace(name="Some GPU", total_memory=80 * 2**30, major=9, minor=0, multi_processor_count=132)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: gpu)
    env = stages.environment(Context(device=torch.device("cuda"), data={}), deadline=0.0)
    assert (env["gpu"], env["gpu_memory_gib"], env["compute_capability"]) == ("Some GPU", 80.0, "9.0")
    assert "device: Some GPU\ntorch " in capsys.readouterr().out
    cut = {"steps_done": 1, "steps_planned": 9380, "seconds": 50.0, "final_test_accuracy": None, "final_epoch": None,
           "test_curve": [], "target_accuracy": 0.99, "seconds_to_target": None, "epoch_of_target": None}
    report = {"started": "t", "seconds": 1.0, "budget_seconds": 440, "command": "c", "device": "d", "dry_run": False,
              "stages": [{"name": "environment", "status": "done", "seconds": 0.1, "budget_seconds": 5, "note": "",
                          "result": env},
                         {"name": "matmul", "status": "failed", "seconds": 0.1, "budget_seconds": 15,
                          "note": "RuntimeError: a | b\nc", "result": {}},
                         {"name": "mnist", "status": "cut short", "seconds": 50.0, "budget_seconds": 180,
                          "note": "stopped after step 1", "result": cut}]}
    lines = to_markdown(report).splitlines()
    assert "dry run" not in "\n".join(lines)
    assert f"| environment | done | 0.1 | 5 | Some GPU; torch {torch.__version__}, CUDA {torch.version.cuda}, " \
           f"cuDNN {env['cudnn']} | - |" in lines
    assert "| matmul | failed | 0.1 | 15 | - | RuntimeError: a \\| b c |" in lines  # one table row
    assert ("| mnist | cut short | 50.0 | 180 | no test evaluation yet (1 of 9380 steps, 50.0 s) | "
            "stopped after step 1 |") in lines
    from perceiver_edu.tools.gpucheck.report import summary

    curve = [{"epoch": 1.0, "step": 234, "acc": 0.985, "loss": 0.05, "seconds": 40.0},
             {"epoch": 2.0, "step": 468, "acc": 0.9912, "loss": 0.03, "seconds": 52.5}]
    done = {**cut, "steps_done": 468, "final_test_accuracy": 0.9912, "final_epoch": 2.0, "test_curve": curve,
            "seconds_to_target": 52.5, "epoch_of_target": 2.0}
    assert summary({"name": "mnist", "result": done}) == ("test accuracy 99.12 % at epoch 2 (468 of 9380 steps, "
                                                          "50.0 s); 99.00 % after 52.5 s (epoch 2)")
