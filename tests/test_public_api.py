"""Every public ``__all__`` is sorted the way ruff's RUF022 sorts it, and fully importable."""

import importlib

import pytest

PACKAGES = [
    "intently",
    "intently.backends",
    "intently.data",
    "intently.evaluation",
    "intently.generate",
    "intently.registry",
    "intently.runtime",
    "intently.spec",
]


def _isort_style(name: str) -> tuple[int, str]:
    """SCREAMING_CASE constants, then CamelCase classes, then everything else."""
    bare = name.strip("_")
    if len(bare) > 1 and bare.isupper():
        return (0, name)
    if bare[:1].isupper():
        return (1, name)
    return (2, name)


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_unique_and_importable(package):
    module = importlib.import_module(package)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_style)
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert getattr(module, name, None) is not None, f"{package}.{name} is not importable"
    namespace: dict[str, object] = {}
    exec(f"from {package} import *", namespace)  # the star import users would write
    assert set(exported) <= set(namespace)


def test_top_level_api_names():
    import intently

    assert {"Classifier", "Prediction", "train", "load_project", "IntentlyError"} <= set(
        intently.__all__
    )
    assert isinstance(intently.__version__, str)
    for name in ("SpecError", "DataError", "TrainingError", "ModelError", "GateFailure"):
        assert issubclass(getattr(intently, name), intently.IntentlyError)
    assert issubclass(intently.InputError, intently.IntentlyError)
