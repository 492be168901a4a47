"""Versioned model directories."""

from intently.registry.registry import (
    POINTER_FILE,
    Comparison,
    Pointer,
    Registry,
    Switch,
    VersionDiff,
    VersionInfo,
    check_name,
)
from intently.registry.store import (
    LABELS_FILE,
    METADATA_FILE,
    ModelVersion,
    Status,
    latest_version,
    library_versions,
    list_versions,
    new_version_id,
    read_version,
    write_version,
)

__all__ = [
    "LABELS_FILE",
    "METADATA_FILE",
    "POINTER_FILE",
    "Comparison",
    "ModelVersion",
    "Pointer",
    "Registry",
    "Status",
    "Switch",
    "VersionDiff",
    "VersionInfo",
    "check_name",
    "latest_version",
    "library_versions",
    "list_versions",
    "new_version_id",
    "read_version",
    "write_version",
]
