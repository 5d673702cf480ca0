"""The model card as a reader sees it: intended use, data, training, performance, limitations
(short key/value lists and sentences), with the full configuration kept apart for a collapsed
<details> block instead of pages of raw JSON."""

from __future__ import annotations

import math

import yaml

from radlens.evaluation.evaluate import EvaluationResult, json_ready

#: training-config keys shown in the card (the rest stays in the collapsed configuration)
TRAINING_KEYS = (
    "model",
    "pretrained",
    "dataset",
    "size",
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "weight_decay",
    "loss",
    "augment",
    "seed",
    "device",
    "amp",
)


def _text(value) -> str:
    if value is None:
        return "not available"
    if isinstance(value, float):
        return "not available" if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


def _data_items(card: dict, result: EvaluationResult) -> list[tuple[str, str]]:
    data = card.get("data") or {}
    items = [
        ("dataset", _text(data.get("dataset"))),
        ("task", _text(data.get("task", result.task))),
        ("official release files", _text(data.get("official_data"))),
    ]
    if data.get("note"):
        items.append(("note", _text(data["note"])))
    if data.get("fingerprint"):
        items.append(("fingerprint", _text(data["fingerprint"])))
    labels = list(result.label_names)
    shown = ", ".join(labels[:12]) + (f" … ({len(labels)} in all)" if len(labels) > 12 else "")
    items.append(("outputs (labels)", shown))
    for name, vals in (card.get("splits") or {}).items():
        if isinstance(vals, dict):
            text = ", ".join(
                f"{k.replace('_', ' ')} {_text(v)}"
                for k, v in vals.items()
                if k in ("n_images", "n_patients")
            )
            items.append((f"{name} split", text or _text(vals)))
    return items


def _training_items(card: dict) -> list[tuple[str, str]]:
    config = card.get("training_config")
    if not isinstance(config, dict):
        return [("configuration", _text(config))]
    items = [(k.replace("_", " "), _text(config[k])) for k in TRAINING_KEYS if k in config]
    return items or [("configuration", "see the full configuration below")]


def _performance_items(result: EvaluationResult) -> list[tuple[str, str]]:
    s = result.summary

    def ci(key: str) -> str:
        est, interval = s.get(key), s.get(f"{key}_ci")
        text = _text(est)
        if isinstance(interval, list) and all(isinstance(v, float) for v in interval):
            text += f" (95% CI {interval[0]:.3f}–{interval[1]:.3f})"
        return text

    items = [
        (
            "evaluated on",
            f"{result.split}: {s.get('n_patients')} patients, {s.get('n_images')} images",
        ),
        ("macro AUROC", ci("macro_auroc")),
        ("micro AUROC", ci("micro_auroc")),
        ("AUROC CI method", _text(s.get("ci_method_label"))),
        ("operating point", f"{result.operating_point}; thresholds from {result.threshold_from}"),
        (
            "macro sensitivity / specificity",
            f"{_text(s.get('macro_sensitivity'))} / {_text(s.get('macro_specificity'))}",
        ),
    ]
    if "accuracy" in s:
        items.append(("accuracy", _text(s["accuracy"])))
    if "macro_balanced_accuracy" in s:
        items.append(("macro balanced accuracy", _text(s["macro_balanced_accuracy"])))
    return items


def card_view(card: dict, result: EvaluationResult) -> dict:
    """{"sections": [(title, [(key, value), ...] or [sentence, ...])], "config_yaml": str,
    "other": [(title, text)]} for the report's model-card section."""
    known = {"name", "data", "splits", "training_config", "training_metrics", "intended_use"}
    known |= {"limits"}
    sections = [
        ("Intended use", [_text(card.get("intended_use", "not stated"))]),
        ("Data", _data_items(card, result)),
        ("Training", _training_items(card)),
        ("Performance", _performance_items(result)),
        ("Limits", [_text(x) for x in card.get("limits") or ["none recorded"]]),
    ]
    other = [
        (k.replace("_", " ").capitalize(), _text(v)) for k, v in card.items() if k not in known
    ]
    config = card.get("training_config")
    config_yaml = (
        yaml.safe_dump(json_ready(config), sort_keys=True, default_flow_style=False)
        if isinstance(config, dict)
        else ""
    )
    return {"sections": sections, "config_yaml": config_yaml, "other": other}
