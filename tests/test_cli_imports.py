"""The CLI starts light: importing it, and `intently --help`, load no heavy library; the
choices it copies to stay light equal the library's."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("sqlalchemy", "pydantic", "numpy", "onnxruntime", "sklearn", "torch", "yaml", "rich")


def _loaded_after(code: str) -> list[str]:
    probe = (
        f"import sys\n{code}\n"
        "import json\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_cli_loads_no_heavy_library():
    assert _loaded_after("import intently.cli") == []


def test_help_loads_no_heavy_library():
    help_code = (
        "from intently.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n    pass"
    )
    assert _loaded_after(help_code.format(args=["--help"])) == []
    # A subcommand's parameters are coerced by typer, which uses pydantic since typer 0.2x.
    assert _loaded_after(help_code.format(args=["predict", "--help"])) in ([], ["pydantic"])


def test_copied_choices_equal_the_library():
    from intently.cli import _app, export, keys, predict
    from intently.data.io import TEXT_FORMATS
    from intently.db import Role
    from intently.export.parity import MIN_AGREEMENT
    from intently.predict_file import BATCH_SIZE, OUTPUT_FORMATS
    from intently.runtime.classifier import RUNTIMES
    from intently.runtime.onnx_model import PRECISIONS
    from intently.spec import DEFAULT_PROJECT_FILE, DEFAULT_TASK

    assert (_app.DEFAULT_PROJECT_FILE, _app.DEFAULT_TASK) == (DEFAULT_PROJECT_FILE, DEFAULT_TASK)
    assert export.MIN_AGREEMENT == MIN_AGREEMENT
    assert [c.value for c in keys.RoleChoice] == [r.value for r in Role]
    assert tuple(predict.Runtime) == RUNTIMES
    assert tuple(predict.Precision) == ("auto", *PRECISIONS)
    assert tuple(predict.InputFormat) == TEXT_FORMATS
    assert tuple(predict.OutputFormat) == OUTPUT_FORMATS
    assert predict.BATCH_SIZE == BATCH_SIZE
