"""MedMNIST catalogue: 18 datasets with official facts, did-you-mean, `radlens data list/info`."""

from __future__ import annotations

import re

import pytest

from radlens.cli import main
from radlens.data.medmnist.load import get_info, list_datasets, paper_result, paper_results
from radlens.errors import DataError


def test_catalogue_has_the_18_official_datasets() -> None:
    infos = list_datasets()
    assert len(infos) == 18
    two_d = [i for i in infos if not i.is_3d]
    three_d = [i for i in infos if i.is_3d]
    assert len(two_d) == 12 and len(three_d) == 6
    assert all(i.sizes == (28, 64, 128, 224) for i in two_d)
    assert all(i.sizes == (28, 64) for i in three_d)
    for info in infos:
        assert set(info.n_samples) == {"train", "val", "test"}
        for size in info.sizes:
            url, md5 = info.files[size]
            assert re.fullmatch(r"[0-9a-f]{32}", md5)
            assert url.startswith("https://zenodo.org/records/10519652/files/")
            assert info.file_name(size) in url
    assert len({info.files[s][1] for info in infos for s in info.sizes}) == 12 * 4 + 6 * 2


def test_known_facts_from_the_official_info() -> None:
    pneu = get_info("pneumoniamnist")
    assert pneu.task == "binary" and pneu.medmnist_task == "binary-class"
    assert pneu.label_names == ("normal", "pneumonia")
    assert pneu.n_samples == {"train": 4708, "val": 524, "test": 624}
    assert pneu.md5(28) == "28209eda62fecd6e6a2d98b1501bb15f"
    assert pneu.file_name(28) == "pneumoniamnist.npz"
    assert pneu.file_name(224) == "pneumoniamnist_224.npz"
    assert pneu.python_class == "PneumoniaMNIST" and pneu.n_channels == 1 and not pneu.is_3d
    chest = get_info("ChestMNIST")  # the python class name works too
    assert (
        chest.task == "multi-label" and chest.n_labels == 14 and chest.label_names[13] == "hernia"
    )
    retina = get_info("retinamnist")
    assert retina.task == "ordinal-regression" and retina.n_labels == 5 and retina.n_channels == 3
    assert get_info("dermamnist").licence == "CC BY-NC 4.0"
    organ3d = get_info("organmnist3d")
    assert (
        organ3d.is_3d
        and organ3d.label_names[0] == "liver"
        and organ3d.python_class == ("OrganMNIST3D")
    )
    assert get_info("organamnist").n_samples["train"] == 34561  # v3.0.2 value, not v2.1's 34581


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(DataError, match=r"did you mean 'pneumoniamnist'"):
        get_info("pneumonia-mnist")
    with pytest.raises(DataError, match=r"unknown MedMNIST dataset 'xyz'.*radlens data list"):
        get_info("xyz")


def test_unknown_size_lists_available_sizes() -> None:
    with pytest.raises(DataError, match=r"no size 224; available sizes: 28, 64"):
        get_info("vesselmnist3d").file_name(224)


def test_paper_results() -> None:
    row = paper_result("pneumoniamnist", "ResNet-18 (28)")
    assert (row.auc, row.acc) == (0.944, 0.854)
    assert {r.dataset for r in paper_results()} == {i.name for i in list_datasets()}
    with pytest.raises(DataError, match="did you mean 'ResNet-18 \\(28\\)'"):
        paper_result("pneumoniamnist", "ResNet-18 28")


def test_cli_data_list_prints_18_rows(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    (tmp_path / "breastmnist_64.npz").write_bytes(b"x")
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if re.match(r"^\W+[a-z]+mnist(3d)?\b", line)]
    assert len(rows) == 18
    assert "64*" in next(r for r in rows if "breastmnist" in r)
    assert "CC BY-NC 4.0" in next(r for r in rows if "dermamnist" in r)


def test_cli_data_info_and_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "info", "breastmnist"]) == 0
    assert "750601b1f35ba3300ea97c75c52ff8f6" in capsys.readouterr().out
    assert main(["data", "info", "brestmnist"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'breastmnist'" in err and "Traceback" not in err
