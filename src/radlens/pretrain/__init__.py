"""Learning from image-report pairs: image-text contrastive pretraining (global + local),
self-supervised pretraining, zero-shot scoring."""

from radlens.pretrain.image import ENCODER_PREFIX, ENCODERS, ImageEncoder, ProjectionHead
from radlens.pretrain.image_text import (
    ImageTextRun,
    PairData,
    load_image_text,
    pretrain_image_text,
)
from radlens.pretrain.loop import PretrainOptions, PretrainResult, make_fabric
from radlens.pretrain.losses import LocalAlignment, LogitScale, info_nce, nt_xent
from radlens.pretrain.model import ImageTextConfig, ImageTextModel
from radlens.pretrain.pairs import Pairs, load_pairs
from radlens.pretrain.region_maps import (
    MAP_METHODS,
    input_to_image,
    load_run_image,
    sentence_embeddings,
    sentence_region_map,
    sentence_region_maps,
)
from radlens.pretrain.ssl import SSLConfig, SSLModel, pretrain_ssl
from radlens.pretrain.text import (
    ASSERTION_CODES,
    TextBatch,
    TextEncoder,
    encode_reports,
    load_tokenizer,
    report_sentences,
    train_tokenizer,
)
from radlens.pretrain.zeroshot import (
    DEFAULT_PROMPTS,
    Prompts,
    ZeroShotResult,
    label_prompts,
    load_prompts,
    zero_shot,
)

__all__ = [
    "ASSERTION_CODES",
    "DEFAULT_PROMPTS",
    "ENCODERS",
    "ENCODER_PREFIX",
    "MAP_METHODS",
    "ImageEncoder",
    "ImageTextConfig",
    "ImageTextModel",
    "ImageTextRun",
    "LocalAlignment",
    "LogitScale",
    "PairData",
    "Pairs",
    "PretrainOptions",
    "PretrainResult",
    "ProjectionHead",
    "Prompts",
    "SSLConfig",
    "SSLModel",
    "TextBatch",
    "TextEncoder",
    "ZeroShotResult",
    "encode_reports",
    "info_nce",
    "input_to_image",
    "label_prompts",
    "load_image_text",
    "load_pairs",
    "load_prompts",
    "load_run_image",
    "load_tokenizer",
    "make_fabric",
    "nt_xent",
    "pretrain_image_text",
    "pretrain_ssl",
    "report_sentences",
    "sentence_embeddings",
    "sentence_region_map",
    "sentence_region_maps",
    "train_tokenizer",
    "zero_shot",
]
