"""Modules moved when sweep/ was grouped into packages: old module paths still import, and a candidate written by the
release before the move (tests/fixtures/candidate-0eb54ec: ``python -m sweep --symbols BTCUSD --models naive
--n-trials 2 --val-windows 8 --test-windows 5 --max-context-length 128`` on commit 0eb54ec) loads and scores as
recorded."""

import dataclasses
import json

import numpy as np
import pytest

from conftest import REPO, SHIPPED_DATA
from sweep.data import WindowSpec, load_ohlcv, make_splits
from sweep.forecasters import FAMILIES, MOVED_MODULES, PersistenceForecaster, document_loader, import_path
from sweep.scoring import SampleCache, document_members, evaluate_document
from sweep.search.space import space_of

OLD_CANDIDATE = REPO / "tests" / "fixtures" / "candidate-0eb54ec" / "BTCUSD.json"


@pytest.mark.parametrize("old", sorted(MOVED_MODULES))
def test_when_an_old_module_path_is_imported_then_its_new_module_loads(old):
    assert import_path(old).__name__ == (old if old == "sweep.forecasters.kronos" else MOVED_MODULES[old])


def test_when_a_family_names_its_space_and_module_by_old_paths_then_they_still_load():
    old = dataclasses.replace(FAMILIES["naive"], space="sweep.space:PersistenceSpace")
    FAMILIES["naive-old-paths"] = dataclasses.replace(old, name="naive-old-paths")
    try:
        assert type(space_of("naive-old-paths")).__name__ == "PersistenceSpace"
        assert FAMILIES["kronos"].forecaster_class().__name__ == "KronosForecaster"
    finally:
        del FAMILIES["naive-old-paths"]


def test_when_a_candidate_of_the_release_before_the_move_is_read_then_it_names_no_module_and_scores_as_recorded(
        tmp_path):
    document = json.loads(OLD_CANDIDATE.read_text())
    assert "sweep." not in OLD_CANDIDATE.read_text().replace("sweep_version", "")
    [(label, identity, config, weight)] = document_members(document)
    assert isinstance(document_loader(OLD_CANDIDATE)(identity), PersistenceForecaster) and weight == 1
    data = load_ohlcv(SHIPPED_DATA, "BTCUSD")
    splits = make_splits(data.n_bars, WindowSpec.from_document(document["windows"]))
    assert len(splits.test_origins) == document["windows"]["n_test_origins"]
    result = evaluate_document(document, data, splits.test_origins, document["windows"]["horizon"],
                               SampleCache(tmp_path / "cache"), document_loader(OLD_CANDIDATE))
    assert np.isclose(result.metrics["pct_return_mae"], document["test"]["pct_return_mae"], rtol=1e-12)
