"""``spikeforge train``: bad input exits 2 with a clear message; a small end-to-end run
shows pruning cutting synaptic work while accuracy stays within a stated margin."""

import dataclasses
import json

import pytest

from spikeforge.cli import main
from spikeforge.golden import experiment, network
from spikeforge.golden.network import LayerSpec, NetworkSpec

# A small, fast network for the end-to-end tests: the learning-rate schedule ramps every
# 15 images instead of 500 so that the layers converge within 500 learning images.
SMALL = NetworkSpec(
    image_size=(16, 16),
    layers=(
        LayerSpec(maps=8, kernel=5, threshold=10.0, k_winners=3, radius=2, pad=2,
                  learn_images=500),
        LayerSpec(maps=16, kernel=2, threshold=1.0, k_winners=4, radius=1, pad=1,
                  learn_images=500),
    ),
    rate_double_every=15,
)
# The stated margin for the small run (200 learning images, 200 test images): pruning
# may cost at most this many accuracy points.  The full digits run is held to 0.5 points
# in docs/network.md.
SMALL_RUN_ACCURACY_MARGIN_POINTS = 6.0


@pytest.fixture
def small_preset(monkeypatch):
    monkeypatch.setitem(network.PRESETS, "digits", SMALL)


def run(argv, capsys):
    status = main(["train", "-q", *argv])
    out = capsys.readouterr()
    return status, out.out + out.err


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "cifar"], "unknown dataset 'cifar'"),
    (["--dataset", "mnist"], "needs --data-dir"),
    (["--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], "does not exist"),
    (["--dataset", "caltech", "--data-dir", "/nonexistent/caltech"], "does not exist"),
    (["--prune-threshold", "1.5"], "theta_p"),
    (["--prune-start", "-1"], "--prune-start"),
    (["--compare", "--sweep"], "one at a time"),
    (["--sweep", "--sweep-kinds", "theta,colour"], "unknown sweep kind"),
    (["--learn-images", "0"], "--learn-images"),
    (["--fixed-point", "--set", "weight_bits=99"], "weight_bits"),
    (["--sweep", "-o", "/nonexistent/out"], "does not exist"),
    (["--dataset", "mnist", "--image-size", "20"], "digits only"),
    (["--jobs", "0"], "--jobs"),
])
def test_bad_input_exits_2_with_clear_message(argv, message, capsys):
    status, text = run(argv, capsys)
    assert status == 2
    assert message in text
    assert "Traceback" not in text


def test_wrong_format_data_exits_2(tmp_path, capsys):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot gzip")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bnot gzip")
    status, text = run(["--dataset", "mnist", "--data-dir", str(tmp_path)], capsys)
    assert status == 2 and "not a valid gzip file" in text


def test_argparse_conflict_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--no-prune", "--prune-threshold", "0.1"])
    assert exc.value.code == 2


def test_existing_output_is_not_overwritten_without_force(tmp_path, capsys):
    out = tmp_path / "out.json"
    out.write_text("keep me")
    status, text = run(["--json", str(out)], capsys)
    assert status == 2 and "--force" in text
    assert out.read_text() == "keep me"


def test_compare_end_to_end_pruning_cuts_work_keeps_accuracy(tmp_path, capsys, small_preset):
    out = tmp_path / "out.json"
    status, text = run(["--compare", "--prune-threshold", "0.2", "--max-images", "200",
                        "--json", str(out)], capsys)
    assert status == 0, text
    r = json.loads(out.read_text())
    pruned, unpruned = r["pruned"], r["unpruned"]
    assert unpruned["connectivity"]["fraction"] == 1.0
    assert pruned["connectivity"]["fraction"] < 0.5
    for phase in ("learning", "inference"):
        assert pruned[phase]["syn_ops"] < unpruned[phase]["syn_ops"]
    assert pruned["learning"]["stdp_updates"] < unpruned["learning"]["stdp_updates"]
    red = r["reductions"]
    assert red["inference_syn_ops_speedup"] == pytest.approx(
        unpruned["inference"]["syn_ops"] / pruned["inference"]["syn_ops"])
    assert red["inference_syn_ops_speedup"] > 1.5
    assert red["accuracy_loss_points"] <= SMALL_RUN_ACCURACY_MARGIN_POINTS
    assert unpruned["accuracy"] > 0.6, "the small network must learn something"
    # Per-layer records hold the counters the issue asks for.
    for layer in pruned["layers"]:
        assert {"syn_ops", "stdp_updates", "upstream_syn_ops", "images_per_s",
                "wall_time_s"} <= set(layer["learning"])
        assert layer["learning"]["converged"] is True
        assert layer["convergence"] < 0.01
        assert 0 < layer["connectivity"]["alive"] <= layer["connectivity"]["total"]
    assert r["targets"]["accuracy_loss_points"]["met"] in (True, False)
    # The small preset has a fixed C and no cross-validation figure: the CV loss is
    # reported as not available rather than invented.
    assert pruned["readout"]["C"] == SMALL.svm_c and pruned["readout"]["c_chosen_by"] == "preset"
    assert red["accuracy_loss_points_cv"] is None
    assert r["targets"]["accuracy_loss_points_cv"]["met"] is None


def test_fixed_point_single_run_writes_report(tmp_path, capsys, small_preset):
    out = tmp_path / "fixed.json"
    status, text = run(["--fixed-point", "--set", "weight_bits=6", "--max-images", "120",
                        "--learn-images", "120", "--json", str(out)], capsys)
    assert status == 0, text
    r = json.loads(out.read_text())
    assert r["mode"] == "fixed" and r["fixed_point"]["weight_bits"] == 6
    assert 0.0 <= r["accuracy"] <= 1.0
    assert r["learning"]["syn_ops"] > 0 and r["inference"]["syn_ops"] > 0


def test_sweep_writes_json_and_png(tmp_path, capsys, small_preset, monkeypatch):
    monkeypatch.setattr(experiment, "SWEEP_THETAS", (0.0, 0.3))
    monkeypatch.setattr(experiment, "SWEEP_WEIGHT_BITS", (4,))
    monkeypatch.setattr(experiment, "SWEEP_TIME_STEPS", (6,))
    status, text = run(["--sweep", "--max-images", "60", "--learn-images", "250",
                        "-o", str(tmp_path)], capsys)
    assert status == 0, text
    sweep = json.loads((tmp_path / "sweep_digits.json").read_text())
    assert [row["theta_p"] for row in sweep["theta"]] == [0.0, 0.3]
    assert sweep["theta"][0]["connectivity"] == 1.0
    assert sweep["theta"][1]["connectivity"] < 1.0
    assert sweep["theta"][0]["cv_accuracy"] is None      # the small preset computes none
    assert sweep["weight_bits"][0]["mode"] == "fixed"
    assert sweep["time_steps"][0]["time_steps"] == 6
    png = (tmp_path / "sweep_digits.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # A second sweep into the same folder refuses to overwrite.
    status, text = run(["--sweep", "-o", str(tmp_path)], capsys)
    assert status == 2 and "already exist" in text


def test_caltech_pipeline_runs_on_synthetic_folders(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(3)
    for split in ("LearningSet", "TrainingSet", "TestingSet"):
        for cls in ("Face", "Motor"):
            folder = tmp_path / "cal" / split / cls
            folder.mkdir(parents=True)
            for k in range(2):
                Image.fromarray(rng.integers(0, 256, (40, 60), dtype=np.uint8)).save(
                    folder / f"image_{k}.jpg")
    out = tmp_path / "cal.json"
    status, text = run(["--dataset", "caltech", "--data-dir", str(tmp_path / "cal"),
                        "--learn-images", "4", "--no-prune", "--json", str(out)], capsys)
    assert status == 0, text
    r = json.loads(out.read_text())
    assert [l["name"] for l in r["layers"]] == ["conv1", "conv2", "conv3"]
    assert r["dataset"]["test"] == 4 and r["dataset"]["image_shape"] == [160, 250]
    assert all(l["learning"]["images"] == 4 for l in r["layers"])
