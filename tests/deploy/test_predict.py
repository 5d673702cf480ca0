"""`radlens.deploy.predict`: inputs prepared as the run's plan says score exactly as the run's own
training images / the service's scorer do; unreadable and wrong-kind inputs are listed with their
reason and never scored; the output format follows the suffix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydicom.data import get_testdata_file

from radlens.data.radiographs import read_radiograph, resize_image
from radlens.data.volumes import load_volume
from radlens.deploy import STAGES, Predictor, check_output, predict, write_table
from radlens.errors import ConfigError, DataError, ModelError
from radlens.service.scoring import ModelScorer
from radlens.training import images_to_tensor, load_dataset, load_run, predict_scores


def test_2d_scores_equal_the_runs_own_preparation(run_2d: Path) -> None:
    images = run_2d.parent / "images"
    frame = predict(run_2d, [images / "img03.png", images / "img07.png"])
    run = load_run(run_2d)
    ds = load_dataset(run.config)  # load_image_folder: how training prepared these files
    stored = {}
    for split in ds.splits:
        for ident, image in zip(ds.ids[split], ds.images[split], strict=True):
            stored[Path(str(ident)).name] = image
    x = images_to_tensor(
        np.stack([stored["img03.png"], stored["img07.png"]]), n_channels=1, spatial_dims=2
    )
    expected = predict_scores(run.model, x, run.task)
    names = list(run.label_names)
    assert list(frame.columns) == ["id", "path", "status", "reason", *names]
    assert list(frame["status"]) == ["scored", "scored"]
    np.testing.assert_allclose(frame[names].to_numpy(), expected, atol=1e-6)
    assert set(frame.attrs["timings_s"]) == set(STAGES)


def test_3d_scores_equal_the_service_scorer(run_3d: Path, ct_inputs: dict[str, Path]) -> None:
    frame = predict(run_3d, [ct_inputs["series"], ct_inputs["nifti"]], batch_size=1)
    scorer = ModelScorer(run_3d)

    for row, path in zip(
        frame.itertuples(), (ct_inputs["series"], ct_inputs["nifti"]), strict=True
    ):
        assert row.status == "scored"
        expected = {
            (f"{p.abnormality}@{p.location}" if p.location else p.abnormality): p.score
            for p in scorer.score(load_volume(path))
        }
        got = frame.loc[row.Index, ["nodule", "effusion@left_lung"]].to_dict()
        assert got == pytest.approx(expected, abs=1e-6)
    # the two studies differ, so do their scores
    assert not np.allclose(frame.iloc[0, 4:].to_numpy(float), frame.iloc[1, 4:].to_numpy(float))


def test_volumes_failing_fitness_are_listed_not_scored(
    run_3d: Path, ct_inputs: dict[str, Path]
) -> None:
    paths = [ct_inputs["short"], ct_inputs["series"], ct_inputs["mr"]]
    frame = predict(run_3d, paths)
    assert list(frame["status"]) == ["not_scorable", "scored", "not_scorable"]
    assert "10 slices; a chest CT needs >= 40" in frame["reason"][0]
    assert "z extent 50 mm; needs >= 150 mm" in frame["reason"][0]
    assert frame["reason"][2] == "modality MR; expected CT"
    assert frame.loc[[0, 2], "nodule"].isna().all()
    # without checks the short series is scored
    assert predict(run_3d, paths[:1], fitness=None)["status"][0] == "scored"


def test_bad_inputs_are_listed_with_reasons_never_scored(
    run_2d: Path, ct_inputs: dict[str, Path], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    good = run_2d.parent / "images" / "img00.png"
    frame = predict(run_2d, [good, tmp_path / "missing.png", broken, ct_inputs["nifti"]])
    assert list(frame["status"]) == ["scored", "error", "error", "error"]
    assert frame["reason"][0] == ""
    assert frame["reason"][1] == "no such file or folder"
    assert "not a readable image" in frame["reason"][2]
    assert "3D volume" in frame["reason"][3] and "2D images" in frame["reason"][3]
    label = load_run(run_2d).label_names[0]
    assert frame[label][1:].isna().all() and not np.isnan(frame[label][0])


def test_csv_listing_with_ids_and_relative_paths(run_2d: Path, tmp_path: Path) -> None:
    images = run_2d.parent / "images"
    listing = tmp_path / "list.csv"
    pd.DataFrame({"path": [str(images / "img01.png"), "sub/none.png"], "id": ["a", "b"]}).to_csv(
        listing, index=False
    )
    frame = predict(run_2d, [listing])
    assert list(frame["id"]) == ["a", "b"]
    assert frame["path"][1] == str(tmp_path / "sub" / "none.png")  # relative to the CSV
    assert list(frame["status"]) == ["scored", "error"]
    bad = tmp_path / "bad.csv"
    bad.write_text("file\nx.png\n")
    with pytest.raises(DataError, match=r"bad.csv: no 'path' column \(has \['file'\]\)"):
        predict(run_2d, [bad])
    with pytest.raises(DataError, match=r"repeated: \['x'\]"):
        predict(run_2d, ["x", "x"])


def test_heatmaps_per_input(
    run_2d: Path, run_3d: Path, ct_inputs: dict[str, Path], tmp_path: Path
) -> None:
    frame = predict(run_2d, [run_2d.parent / "images" / "img02.png"], heatmaps_dir=tmp_path / "h2")
    png = Path(frame["heatmap"][0])
    assert png.suffix == ".png" and png.is_file()
    saved = np.load(png.with_suffix(".npz"))
    assert saved["cam"].shape == (16, 16) and 0 <= saved["cam"].min() <= saved["cam"].max() <= 1
    frame = predict(run_3d, [ct_inputs["nifti"]], heatmaps_dir=tmp_path / "h3")
    saved = np.load(frame["heatmap"][0])
    assert saved["cam"].shape == (8, 16, 16) and str(saved["label"]) in (
        "nodule",
        "effusion@left_lung",
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_output_format_by_suffix(suffix: str, tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["a"], "path": ["a.png"], "status": ["scored"], "reason": [""],
                          "x@y": [0.25]})  # fmt: skip
    out = write_table(frame, tmp_path / f"scores{suffix}")
    back = {
        ".csv": lambda: pd.read_csv(out, keep_default_na=False),
        ".parquet": lambda: pd.read_parquet(out),
        ".json": lambda: pd.DataFrame(json.loads(out.read_text())),
    }[suffix]()
    assert back.to_dict("records") == frame.to_dict("records")


def test_unknown_suffix_lists_the_formats(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown format '.xlsx'.*\.csv, \.parquet, \.json"):
        check_output(tmp_path / "scores.xlsx")


def test_a_run_without_a_usable_plan_is_refused(tmp_path: Path, run_2d: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        Predictor(tmp_path / "nope")
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in run_2d.iterdir():
        if f.is_file():
            (copy / f.name).write_bytes(f.read_bytes())
    plan = json.loads((copy / "plan.json").read_text())
    plan["data_source"] = "arrays"
    (copy / "plan.json").write_text(json.dumps(plan))
    with pytest.raises(ModelError, match="data source 'arrays'"):
        Predictor(copy)


def test_a_dicom_radiograph_scores_as_its_decoded_pixels(run_2d: Path) -> None:
    """A DICOM file for a 2D run goes through the radiograph decoder (modality LUT, VOI, ...)
    and the run's resize: the score equals the model on exactly that array."""
    dicom = Path(get_testdata_file("CT_small.dcm"))
    frame = predict(run_2d, [dicom])
    assert frame["status"][0] == "scored"
    run = load_run(run_2d)
    pixels = resize_image(read_radiograph(dicom), 16, fit="pad")
    expected = predict_scores(
        run.model, images_to_tensor(pixels[None], n_channels=1, spatial_dims=2), run.task
    )
    np.testing.assert_allclose(frame[list(run.label_names)].to_numpy(), expected, atol=1e-6)
