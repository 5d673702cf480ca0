"""Negation hard negatives for image–text pretraining (NegCLIP's idea, built from the report text
only, no labels).

Most normal radiograph reports say "No pneumothorax.", so a text encoder trained only to tell one
report's sentences from another's can put "pneumothorax" on top of "no pneumothorax", and a
zero-shot score (a softmax between the two) is then chance. `counterpart` turns a report
sentence into the sentence that says the opposite, by rule from the labeler's reading of it
(`radlens.reports.label`: which findings it names, whether present or absent, and the negation
cue): a denied finding is affirmed (the leading cue dropped: "No evidence of pneumothorax." ->
"Pneumothorax."; "There is no effusion." -> "There is effusion."; else the finding's name:
"Heart size is normal." -> "Cardiomegaly."), an affirmed one is denied ("There is a small
pleural effusion." -> "There is no small pleural effusion."; else "No " + the names:
"The cardiac silhouette is enlarged." -> "No cardiomegaly."). A sentence naming no finding, an
uncertain one, or findings both present and absent has no counterpart (None); nor has the
vocabulary's "no finding" (it is no finding to negate).

`hard_pairs` gives each sentence's (positive, hard negative) text pairs: the sentence against its
counterpart, and the same finding(s) in canonical words ("Pneumothorax." / "No pneumothorax.")
the right way round. The canonical pair matters: a rule-made counterpart such as "Pneumothorax."
never occurs in a report, so the first pair alone can be won from the text side only (push the
never-positive phrasing away from every image; measured: the loss fell to 0.001 within two
epochs and zero-shot did not improve); in the canonical pairs each phrase is the positive for
some images and the negative for others, so only the image can tell them apart.

`hard_negative_loss` then asks each image to prefer the positive of each of its pairs:
-log(sigmoid(l_pos - l_neg)), i.e. the zero-shot softmax between the two, averaged over every
pair of the global batch (gathered across ranks).
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from radlens.pretrain.losses import gather_batch
from radlens.reports import label

__all__ = ["counterpart", "hard_negative_loss", "hard_pairs"]

#: leading negation cues that are dropped to affirm a sentence (lower case)
_LEADING = ("no evidence of", "negative for", "without", "no")
_THERE = re.compile(r"^(there (?:is|are))\s+(?:an?\s+)?", re.IGNORECASE)


def _capital(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:]


def _names(findings) -> list[str]:
    out: list[str] = []
    for f in findings:
        name = f.abnormality.replace("_", " ")
        if name not in out:
            out.append(name)
    return out


def _affirm(sentence: str, findings) -> str:
    first = min(f.span[0] for f in findings)
    cues = {c.lower() for f in findings for c in f.cues}
    head = sentence[:first].lower()
    for cue in _LEADING:
        at = head.rfind(cue)
        if cue in cues and at >= 0 and head[at:].strip() == cue:
            return _capital(sentence[:at] + sentence[first:])
    return _capital(" and ".join(_names(findings))) + "."


def _deny(sentence: str, findings) -> str:
    there = _THERE.match(sentence)
    if there:
        return _capital(f"{there.group(1)} no {sentence[there.end() :]}")
    return "No " + " or ".join(_names(findings)) + "."


def _read(sentence: str, vocab: str):
    """The sentence's findings (no "no finding") and their one status, or None."""
    findings = [f for f in label(sentence, vocab) if f.abnormality != "no_finding"]
    status = {f.status for f in findings}
    if len(status) != 1 or status == {"uncertain"}:
        return None
    return findings, status.pop()


def counterpart(sentence: str, vocab: str = "chest_xr") -> str | None:
    """The sentence saying the opposite of `sentence` about the findings it names (see the module
    docstring), or None when it names none, is uncertain, or mixes present and absent."""
    read = _read(sentence, vocab)
    if read is None:
        return None
    findings, status = read
    return _affirm(sentence, findings) if status == "absent" else _deny(sentence, findings)


def hard_pairs(sentence: str, vocab: str = "chest_xr") -> list[tuple[str, str]]:
    """(positive, hard negative) texts for an image whose report holds `sentence`: the sentence
    against its `counterpart`, then the canonical "X." / "No X." pair the right way round (left
    out when it repeats the first); none when the sentence has no counterpart."""
    read = _read(sentence, vocab)
    if read is None:
        return []
    findings, status = read
    yes = _capital(" and ".join(_names(findings))) + "."
    no = "No " + " or ".join(_names(findings)) + "."
    canon = (no, yes) if status == "absent" else (yes, no)
    first = (sentence, counterpart(sentence, vocab))
    same = [_key(t) for t in first] == [_key(t) for t in canon]
    return [first] if same else [first, canon]


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower()).strip().rstrip(".").strip()


def hard_negative_loss(
    images: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, owner: torch.Tensor,
    scale: torch.Tensor,
) -> torch.Tensor:  # fmt: skip
    """Mean over the global batch's pairs of softplus(l_neg - l_pos) = -log sigmoid(l_pos -
    l_neg), with l_pos = scale * images[owner] . positives and l_neg = scale * images[owner] .
    negatives (H pairs on this rank: `owner` (H,) indices into this rank's images (B, D);
    `positives`, `negatives` (H, D) embeddings). Every rank calls it (gathering is collective),
    with H = 0 where it holds no pair."""
    img = images[owner]
    margin = (img * (negatives - positives)).sum(-1)
    per = gather_batch(F.softplus(margin * scale))
    if per.numel() == 0:
        return images.sum() * 0.0
    return per.mean()
