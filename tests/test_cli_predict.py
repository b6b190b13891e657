"""`losslab compare --keep` then `losslab predict`: the kept model file, its predictions, the report's "Use it" lines."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import losslab as ll
from losslab.cli import app

runner = CliRunner()
FAST = ["--seeds", "2", "--epochs", "3", "--quiet"]


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A comparison on a CSV with an id column and a categorical feature, keeping the best model."""
    root = tmp_path_factory.mktemp("cli-predict")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 2))
    colour = rng.choice(["red", "green", "blue"], size=160)
    p = 1 / (1 + np.exp(-(X[:, 0] + (colour == "red"))))
    df = pd.DataFrame({"id": [f"row{i}" for i in range(160)], "a": X[:, 0], "b": X[:, 1] * 100, "colour": colour, "score": np.round(p * 8) / 8})
    df.to_csv(root / "train.csv", index=False)
    out = root / "out"
    res = runner.invoke(app, ["compare", str(root / "train.csv"), "--target", "score", "--features", "a,b,colour",
                              "--laws", "bernoulli,beta:clamp=0.001", "--keep", "best", "--out", str(out), *FAST])
    assert res.exit_code == 0, res.output
    models = sorted((out / "models").iterdir())
    assert len(models) == 1 and models[0].suffix == ".losslab"
    return root, out, models[0], df


def test_compare_keeps_the_best_model_and_the_report_shows_how_to_use_it(kept):
    root, out, model, _ = kept
    result = ll.experiment.load_result(str(out / "runs.sqlite"))
    law, seed = result.best_seed()
    assert model.name == ll.experiment.predictor.file_name(law, seed)
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    use = md.split("## Use it", 1)[1]
    assert f"ll.load_model({str(model)!r})" in use and f"losslab predict {model}" in use
    assert "Use it" in html and f"ll.load_model(&#x27;{model}&#x27;)" in html
    # relative to the report's folder, so that two identical runs into two folders write the same results.json
    assert json.loads((out / "results.json").read_text())["models"] == {f"{law}, seed {seed} (best)": f"models/{model.name}"}


def test_predict_writes_one_row_per_input_row_equal_to_the_python_predictions(kept, tmp_path):
    root, _, model, df = kept
    new = df.drop(columns=["score"]).iloc[:11].sample(frac=1, random_state=0)[["id", "colour", "b", "a"]]  # no target, other column order
    new.to_csv(tmp_path / "new.csv", index=False)
    res = runner.invoke(app, ["predict", str(model), str(tmp_path / "new.csv"), "--out", str(tmp_path / "preds.csv"), "--quantiles", "0.1,0.5"])
    predictor = ll.load_model(model)
    if predictor.law.name == "bernoulli":  # soft BCE has no quantiles: a one-line refusal, exit 2
        assert res.exit_code == 2 and "no quantiles" in res.output, res.output
        res = runner.invoke(app, ["predict", str(model), str(tmp_path / "new.csv"), "--out", str(tmp_path / "preds.csv")])
        assert res.exit_code == 0, res.output
        assert "no interval columns" in res.output
        columns = ["id", "score_pred"]
    else:
        assert res.exit_code == 0, res.output
        columns = ["id", "score_pred", "score_low", "score_high", "score_q0.1", "score_q0.5"]
    preds = pd.read_csv(tmp_path / "preds.csv")
    assert list(preds.columns) == columns and list(preds["id"]) == list(new["id"])
    np.testing.assert_allclose(preds["score_pred"], predictor.predict(new), rtol=1e-12)
    if "score_low" in preds:
        low, high = predictor.predict_interval(new, 0.9)
        np.testing.assert_allclose(preds[["score_low", "score_high"]].to_numpy(), np.stack([low, high], 1), rtol=1e-12)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--level", "1.5"], "--level 1.5; expected a number between 0 and 1"),
        (["--quantiles", "0.1,2"], "--quantiles: 2 is not a probability"),
        (["--id", "nope"], "--id 'nope'"),
    ],
)
def test_predict_bad_options_exit_2_with_one_line(kept, tmp_path, args, message):
    root, _, model, df = kept
    df.drop(columns=["score"]).to_csv(tmp_path / "new.csv", index=False)
    res = runner.invoke(app, ["predict", str(model), str(tmp_path / "new.csv"), "--out", str(tmp_path / "p.csv"), *args])
    assert res.exit_code == 2, res.output
    assert message in res.output and len(res.output.strip().splitlines()) == 1, res.output


def test_predict_bad_data_exits_2_naming_the_culprit(kept, tmp_path):
    root, _, model, df = kept
    df.drop(columns=["b"]).to_csv(tmp_path / "nob.csv", index=False)
    res = runner.invoke(app, ["predict", str(model), str(tmp_path / "nob.csv"), "--out", str(tmp_path / "p.csv")])
    assert res.exit_code == 2 and "lacks feature column 'b'" in res.output, res.output
    df.assign(colour="purple").to_csv(tmp_path / "purple.csv", index=False)
    res = runner.invoke(app, ["predict", str(model), str(tmp_path / "purple.csv"), "--out", str(tmp_path / "p.csv")])
    assert res.exit_code == 2 and "category 'purple'" in res.output and "unseen in training" in res.output, res.output
    res = runner.invoke(app, ["predict", str(tmp_path / "missing.losslab"), str(tmp_path / "nob.csv")])
    assert res.exit_code == 2 and "does not exist" in res.output, res.output
    res = runner.invoke(app, ["compare", str(root / "train.csv"), "--target", "score", "--keep", "some", "--out", str(tmp_path / "o"), *FAST])
    assert res.exit_code == 2 and "--keep some; expected best, all, none" in res.output, res.output


def test_compare_keep_all_then_predict_images_from_an_npz(tmp_path):
    """Images: an npz without labels goes through the same channel and pixel handling as training."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(80, 8, 8), dtype=np.uint8)  # (N, H, W) integer pixels: read as (N, 1, H, W) / 255
    y = np.clip(X[:, :4].mean(axis=(1, 2)) / 255, 0.01, 0.99).astype(np.float32)
    np.savez(tmp_path / "train.npz", X=X, y=y)
    out = tmp_path / "out"
    res = runner.invoke(app, ["compare", str(tmp_path / "train.npz"), "--laws", "beta", "--model", "cnn-small", "--keep", "all", "--out", str(out), *FAST])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in (out / "models").iterdir())
    assert names == ["beta-ensemble.losslab", "beta-seed0.losslab", "beta-seed1.losslab"]
    np.savez(tmp_path / "new.npz", X=X[:5])
    res = runner.invoke(app, ["predict", str(out / "models" / "beta-ensemble.losslab"), str(tmp_path / "new.npz"), "--out", str(tmp_path / "p.csv")])
    assert res.exit_code == 0, res.output
    preds = pd.read_csv(tmp_path / "p.csv")
    ens = ll.load_model(out / "models" / "beta-ensemble.losslab")
    np.testing.assert_allclose(preds["y_pred"], ens.predict(X[:5, None] / np.float32(255)), rtol=1e-12)
    assert list(preds.columns) == ["y_pred", "y_low", "y_high"] and bool((preds["y_low"] < preds["y_high"]).all())
