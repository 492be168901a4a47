"""`intently review`: the review queue in the terminal, lowest confidence first.

Each recorded answer shows its text, what the model answered and a numbered list of labels
(the model's ranking first, then the task's other labels). Keys:

    1..9    the right label is number N (the model's own answer approves it)
    #       type a label's number (10 and above) and Enter
    a       approve: the answer was right
    s       skip: take it out of the queue without a label
    n       propose a new label (typed, then Enter)
    q       quit (what was reviewed is saved as you go)

In a terminal each key acts at once; from a pipe, input is read line by line (one key or
number per line), so a session can be scripted or tested by feeding it:
``printf '1\\na\\nq\\n' | intently review``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from intently.cli._app import DEFAULT_PROJECT_FILE, ProjectOption, app, escape, out
from intently.cli.db import interaction_store, project_registry
from intently.cli.keys import DatabaseUrlOption

if TYPE_CHECKING:
    from intently.db import InteractionRecord, InteractionStore

KEYS_HELP = "1-9: label · #: label number · a: approve · s: skip · n: new label · q: quit"


def choices_for(record: InteractionRecord, labels: set[str]) -> list[str]:
    """The numbered labels: the model's ranking first, then the others alphabetically."""
    ranked = [label for label, _ in record.ranking]
    return ranked + sorted(labels - set(ranked))


def show(record: InteractionRecord, choices: list[str], position: int) -> None:
    console = out()
    when = record.created_at.strftime("%Y-%m-%d %H:%M")
    fallback = " (fallback)" if record.fallback else ""
    console.print(
        f"\n[bold]#{position}[/] {record.task} · answered [bold]{escape(record.label)}[/]"
        f"{fallback} at {record.confidence:.2f} · {record.model_version} · {when}",
        highlight=False,
    )
    console.print(f"  [cyan]{escape(record.text)}[/]", highlight=False)
    scores = dict(record.ranking)
    for number, label in enumerate(choices, start=1):
        score = f" {scores[label]:.2f}" if label in scores else ""
        console.print(f"  {number:>2} {escape(label)}{score}", highlight=False)
    console.print(f"  [dim]{KEYS_HELP}[/]", highlight=False)


def review_one(
    store: InteractionStore,
    record: InteractionRecord,
    choices: list[str],
    *,
    reviewer: str,
    read: Callable[[], str | None],
    read_line: Callable[[], str | None] | None = None,
) -> str:
    """Ask about ``record`` until a valid key; returns what was done (``quit`` to stop).

    ``read`` returns the next key (None at the end of input), ``read_line`` a typed line
    (default: ``read``, when input comes line by line anyway)."""
    read_line = read_line or read
    while True:
        line = read()
        key = None if line is None else line.lower()
        if key == "#":
            out().print("  label number: ", end="")
            key = read_line()
        if key is None or key == "q":
            return "quit"
        if key == "a":
            store.approve([record.id], reviewer=reviewer)
            return "approved"
        if key == "s":
            store.skip([record.id], reviewer=reviewer)
            return "skipped"
        if key == "n":
            out().print("  new label: ", end="")
            name = read_line()
            if not name:
                continue
            store.correct(record.id, name, reviewer=reviewer, new_label=True)
            return "corrected"
        if key.isdigit() and 1 <= int(key) <= len(choices):
            # the numbered labels are the task's own: no label check needed
            updated = store.correct(record.id, choices[int(key) - 1], reviewer=reviewer)
            return str(updated.review_status)
        out().print(f"  [yellow]'{escape(line or '')}'?[/] {KEYS_HELP}", highlight=False)


def _key_reader() -> Callable[[], str | None]:
    """Single keys from the terminal, without waiting for Enter (cbreak mode per key)."""
    import sys
    import termios
    import tty

    def read_key() -> str | None:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd, termios.TCSANOW)  # TCSAFLUSH would drop keys typed ahead
            key = sys.stdin.read(1)
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        if key in ("", "\x04"):  # end of input, Ctrl-D
            return None
        out().print(key, highlight=False)
        return key

    return read_key


@app.command()
def review(
    project: ProjectOption = Path(DEFAULT_PROJECT_FILE),
    task: Annotated[str | None, typer.Option("--task", "-t", help="Only this task.")] = None,
    label: Annotated[str | None, typer.Option(help="Only answers with this label.")] = None,
    fallback_only: Annotated[bool, typer.Option(help="Only fallback answers.")] = False,
    limit: Annotated[int, typer.Option(help="Stop after this many answers.")] = 1000,
    reviewer: Annotated[str, typer.Option(help="Your name, for the audit trail.")] = "cli",
    database: DatabaseUrlOption = None,
) -> None:
    """Review recorded answers in the terminal, lowest confidence first.

    Keys (then Enter): a number picks the right label, a approves, s skips, n proposes a new
    label, q quits. Every review is saved at once.

    Example: intently review --task intent --reviewer ana
    """
    import sys

    from intently.feedback import known_labels

    registry = project_registry(project)

    def read_line() -> str | None:
        line = sys.stdin.readline()
        return line.strip() if line else None  # None: end of input

    read = _key_reader() if sys.stdin.isatty() else read_line

    done: dict[str, int] = {}
    labels_of: dict[str, set[str]] = {}
    with interaction_store(project, database) as store:
        position = 0
        while position < limit:
            batch = store.pending(task=task, label=label, fallback_only=fallback_only, limit=1)
            if not batch:
                out().print("\nThe review queue is empty.")
                break
            record = batch[0]
            if record.task not in labels_of:
                labels_of[record.task] = known_labels(registry, record.task) | (
                    store.proposed_labels(record.task)
                )
            labels = labels_of[record.task]
            choices = choices_for(record, labels)
            position += 1
            show(record, choices, position)
            outcome = review_one(
                store, record, choices, reviewer=reviewer, read=read, read_line=read_line
            )
            if outcome == "quit":
                break
            done[outcome] = done.get(outcome, 0) + 1
    summary = ", ".join(f"{n} {what}" for what, n in sorted(done.items())) or "nothing reviewed"
    out().print(f"\n{summary}.")
