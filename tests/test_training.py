"""Issue 5: dev BLEU during training, best checkpoint, translate+evaluate = sacrebleu's CLI,
data-parallel training through torchrun (2 CPU processes, gloo), the ablation report."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from conftest import ROOT, UNMT, unmt
from unmt.train import read_valid_log


def test_dev_bleu_both_directions_logged_and_best_checkpoint_kept(tiny_run):
    points = read_valid_log(tiny_run / "train" / "train.log")
    assert [p["num_updates"] for p in points] == [3, 6]  # tiny: validate every 3 of 6 updates
    for p in points:
        for pair in ("en-fr", "fr-en"):
            assert 0.0 <= p[f"bleu_{pair}"] <= 100.0
            assert 0.0 < p[f"bpc_{pair}"] < 20 and math.isfinite(p[f"bpc_{pair}"])
        assert abs(p["bleu"] - (p["bleu_en-fr"] + p["bleu_fr-en"]) / 2) < 0.011
    assert (tiny_run / "train" / "checkpoint_best.pt").exists()
    command = (tiny_run / "train" / "command.txt").read_text()
    assert "--best-checkpoint-metric bleu" in command and "--valid-sentences 16" in command


def test_validation_reads_a_fixed_random_sample_of_the_dev_set_not_its_shortest_lines():
    """fairseq batches a dev set shortest first, so a number of batches (--max-valid-steps) was the
    one- and two-word lines of LibreOffice help only."""
    import numpy as np
    import torch
    from fairseq.data import Dictionary, LanguagePairDataset, RoundRobinZipDatasets

    from unmt.plugin.unmt_backtranslation import DevSample

    d = Dictionary()
    sizes = np.random.RandomState(1).randint(1, 40, size=500)
    lines = [torch.full((int(n),), d.unk()) for n in sizes]

    def dev():
        return LanguagePairDataset(lines, sizes, d, tgt=lines, tgt_sizes=sizes, tgt_dict=d, shuffle=False)

    zipped = RoundRobinZipDatasets({"en-fr": DevSample(dev(), 100), "fr-en": DevSample(dev(), 100)})
    zipped.ordered_indices()
    sample = zipped._ordered_indices["en-fr"]
    assert len(zipped) == len(sample) == 100 and len(set(sample)) == 100
    assert list(sample) == list(zipped._ordered_indices["fr-en"]) == list(DevSample(dev(), 100).ordered_indices())
    assert list(sizes[sample]) == sorted(sizes[sample])  # still batched shortest first
    assert sizes[sample].max() > np.sort(sizes)[99] + 10  # not the 100 shortest lines
    assert abs(sizes[sample].mean() - sizes.mean()) < 4
    assert {zipped[i]["en-fr"]["id"] for i in range(len(zipped))} == set(sample.tolist())
    assert list(DevSample(dev(), 0).ordered_indices()) == list(dev().ordered_indices())  # 0: all of it


def test_translate_1000_lines_and_evaluate_scores_like_sacrebleu_cli(tiny_run, tmp_path):
    text = tiny_run / "prepare" / "text"
    src, ref = (text / "test.en").read_text().splitlines(), (text / "test.fr").read_text().splitlines()
    n = 1000
    (tmp_path / "in.en").write_text("\n".join(src[i % len(src)] for i in range(n)) + "\n")
    (tmp_path / "ref.fr").write_text("\n".join(ref[i % len(ref)] for i in range(n)) + "\n")
    unmt("translate", "--run-dir", tiny_run, "--src", "en", "--tgt", "fr", "-i", tmp_path / "in.en",
         "-o", tmp_path / "hyp.fr")
    hyps = (tmp_path / "hyp.fr").read_text().split("\n")[:-1]
    assert len(hyps) == n
    # the model's output, and the copy of the source (a non-zero BLEU, so agreement is not 0 == 0)
    for hyp in (tmp_path / "hyp.fr", tmp_path / "in.en"):
        ours = json.loads(unmt("evaluate", "--hyp", hyp, "--ref", tmp_path / "ref.fr", "--lang", "fr", "--json").stdout)
        cli = subprocess.run([sys.executable, "-m", "sacrebleu", str(tmp_path / "ref.fr"), "-i", str(hyp),
                              "-m", "bleu", "chrf", "-f", "json", "-w", "4"], capture_output=True, text=True, check=True)
        theirs = {d["name"]: d for d in json.loads(cli.stdout)}
        assert ours["bleu"] == round(theirs["BLEU"]["score"], 2)
        assert ours["chrf"] == round(theirs["chrF2"]["score"], 2)
        assert ours["bleu_signature"] == theirs["BLEU"]["signature"]
        assert ours["chrf_signature"] == theirs["chrF2"]["signature"]
    assert ours["bleu"] > 0


def test_torchrun_two_cpu_processes_train_data_parallel(tiny_run, tmp_path):
    run = tmp_path / "ddp"
    run.mkdir()
    for stage in ("prepare", "pretrain", "align", "mine"):
        (run / stage).symlink_to(tiny_run / stage)
    unmt("train", "recipes/tests/tiny.yaml", "--run-dir", run, "--nproc", "2")
    log = (run / "train" / "train.log").read_text()
    assert "distributed init (rank 0)" in log and "distributed init (rank 1)" in log
    assert "'distributed_world_size': 2" in log and "'distributed_backend': 'gloo'" in log
    assert "torch.distributed.run" in (run / "train" / "command.txt").read_text()
    assert read_valid_log(run / "train" / "train.log")[-1]["num_updates"] == 6
    # the data-parallel checkpoint translates like any other
    out = unmt("translate", "--run-dir", run, "--src", "fr", "--tgt", "en", input="Bonjour le monde.\n").stdout
    assert len(out.strip().splitlines()) == 1


def test_ablation_writes_one_table_and_one_dev_bleu_plot(tiny_run):
    r = unmt("run", str(ROOT / "recipes" / "tests" / "ablation-tiny.yaml"), "--run-dir", tiny_run, "--quiet")
    assert "[pretrain] up to date" in r.stdout  # the variants share the run's stages
    report = json.loads((tiny_run / "ablation" / "results.json").read_text())
    assert list(report["variants"]) == ["no-pretrain-no-bt", "full+mined"]
    a, e = (report["variants"][v] for v in ("no-pretrain-no-bt", "full+mined"))
    assert a["train_overrides"]["init_from_pretrain"] is False and a["train_overrides"]["lambda_bt"] == "0"
    assert e["train_overrides"]["warm_start"] == "wbw+mined"
    assert [p["num_updates"] for p in a["dev_curve"]] == [3, 6]
    assert set(report["baselines"]) == {"copy", "word-by-word"}
    table = (tiny_run / "ablation" / "results.md").read_text()
    assert table.count("\n| ") >= 4 and "baseline: copy" in table
    png = (tiny_run / "ablation" / "dev_bleu.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    # no-pretraining variant really started from scratch: its command has no --restore-file
    assert "--restore-file" not in (tiny_run / "train-no-pretrain-no-bt" / "command.txt").read_text()
    assert "--restore-file" in (tiny_run / "train-full+mined" / "command.txt").read_text()


def test_cpu_bf16_mixin_autocasts_the_training_step_only_when_asked():
    import argparse

    import torch

    from unmt.plugin.cpu_bf16 import CpuBf16TrainStep

    class Step:  # stands in for the fairseq task below the mixin: reports the dtype its matmuls get
        def train_step(self, *args):
            return (torch.ones(2, 2) @ torch.ones(2, 2)).dtype

    class Task(CpuBf16TrainStep, Step):
        def __init__(self, on):
            self.args = argparse.Namespace(cpu_bf16=on)

    assert Task(True).train_step(None, None, None, None, 0) == torch.bfloat16
    assert Task(False).train_step(None, None, None, None, 0) == torch.float32
    assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32  # autocast does not leak out


def test_bf16_recipe_pretrains_trains_and_codes_with_cpu_autocast(tiny_run, tmp_path):
    import pytest

    from unmt.plugin.cpu_bf16 import cpu_bf16_supported

    if not cpu_bf16_supported():
        pytest.skip("this CPU has no native bf16: precision bf16 falls back to fp32 here")
    recipe = tmp_path / "bf16.yaml"
    recipe.write_text((ROOT / "recipes" / "tests" / "tiny.yaml").read_text() + "precision: bf16\n")
    run = tmp_path / "run"
    run.mkdir()
    for stage in ("prepare", "align", "mine"):
        (run / stage).symlink_to(tiny_run / stage)
    for stage in ("pretrain", "train"):
        unmt(stage, recipe, "--run-dir", run)
    unmt("evaluate", recipe, "--run-dir", run)
    unmt("lms", recipe, "--run-dir", run)
    unmt("compress", recipe, "--run-dir", run)
    for stage in ("pretrain", "train", "lms/lm-joint"):
        assert "--cpu-bf16" in (run / stage / "command.txt").read_text()
        assert "torch.autocast('cpu', bfloat16)" in (run / stage / "train.log").read_text()
    assert "--cpu-bf16" not in (tiny_run / "train" / "command.txt").read_text()  # the fp32 default
    for p in read_valid_log(run / "train" / "train.log"):
        assert all(math.isfinite(p[f"bpc_{pair}"]) for pair in ("en-fr", "fr-en"))
    assert json.loads((run / "evaluate" / "results.json").read_text())
    assert (run / "compress" / "results.json").exists()


@pytest.mark.slow  # ~2 minutes; the one-node data-parallel test above runs by default
def test_two_nodes_join_one_stage_through_torchrun(tiny_run, tmp_path):
    """The multi-node command of docs/scale.md, both "nodes" on localhost: node 0 runs the stage with
    UNMT_TORCHRUN, node 1 joins it with torchrun ... -m unmt.fairseq_launch --from-command."""
    import socket
    import time

    run = tmp_path / "nodes"
    run.mkdir()
    for stage in ("prepare", "pretrain", "align", "mine"):
        (run / stage).symlink_to(tiny_run / stage)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nodes = f"--nnodes 2 --master_addr 127.0.0.1 --master_port {port}"
    node0 = subprocess.Popen(UNMT + ["train", "recipes/tests/tiny.yaml", "--run-dir", str(run)], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env={**os.environ, "UNMT_TORCHRUN": nodes + " --node_rank 0"})
    command = run / "train" / "command.txt"
    for _ in range(600):
        if command.exists() or node0.poll() is not None:
            break
        time.sleep(0.2)
    node1 = subprocess.run([sys.executable, "-m", "torch.distributed.run", *nodes.split(), "--node_rank", "1",
                            "--nproc_per_node", "1", "-m", "unmt.fairseq_launch", "--from-command", str(command)],
                           cwd=ROOT, capture_output=True, text=True, timeout=600,
                           env={**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})
    out0, _ = node0.communicate(timeout=600)
    assert node0.returncode == 0 and node1.returncode == 0, (out0[-2000:], node1.stderr[-2000:])
    log = (run / "train" / "train.log").read_text()
    assert "'distributed_world_size': 2" in log and "distributed init (rank 0)" in log
    assert "distributed init (rank 1)" in node1.stdout + node1.stderr
    assert read_valid_log(run / "train" / "train.log")[-1]["num_updates"] == 6
