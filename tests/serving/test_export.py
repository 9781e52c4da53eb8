"""Export to the predecessor's layout (lee101/stock-prediction), checked against files built from its schema."""

import json

import pytest

from sweep.cli import main
from sweep.errors import ConfigError
from sweep.serving.export import export_stock_prediction, predecessor_aggregate

from conftest import PROMOTION

METRICS = {"price_mae": 40.0, "pct_return_mae": 0.0031, "latency_s": 0.02, "crps": 0.002}


def _document(symbol, model, config, family=None):
    family = family or config["model"]
    return {"symbol": symbol, "model": {"family": family, "model_id": f"{family}-ckpt"},
            "config": config, "validation": {**METRICS, "speed": {"samples_per_batch": 16}},
            "test": {**METRICS, "pct_return_mae": 0.0034},
            "selection": {"studies": [{"model": "toto", "validation_pct_return_mae": 0.0031},
                                      {"model": "kronos", "validation_pct_return_mae": 0.0052},
                                      {"model": "naive", "validation_pct_return_mae": 0.0033}]},
            "provenance": {"run_id": "r1", "study_name": f"{symbol}.{model}"}, "promotion": PROMOTION}


TOTO = {"model": "toto", "context_length": 256, "num_samples": 64, "aggregate": "trimmed_mean_0.1", "seed": 0,
        "sampling": {}}
KRONOS = {"model": "kronos", "context_length": 512, "num_samples": 32, "aggregate": "median", "seed": 0,
          "sampling": {"temperature": 0.7, "top_k": 20, "top_p": 1.0, "clip": 3.0}}
NAIVE = {"model": "naive", "context_length": 1, "num_samples": 1, "aggregate": "mean", "seed": 0, "sampling": {}}


@pytest.fixture
def hyperparams(tmp_path):
    best = tmp_path / "hp" / "best"
    best.mkdir(parents=True)
    ensemble = _document("SOLUSD", "ensemble", {"members": [
        {"label": "kronos", "model": {"family": "kronos", "model_id": "k"}, "config": {**KRONOS, "sampling": {
            "temperature": 1.0, "top_k": 0, "top_p": 0.9, "clip": 5.0}, "aggregate": "mean"}, "weight": 0.7},
        {"label": "naive", "model": {"family": "naive", "model_id": "persistence"}, "config": NAIVE, "weight": 0.3}]},
        family="ensemble")
    for symbol, document in (("BTCUSD", _document("BTCUSD", "toto", TOTO)),
                             ("ETHUSD", _document("ETHUSD", "kronos", KRONOS)),
                             ("SOLUSD", ensemble), ("UNIUSD", _document("UNIUSD", "naive", NAIVE))):
        (best / f"{symbol}.json").write_text(json.dumps(document))
    return tmp_path / "hp"


def test_when_exported_then_each_file_matches_the_predecessors_schema(hyperparams, tmp_path):
    result = export_stock_prediction(hyperparams, tmp_path / "out")
    out = tmp_path / "out"
    expected_best = {"symbol": "BTCUSD", "model": "toto",
                     "metadata": {"candidate_pct_return_mae": {"toto": 0.0031, "kronos": 0.0052},
                                  "source": str(hyperparams / "best" / "BTCUSD.json"),
                                  "exported_by": "python -m sweep export"},
                     "validation": {"price_mae": 40.0, "pct_return_mae": 0.0031, "latency_s": 0.02},
                     "test": {"price_mae": 40.0, "pct_return_mae": 0.0034, "latency_s": 0.02}}
    assert json.loads((out / "best/BTCUSD.json").read_text()) == expected_best
    assert json.loads((out / "toto/BTCUSD.json").read_text()) == {
        "symbol": "BTCUSD", "model": "toto",
        "config": {"name": "sweep:r1:BTCUSD.toto", "num_samples": 128, "aggregate": "trimmed_mean_10",
                   "samples_per_batch": 16}}
    assert json.loads((out / "kronos/ETHUSD.json").read_text()) == {
        "symbol": "ETHUSD", "model": "kronos",
        "config": {"name": "sweep:r1:ETHUSD.kronos", "temperature": 0.7, "top_p": 1.0, "top_k": 20,
                   "sample_count": 32, "max_context": 512, "clip": 3.0}}
    # the ensemble's strongest model member, with its top-p filter active and top-k off
    assert json.loads((out / "kronos/SOLUSD.json").read_text())["config"] == {
        "name": "sweep:r1:SOLUSD.ensemble", "temperature": 1.0, "top_p": 0.9, "top_k": 0, "sample_count": 32,
        "max_context": 512, "clip": 5.0}
    assert json.loads((out / "best/SOLUSD.json").read_text())["model"] == "kronos"
    assert not (out / "best/UNIUSD.json").exists()
    assert len(result.written) == 7 and result.written[-1] == out / "sweep-export.json"  # six files, then the manifest


def test_when_a_setting_cannot_be_carried_then_a_warning_names_it(hyperparams, tmp_path):
    warnings = export_stock_prediction(hyperparams, tmp_path / "out").warnings
    text = "\n".join(warnings)
    assert "BTCUSD: toto num_samples 64 will be raised to 128" in text
    assert "BTCUSD: toto context_length 256 is not carried" in text
    assert "ETHUSD: kronos aggregate 'median' is not carried" in text
    assert "SOLUSD: the ensemble (kronos 0.70, naive 0.30) is not carried" in text
    assert "UNIUSD: not exported: its best is persistence" in text


@pytest.mark.parametrize("ours, theirs", [("mean", "mean"), ("median", "median"),
                                          ("trimmed_mean_0.25", "trimmed_mean_25"),
                                          ("winsorized_mean_0.1", "winsorized_mean_10"),
                                          ("quantile_0.55", "quantile_55"), ("trimmed_mean_5", "trimmed_mean_5")])
def test_when_aggregations_are_exported_then_fractions_become_percents(ours, theirs):
    assert predecessor_aggregate(ours) == theirs


def test_when_there_is_no_best_then_export_exits_2_naming_the_folder(tmp_path, capsys):
    assert main(["export", "--layout", "stock-prediction", "--output-dir", str(tmp_path), "--to",
                 str(tmp_path / "out")]) == 2
    assert "no promoted configs in" in capsys.readouterr().err
    with pytest.raises(ConfigError):
        export_stock_prediction(tmp_path, tmp_path / "out")


def test_when_run_from_the_cli_then_warnings_and_files_are_printed(hyperparams, tmp_path, capsys):
    assert main(["export", "--layout", "stock-prediction", "--output-dir", str(hyperparams), "--to",
                 str(tmp_path / "out"), "--symbols", "BTCUSD"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: BTCUSD: toto num_samples 64" in err and "toto/BTCUSD.json" in err


def test_when_the_best_is_a_quantile_family_then_it_is_not_exported_and_a_warning_says_why(tmp_path):
    best = tmp_path / "hp" / "best"
    best.mkdir(parents=True)
    chronos = {"model": "chronos2", "context_length": 512, "num_samples": 1, "aggregate": "median", "seed": 0,
               "sampling": {"inputs": "close"}}
    (best / "BTCUSD.json").write_text(json.dumps(_document("BTCUSD", "chronos2", chronos)))
    result = export_stock_prediction(tmp_path / "hp", tmp_path / "out")
    assert result.written == [tmp_path / "out" / "sweep-export.json"] and "BTCUSD: not exported: its best (chronos2) has no place in the layout" in \
        result.warnings[0]


def test_when_every_kind_of_best_is_read_then_the_validator_accepts_it(hyperparams):
    from sweep.scoring.ensemble import read_best

    families = {path.stem: read_best(path)["model"]["family"] for path in sorted((hyperparams / "best").glob("*"))}
    assert families == {"BTCUSD": "toto", "ETHUSD": "kronos", "SOLUSD": "ensemble", "UNIUSD": "naive"}


def test_when_one_best_is_broken_then_the_export_writes_nothing_at_all(hyperparams, tmp_path):
    (hyperparams / "best" / "ZECUSD.json").write_text("{}")  # sorted last: the others come first
    with pytest.raises(ConfigError, match="ZECUSD.json is not a best config: it has no 'model'"):
        export_stock_prediction(hyperparams, tmp_path / "out")
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["hp"]


def test_when_exported_again_then_the_result_lists_removed_and_kept_files(hyperparams, tmp_path):
    out = tmp_path / "out"
    export_stock_prediction(hyperparams, out)
    (hyperparams / "best" / "BTCUSD.json").write_text(json.dumps(_document("BTCUSD", "naive", NAIVE)))
    result = export_stock_prediction(hyperparams, out, ("BTCUSD",))
    assert result.removed == [(out / "best/BTCUSD.json", "its best is persistence now"),
                              (out / "toto/BTCUSD.json", "its best is persistence now")]
    assert sorted(p.relative_to(out).as_posix() for p in result.kept) == [
        "best/ETHUSD.json", "best/SOLUSD.json", "kronos/ETHUSD.json", "kronos/SOLUSD.json"]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no staging or old folder left beside it
