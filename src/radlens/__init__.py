"""radlens: radiology reports and images to explained, honestly evaluated predictions."""

__version__ = "0.1.0"
