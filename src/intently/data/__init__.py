"""Examples, datasets, import/export, cleaning, validation and splitting."""

from intently.data.clean import CleanResult, Finding, Severity, clean_examples, normalize_text
from intently.data.dataset import Dataset, columns, fingerprint
from intently.data.example import DEFAULT_WEIGHT, Example, Source
from intently.data.io import read_examples, write_examples
from intently.data.split import split_units, stratified_split
from intently.data.validate import ValidationReport, validate_examples

__all__ = [
    "DEFAULT_WEIGHT",
    "CleanResult",
    "Dataset",
    "Example",
    "Finding",
    "Severity",
    "Source",
    "ValidationReport",
    "clean_examples",
    "columns",
    "fingerprint",
    "normalize_text",
    "read_examples",
    "split_units",
    "stratified_split",
    "validate_examples",
    "write_examples",
]
