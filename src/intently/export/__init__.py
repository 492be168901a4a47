"""ONNX export of trained models: graph, int8 quantization and a parity check.

    ExportError (E800)           an export failed or did not answer like the native model
    └── ExportUnsupportedError   the backend has no ONNX export (E801)

onnx and onnxruntime are imported only when an export runs.
"""

from intently.export.onnx_export import (
    INT8_FILE,
    ExportError,
    ExportReport,
    ExportUnsupportedError,
    export_backend,
    export_model,
    supports_onnx,
)
from intently.export.parity import (
    EVALUATION_FILE,
    MIN_AGREEMENT,
    ParityReport,
    PrecisionParity,
    compare,
    read_texts,
    write_labeled_texts,
)

__all__ = [
    "EVALUATION_FILE",
    "INT8_FILE",
    "MIN_AGREEMENT",
    "ExportError",
    "ExportReport",
    "ExportUnsupportedError",
    "ParityReport",
    "PrecisionParity",
    "compare",
    "export_backend",
    "export_model",
    "read_texts",
    "supports_onnx",
    "write_labeled_texts",
]
