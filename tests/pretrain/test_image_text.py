"""Image–text pretraining on a tiny synthetic cohort: the loss falls, resume continues, bad rows
are listed in one error, the checkpoint rebuilds the model."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from _support.pretrain_cohort import make_pair_cohort

from radlens.core import CHECKPOINT, LAST
from radlens.errors import ConfigError, DataError, ModelError, ReportError
from radlens.models import Task, build_model
from radlens.pretrain import (
    ImageTextConfig,
    ImageTextModel,
    PairData,
    PretrainOptions,
    encode_reports,
    load_image_text,
    load_pairs,
    load_tokenizer,
    pretrain_image_text,
    train_tokenizer,
)
from radlens.pretrain.image_text import RUN_VOCAB, pretrain_meta
from radlens.reports.vocabulary import VOCAB_DIR
from radlens.training.init import init_weights

TINY = ImageTextConfig(model="resnet_mini", text_width=32, text_layers=1, embed_dim=32, max_len=48,
                       top_k=4)  # fmt: skip


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_pair_cohort(tmp_path_factory.mktemp("pairs") / "cohort", n=32, size=32)


def test_tiny_pretrain_lowers_the_loss_and_resumes(cohort, tmp_path, caplog) -> None:
    opts = PretrainOptions(
        epochs=3, batch_size=12, lr=3e-3, device="cpu", precision="bf16-mixed", threads=1
    )
    run = tmp_path / "run"
    with caplog.at_level("INFO", logger="radlens.pretrain.loop"):
        first = pretrain_image_text(cohort, run, data=PairData("image", size=32), model=TINY,
                                    options=opts, vocab_size=150)  # fmt: skip
    # the epoch log shows the losses, not the checkpoint ranking key (-loss) as a "val_auc"
    assert "epoch 3/3" in caplog.text and "train_loss" in caplog.text
    assert "val_auc" not in caplog.text
    losses = [h["train_loss"] for h in first.history]
    assert losses[-1] < losses[0]
    assert {"train_global", "train_local"} <= first.history[0].keys()
    assert (run / CHECKPOINT).is_file() and (run / LAST).is_file()
    assert json.loads((run / "pretrain.json").read_text())["pairs_per_s"] > 0
    with pytest.raises(ConfigError, match="already holds a run"):
        pretrain_image_text(cohort, run, data=PairData("image", size=32), model=TINY, options=opts)
    more = PretrainOptions(**{**opts.__dict__, "epochs": 4, "resume": True})
    again = pretrain_image_text(cohort, run, data=PairData("image", size=32), model=TINY,
                                options=more)  # fmt: skip
    assert [h["epoch"] for h in again.history] == [1, 2, 3, 4]
    assert again.history[:3] == first.history
    loaded = load_image_text(run)
    assert loaded.data.size == 32 and loaded.model.config.local
    emb = loaded.model.embed_images(torch.zeros(2, 1, 32, 32))
    assert emb.shape == (2, 32) and torch.allclose(emb.norm(dim=-1), torch.ones(2), atol=1e-4)


def test_same_seed_same_run(cohort, tmp_path) -> None:
    """Two runs with one seed give identical tokenizers, losses and weights (the tokenizer's
    vocabulary used to depend on hash order, so same-seed runs differed)."""
    opts = PretrainOptions(epochs=2, batch_size=12, lr=3e-3, seed=5, device="cpu",
                           precision="32-true", threads=1)  # fmt: skip
    runs = [pretrain_image_text(cohort, tmp_path / name, data=PairData("image", size=32),
                                model=TINY, options=opts, vocab_size=150)
            for name in ("a", "b")]  # fmt: skip
    assert runs[0].history[0]["train_loss"] > 0
    strip = [[{k: v for k, v in h.items() if k != "lr"} for h in r.history] for r in runs]
    assert strip[0] == strip[1]
    tokens = [(tmp_path / n / "tokenizer.json").read_text() for n in ("a", "b")]
    assert tokens[0] == tokens[1]
    weights = [torch.load(tmp_path / n / CHECKPOINT, weights_only=True)["model"] for n in "ab"]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    # train_tokenizer by hand: specials, characters, continuation characters, words by count
    vocab = train_tokenizer(["b a a", "c a"], vocab_size=100).get_vocab()
    order = sorted(vocab, key=vocab.get)
    assert order[5:] == ["a", "b", "c", "##a", "##b", "##c"]  # every word is a character
    vocab = train_tokenizer(["bb aa aa", "cc aa bb"], vocab_size=100).get_vocab()
    order = sorted(vocab, key=vocab.get)
    assert order[-3:] == ["aa", "bb", "cc"]  # counts 3, 2, 1 (ties alphabetical)
    small = train_tokenizer(["bb aa aa", "cc aa bb"], vocab_size=12).get_vocab()
    assert "aa" in small and "bb" not in small  # the vocabulary stops at vocab_size


def test_global_only_builds_no_local_layers(cohort, tmp_path) -> None:
    cfg = ImageTextConfig(**{**TINY.to_dict(), "local": False})
    opts = PretrainOptions(epochs=1, batch_size=12, device="cpu", precision="32-true", threads=1)
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "r.txt").write_text("Pneumomediastinum pneumomediastinum.")
    res = pretrain_image_text(cohort, tmp_path / "g", data=PairData("image", size=32), model=cfg,
                              options=opts, vocab_size=150, corpus=tmp_path / "corpus")  # fmt: skip
    assert "train_local" not in res.history[0]
    # the corpus joined the tokenizer's training text
    assert "pneumomediastinum" in load_tokenizer(tmp_path / "g" / "tokenizer.json").get_vocab()
    state = torch.load(tmp_path / "g" / CHECKPOINT, weights_only=True)["model"]
    assert not any(k.startswith(("local.", "region_proj", "sentence_proj")) for k in state)


def test_every_bad_row_is_listed_in_one_error(cohort, tmp_path) -> None:
    table = pd.read_csv(cohort / "cohort.csv")
    table.loc[2, "image"] = "missing.png"
    table.loc[5, "report_text"] = "   "
    table.loc[7, "image"] = ""
    table.to_csv(cohort / "bad.csv", index=False)
    with pytest.raises(DataError) as err:
        load_pairs(cohort / "bad.csv", image_column="image", size=32)
    text = str(err.value)
    assert "3 of 32 rows" in text
    assert "row 2: image" in text and "missing.png not found" in text
    assert "row 5: empty report" in text and "row 7: no image path" in text
    with pytest.raises(DataError, match="did you mean 'image'"):
        load_pairs(cohort / "bad.csv", image_column="imag", size=32)


@pytest.mark.parametrize("name", ["resnet18", "resnet_mini"])
def test_init_loads_the_image_backbone_of_an_image_text_checkpoint(tmp_path, name) -> None:
    cfg = ImageTextConfig(model=name, text_width=32, text_layers=1, embed_dim=32)
    model = ImageTextModel(cfg)
    meta = pretrain_meta("image-text", cfg.to_dict(), {})
    torch.save({**meta, "model": model.state_dict()}, tmp_path / CHECKPOINT)
    net = build_model(name, spatial_dims=2, in_channels=1, num_outputs=3)  # radlens train's
    report = init_weights(str(tmp_path), net, Task("multi-label", ("a", "b", "c")), name)
    assert report["loaded_tensors"] == len(net.state_dict()) - 2
    assert report["new_labels"] == ["a", "b", "c"] and report["dropped_labels"] == []
    for key, value in net.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(value, model.state_dict()[f"image.net.{key}"]), key
    with pytest.raises(ConfigError, match=f"source model is '{name}'"):
        init_weights(str(tmp_path), net, Task("multi-label", ("a",)), "densenet121")


def test_3d_nifti_pairs_pretrain(tmp_path) -> None:
    nib = pytest.importorskip("nibabel")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(6):
        vol = rng.normal(-800, 50, (16, 16, 16)).astype(np.float32)
        if i % 2:
            vol[4:10, 4:10, 4:10] = 40.0  # a soft-tissue mass
        nib.Nifti1Image(vol, np.diag([2.0, 2.0, 2.0, 1.0])).to_filename(tmp_path / f"v{i}.nii.gz")
        text = "FINDINGS: Right upper lobe mass." if i % 2 else "FINDINGS: Lungs are clear."
        rows.append({"patient_id": f"p{i}", "study_id": f"s{i}", "nifti_path": f"v{i}.nii.gz",
                     "report_text": text, "split": "train"})  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "cohort.csv", index=False)
    data = PairData("nifti_path", shape=(16, 16, 16), window="lung")
    pairs = data.load(tmp_path)
    assert pairs.spatial_dims == 3 and tuple(pairs.images.shape) == (6, 1, 16, 16, 16)
    assert float(pairs.images.min()) >= 0.0 and float(pairs.images.max()) <= 1.0
    opts = PretrainOptions(epochs=1, batch_size=6, device="cpu", precision="32-true", threads=1)
    res = pretrain_image_text(tmp_path, tmp_path / "run", data=data, model=TINY, options=opts,
                              vocab_size=100)  # fmt: skip
    assert np.isfinite(res.history[0]["train_local"])
    assert load_image_text(tmp_path / "run").model.config.spatial_dims == 3


def test_marks_are_on_by_default_and_older_runs_load_without_them(cohort, tmp_path) -> None:
    opts = PretrainOptions(epochs=1, batch_size=12, device="cpu", precision="32-true", threads=1)
    pretrain_image_text(cohort, tmp_path / "m", data=PairData("image", size=32), model=TINY,
                        options=opts, vocab_size=150)  # fmt: skip
    file = tmp_path / "m" / CHECKPOINT
    ckpt = torch.load(file, weights_only=True)
    assert ckpt["config"]["assertion_marks"] and "text.assertion.weight" in ckpt["model"]
    assert load_image_text(tmp_path / "m").model.config.assertion_vocab == "chest_xr"
    # a checkpoint written before assertion marks existed: no key, no embedding
    del ckpt["config"]["assertion_marks"], ckpt["model"]["text.assertion.weight"]
    torch.save(ckpt, file)
    old = load_image_text(tmp_path / "m").model
    assert old.config.assertion_vocab is None and old.text.assertion is None


def test_a_user_vocabulary_file_travels_with_the_run(cohort, tmp_path) -> None:
    """--negation-vocab FILE: the run keeps its own copy, so it marks texts the same way after the
    file is gone and the run has moved; a missing file is a clear error before training."""
    mine = tmp_path / "my_vocab.yaml"
    shutil.copyfile(VOCAB_DIR / "chest_xr.yaml", mine)
    cfg = ImageTextConfig(**{**TINY.to_dict(), "negation_vocab": str(mine)})
    opts = PretrainOptions(epochs=1, batch_size=12, device="cpu", precision="32-true", threads=1)
    with pytest.raises(ReportError, match=r"vocabulary file .*missing.yaml not found"):
        pretrain_image_text(cohort, tmp_path / "bad", data=PairData("image", size=32),
                            model=replace(cfg, negation_vocab=str(tmp_path / "missing.yaml")),
                            options=opts, vocab_size=150)  # fmt: skip
    pretrain_image_text(cohort, tmp_path / "run", data=PairData("image", size=32), model=cfg,
                        options=opts, vocab_size=150)  # fmt: skip
    assert torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)["config"][
        "negation_vocab"] == RUN_VOCAB  # fmt: skip
    mine.unlink()
    moved = tmp_path / "elsewhere" / "run"
    shutil.move(tmp_path / "run", moved)
    run = load_image_text(moved)
    assert run.model.config.negation_vocab == str((moved / RUN_VOCAB).resolve())
    texts = ["No pneumothorax.", "Left pneumothorax."]
    ours = encode_reports(run.tokenizer, texts, assertions=run.model.config.assertion_vocab)
    packaged = encode_reports(run.tokenizer, texts, assertions="chest_xr")
    assert torch.equal(ours.status, packaged.status) and ours.status.any()
    with torch.no_grad():
        assert run.model.embed_texts(ours).shape == (2, TINY.embed_dim)
    (moved / RUN_VOCAB).unlink()
    with pytest.raises(ModelError, match=f"no {RUN_VOCAB}"):
        load_image_text(moved)


def test_a_local_branch_with_too_few_regions_is_warned_about(cohort, tmp_path, caplog) -> None:
    """resnet18 with its ImageNet stem maps a 96 px image to 3 x 3 cells; less the border ring
    the local branch sees one region: alignment cannot localise anything, so say so."""
    coarse = ImageTextModel(ImageTextConfig(model="resnet18", small_input=False, vocab_size=50))
    assert coarse.kept_regions((1, 96, 96)) == 1
    fine = ImageTextModel(ImageTextConfig(model="resnet_mini", small_input=False, vocab_size=50))
    assert fine.kept_regions((1, 128, 128)) == 36  # 8 x 8 less the ring
    cfg = ImageTextConfig(**{**TINY.to_dict(), "model": "resnet18", "small_input": False})
    opts = PretrainOptions(epochs=1, batch_size=12, device="cpu", precision="32-true", threads=1)
    with caplog.at_level("WARNING", logger="radlens.pretrain.image_text"):
        pretrain_image_text(cohort, tmp_path / "r", data=PairData("image", size=32), model=cfg,
                            options=opts, vocab_size=150)  # fmt: skip
    assert "the local branch sees 1 region(s) per image" in caplog.text


def test_semantic_sigmoid_sentence_local_recipe_learns_and_reloads(cohort, tmp_path) -> None:
    """Positives by meaning (located for the local loss), SigLIP's pairwise global loss, the
    sentence-level local loss on the backbone's stage-3 map, no augmentation."""
    cfg = replace(TINY, semantic_positives=True, local_sentences=True, global_loss="sigmoid",
                  temperature=0.1, local_stage=3, augment=False)  # fmt: skip
    opts = PretrainOptions(epochs=4, batch_size=12, lr=3e-3, device="cpu", threads=1)
    result = pretrain_image_text(cohort, tmp_path / "run", data=PairData("image", size=32),
                                 model=cfg, options=opts, vocab_size=150)  # fmt: skip
    for key in ("train_global", "train_local"):
        values = [h[key] for h in result.history]
        assert np.isfinite(values).all() and values[-1] < values[0], (key, values)
    run = load_image_text(tmp_path / "run")
    assert run.model.config.local_stage == 3 and run.model.config.global_loss == "sigmoid"
    # the local branch reads the stage-3 map: twice the resolution of the last stage
    local, last = run.model.image._stages(torch.zeros(1, 1, 32, 32))
    assert local.shape[-1] == 2 * last.shape[-1] and local.shape[1] == last.shape[1] // 2


def test_bad_recipe_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="--global-loss 'softmax'"):
        ImageTextModel(replace(TINY, global_loss="softmax", vocab_size=50))
    with pytest.raises(ModelError, match="--local-stage 3: expected 4, or 3 with a ResNet"):
        ImageTextModel(replace(TINY, model="densenet121", local_stage=3, vocab_size=50))
