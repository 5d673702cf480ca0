"""Learning from image-report pairs: image-text contrastive pretraining (global + local), self-supervised pretraining, zero-shot scoring."""

__all__: list[str] = []
