"""Zero-shot scoring: prompts from the vocabulary and YAML templates (clear errors), and a tiny
image–text run that beats chance on its test split."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _support.pretrain_cohort import make_pair_cohort
from sklearn.metrics import roc_auc_score

from radlens.core import PREDICTIONS, read_predictions
from radlens.errors import ConfigError
from radlens.phantom import CXR_OBSERVATIONS
from radlens.pretrain import (
    DEFAULT_PROMPTS,
    ImageTextConfig,
    PairData,
    PretrainOptions,
    label_prompts,
    load_prompts,
    pretrain_image_text,
    zero_shot,
)
from radlens.pretrain.zeroshot import Prompts, margin_scores, side_margins, unread_prompts
from radlens.reports import load_vocabulary

TINY = ImageTextConfig(
    model="resnet_mini", text_width=32, text_layers=1, embed_dim=32, max_len=48, top_k=4
)


def test_default_prompts_and_label_prompts() -> None:
    prompts = load_prompts()
    assert load_prompts(DEFAULT_PROMPTS) == prompts
    vocab = load_vocabulary("chest_xr")
    pos, neg = label_prompts("pleural_effusion", vocab, prompts)
    assert "pleural effusion" in pos and "no pleural effusion" in neg
    pos, neg = label_prompts("pleural_effusion@left_pleura", vocab, prompts)
    assert "left pleura pleural effusion" in pos and "no pleural effusion" in neg
    # report-style phrases of the YAML replace the vocabulary's name and synonym
    pos, neg = label_prompts("cardiomegaly", vocab, prompts)
    assert "enlarged cardiac silhouette" in pos and "no enlarged cardiac silhouette" in neg
    pos, _ = label_prompts("pneumothorax", vocab, prompts)
    assert pos == ["pneumothorax", "there is pneumothorax", "pneumothorax is present"]
    with pytest.raises(ConfigError, match="did you mean 'pneumothorax'"):
        label_prompts("pneumothorx", vocab, prompts)
    with pytest.raises(ConfigError, match="location of label"):
        label_prompts("pneumothorax@nowhere", vocab, prompts)
    # a CT cohort's truth column under the default radiograph vocabulary: name the way out
    with pytest.raises(ConfigError, match=r"chest_ct vocabulary has it \(--vocab chest_ct\)"):
        label_prompts("nodule", vocab, prompts)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("positive: ['{finding}']\n", r"key 'negative': expected a list of strings"),
        ("positive: '{finding}'\nnegative: ['no {finding}']\n", r"key 'positive': expected"),
        ("positive: ['a finding']\nnegative: ['no {finding}']\n", r"item 'a finding'"),
        (
            "positive: ['{finding}']\nnegative: ['no {finding}']\nlocated: ['{finding}']\n",
            r"key 'located'.*\{finding\} and \{location\}",
        ),
        ("positive: ['{finding}']\nnegative: ['no {finding}']\nnegatve: []\n", "did you mean"),
        ("positive: ['{finding} {0}']\nnegative: ['no {finding}']\n", "bad placeholder"),
        (
            "positive: ['{finding}']\nnegative: ['no {finding}']\nphrases: [a]\n",
            r"key 'phrases': expected a mapping",
        ),
        (
            "positive: ['{finding}']\nnegative: ['no {finding}']\nphrases: {edema: []}\n",
            r"'edema': \[\]; expected a mapping of finding id",
        ),
        ("- just a list\n", "expected a mapping"),
        ("positive: [unclosed\n", "not valid YAML"),
    ],
)
def test_prompt_yaml_errors_name_file_key_and_expectation(tmp_path, text, message) -> None:
    path = tmp_path / "prompts.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_prompts(path)
    assert str(path) in str(err.value)
    with pytest.raises(ConfigError, match="no such file"):
        load_prompts(tmp_path / "none.yaml")


def test_zero_shot_beats_chance_on_a_tiny_cohort(tmp_path) -> None:
    cohort = make_pair_cohort(tmp_path / "cohort", n=96, size=32, seed=1)
    options = PretrainOptions(epochs=8, batch_size=16, lr=3e-3, device="cpu",
                              precision="32-true", threads=1)  # fmt: skip
    pretrain_image_text(cohort, tmp_path / "run", data=PairData("image", size=32), model=TINY,
                        options=options, vocab_size=150)  # fmt: skip
    res = zero_shot(tmp_path / "run", cohort, tmp_path / "zs", split="test")
    assert res.labels == ("consolidation", "cardiomegaly") and res.n_images == 24
    frame = read_predictions(tmp_path / "zs" / PREDICTIONS)
    assert frame.attrs["radlens"]["label_names"] == ["consolidation", "cardiomegaly"]
    aucs = [roc_auc_score(frame[f"target:{n}"], frame[f"score:{n}"]) for n in res.labels]
    assert np.mean(aucs) > 0.6, aucs  # chance 0.5; 24 test images
    assert json.loads((tmp_path / "zs" / "zeroshot.json").read_text())["unread_prompts"] == []
    # targets from the labeler when the cohort has no truth column for the finding
    res = zero_shot(tmp_path / "run", cohort, tmp_path / "zs2", findings=["pneumothorax"])
    labels = read_predictions(tmp_path / "zs2" / PREDICTIONS)["target:pneumothorax"]
    assert set(labels.dropna()) <= {0.0, 1.0}


def test_scores_keep_the_ranking_of_large_margins() -> None:
    """Margins of 20 and 30 logits: a float32 softmax gives 1.0 to both (a tie); the scores
    must still rank the larger margin higher, and equal the two-way softmax on small ones."""
    pos, neg = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    sides = torch.stack([pos, neg])[None]  # one label: (1, 2, D)
    images = torch.tensor([[0.6, 0.4], [0.65, 0.35], [0.501, 0.499]])
    scores = margin_scores(side_margins(images, sides, torch.tensor(100.0)))
    assert scores.shape == (3, 1) and scores.dtype == np.float64
    assert scores[0, 0] < scores[1, 0] < 1.0
    assert scores[2, 0] == pytest.approx(1 / (1 + np.exp(-0.2)), rel=1e-5)
    f32 = (torch.einsum("nd,lsd->nls", images, sides) * 100).softmax(-1)[..., 0]
    assert f32[0, 0] == f32[1, 0] == 1.0  # what the float64 softmax avoids


def test_local_and_both_similarities(tmp_path) -> None:
    """Similarity "both" adds the global and the local margins: logit(both) = logit(global) +
    logit(local); a run without the local branch refuses local scoring with the flag to use."""
    cohort = make_pair_cohort(tmp_path / "cohort", n=48, size=32, seed=2)
    options = PretrainOptions(epochs=2, batch_size=16, lr=3e-3, device="cpu",
                              precision="32-true", threads=1)  # fmt: skip
    pretrain_image_text(cohort, tmp_path / "run", data=PairData("image", size=32), model=TINY,
                        options=options, vocab_size=150)  # fmt: skip
    logits = {}
    for sim in ("global", "local", "both"):
        zero_shot(tmp_path / "run", cohort, tmp_path / sim, split="test", similarity=sim)
        frame = read_predictions(tmp_path / sim / PREDICTIONS)
        p = frame[[c for c in frame.columns if c.startswith("score:")]].to_numpy(float)
        assert ((p > 0) & (p < 1)).all()
        logits[sim] = np.log(p) - np.log1p(-p)
    np.testing.assert_allclose(logits["both"], logits["global"] + logits["local"], atol=1e-6)
    assert not np.allclose(logits["local"], logits["global"])
    with pytest.raises(ConfigError, match="--similarity"):
        zero_shot(tmp_path / "run", cohort, tmp_path / "bad", similarity="regional")
    zero_shot(tmp_path / "run", cohort, tmp_path / "on_cpu", split="test", device="cpu")
    again = read_predictions(tmp_path / "on_cpu" / PREDICTIONS)
    assert np.allclose(again.filter(like="score:").to_numpy(float),
                       1 / (1 + np.exp(-logits["both"])))  # fmt: skip
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="--device cuda: no CUDA GPU"):
            zero_shot(tmp_path / "run", cohort, tmp_path / "bad", device="cuda")
    glob = ImageTextConfig(**{**TINY.to_dict(), "local": False})
    pretrain_image_text(cohort, tmp_path / "g", data=PairData("image", size=32), model=glob,
                        options=PretrainOptions(**{**options.__dict__, "epochs": 1}),
                        vocab_size=150)  # fmt: skip
    with pytest.raises(ConfigError, match=r"needs the local branch.*--no-local"):
        zero_shot(tmp_path / "g", cohort, tmp_path / "g_zs", similarity="both")


def test_positive_score_is_the_sigmoid_runs_own_pair_probability(tmp_path) -> None:
    """A sigmoid-loss run scores "auto" = "positive": P = sigmoid(scale * image . positive side
    + bias), computed here by hand from the run's embeddings; "margin" is CLIP's two-way softmax
    of the positive against the negative side; an InfoNCE run has no pair bias, so "auto" is the
    margin there and "positive" on its global similarity is refused with the way out."""
    from radlens.pretrain import load_image_text
    from radlens.pretrain.zeroshot import _side
    from radlens.training import normalise

    cohort = make_pair_cohort(tmp_path / "cohort", n=32, size=32, seed=3)
    options = PretrainOptions(epochs=1, batch_size=16, lr=3e-3, device="cpu",
                              precision="32-true", threads=1)  # fmt: skip
    pretrain_image_text(cohort, tmp_path / "run", data=PairData("image", size=32), model=TINY,
                        options=options, vocab_size=150)  # fmt: skip
    run = load_image_text(tmp_path / "run")
    bias = float(run.model.bias.detach())
    assert abs(bias) > 1e-4  # trained away from 0, so leaving it out would show
    res = zero_shot(tmp_path / "run", cohort, tmp_path / "auto", split="test",
                    similarity="global")  # fmt: skip
    assert res.score == "positive"
    pairs = run.data.load(cohort)
    rows = pairs.rows("test")
    vocab, prompts = load_vocabulary("chest_xr"), load_prompts()
    with torch.no_grad():
        img = run.model.embed_images(normalise(torch.as_tensor(pairs.images[rows])))
    frame = read_predictions(tmp_path / "auto" / PREDICTIONS)
    for name in res.labels:
        pos, neg = label_prompts(name, vocab, prompts)
        p, n = _side(run, pos), _side(run, neg)
        scale = float(run.model.scale().detach())
        want = 1 / (1 + np.exp(-(scale * (img @ p).double().numpy() + bias)))
        np.testing.assert_allclose(frame[f"score:{name}"], want, rtol=1e-5)
        zero_shot(tmp_path / "run", cohort, tmp_path / "m", split="test", similarity="global",
                  score="margin")  # fmt: skip
        margin = read_predictions(tmp_path / "m" / PREDICTIONS)[f"score:{name}"]
        want = 1 / (1 + np.exp(-scale * (img @ (p - n)).double().numpy()))
        np.testing.assert_allclose(margin, want, rtol=1e-5)
    with pytest.raises(ConfigError, match="--score"):
        zero_shot(tmp_path / "run", cohort, tmp_path / "bad", score="negative")
    infonce = ImageTextConfig(**{**TINY.to_dict(), "global_loss": "infonce"})
    pretrain_image_text(cohort, tmp_path / "nce", data=PairData("image", size=32), model=infonce,
                        options=options, vocab_size=150)  # fmt: skip
    assert zero_shot(tmp_path / "nce", cohort, tmp_path / "nce_zs").score == "margin"
    with pytest.raises(ConfigError, match=r"--score positive needs .*--global-loss sigmoid"):
        zero_shot(tmp_path / "nce", cohort, tmp_path / "bad", score="positive")
    local = zero_shot(tmp_path / "nce", cohort, tmp_path / "nce_l", similarity="local",
                      score="positive")  # fmt: skip
    assert local.score == "positive"


def test_prompts_the_run_vocabulary_does_not_read_are_named() -> None:
    """A marked run encodes prompts with its labeler's marks: a positive prompt the labeler does
    not read as a present finding (or a negative one not read as absent) is named."""
    vocab, prompts = load_vocabulary("chest_xr"), load_prompts()
    labels = [o for o in CXR_OBSERVATIONS if o != "no_finding"] + ["pleural_effusion@left_lung"]
    pos_neg = [label_prompts(n, vocab, prompts) for n in labels]
    assert unread_prompts(labels, pos_neg, "chest_xr") == []  # the packaged prompts all read
    odd = Prompts(positive=("{finding}", "possible {finding}"), negative=("{finding} seen",),
                  located=(), phrases={"pneumothorax": ["pneumothorax"]})  # fmt: skip
    pair = [label_prompts("pneumothorax", vocab, odd)]
    assert unread_prompts(["pneumothorax"], pair, "chest_xr") == [
        "pneumothorax: 'possible pneumothorax' (no mention read as present)",
        "pneumothorax: 'pneumothorax seen' (no mention read as absent)",
    ]
    assert unread_prompts(["pneumothorax"], pair, None) == []  # a run without marks
