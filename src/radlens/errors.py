"""Project exception families. The CLI prints these as one line and exits with status 2."""


class RadlensError(Exception):
    """Base class of every error radlens reports to a user (bad input, not a bug)."""


class DataError(RadlensError):
    """An input file or dataset is missing, corrupt or not what was expected."""


class ReportError(RadlensError):
    """A report, a report table or a vocabulary cannot be used."""


class ConfigError(RadlensError):
    """A configuration value or command-line option is invalid."""


class ModelError(RadlensError):
    """A model, checkpoint or run directory cannot be built or read."""


class EvaluationError(RadlensError):
    """Predictions and labels cannot be evaluated as asked (mismatch, leakage, empty split)."""


class ServiceError(RadlensError):
    """The web service, its store or the DICOM node cannot do what was asked."""


class NotScorableError(DataError):
    """An image is readable but not what a model may score (e.g. not a chest CT): `.reasons`
    lists every failed check with its measured value and limit."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        self.reasons: list[str] = list(reasons or [])
        text = message if not self.reasons else f"{message}: " + "; ".join(self.reasons)
        super().__init__(text)
