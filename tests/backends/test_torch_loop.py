"""intently.backends.torch_loop: the fine-tuning loop the neural backends share."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from intently.backends.torch_loop import (  # noqa: E402
    train_loop,
    warmup_linear,
    weighted_cross_entropy,
)
from intently.errors import TrainingError  # noqa: E402

X = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
Y = np.array([0, 1, 0, 1])


def _fit(
    model: torch.nn.Module, *, epochs: int = 3, loss=None, after_epoch=None, **kw
) -> list[str]:
    steps: list[str] = []

    def default_loss(rows: np.ndarray) -> torch.Tensor:
        return weighted_cross_entropy(model(X[rows]), Y[rows], np.ones(len(rows)))

    train_loop(
        modules=[model],
        param_groups=[{"params": list(model.parameters()), "lr": 0.1}],
        epoch_batches=lambda _epoch: [np.array([0, 1]), np.array([2, 3])],
        batch_loss=loss or default_loss,
        epochs=epochs,
        steps=2 * epochs,
        clip=[model],
        seed=0,
        threads=1,
        progress=lambda step, _done: steps.append(step),
        after_epoch=after_epoch,
        **kw,
    )
    return steps


def test_the_loop_learns_reports_progress_and_leaves_eval_mode():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.1))
    before = weighted_cross_entropy(model.eval()(X), Y, np.ones(4)).item()
    steps = _fit(model)
    assert len(steps) == 6 and steps[-1].startswith("epoch 3/3: loss ")
    assert not model.training
    assert weighted_cross_entropy(model(X), Y, np.ones(4)).item() < before


def test_after_epoch_sees_eval_mode_and_can_stop_early():
    model = torch.nn.Linear(2, 2)
    seen: list[tuple[int, bool]] = []

    def after_epoch(epoch: int, loss: float) -> bool:
        seen.append((epoch, model.training))
        assert np.isfinite(loss)
        return epoch == 2

    _fit(model, epochs=5, after_epoch=after_epoch)
    assert seen == [(1, False), (2, False)]


def test_a_diverging_loss_names_the_learning_rate_parameter():
    model = torch.nn.Linear(2, 2)

    def nan_loss(rows: np.ndarray) -> torch.Tensor:
        return model(X[rows]).sum() * float("nan")

    with pytest.raises(TrainingError, match="diverged") as info:
        _fit(model, loss=nan_loss, lr_name="finetune_lr")
    assert "lower finetune_lr" in (info.value.hint or "")
    assert not model.training


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")
def test_a_loss_without_gradient_skips_the_step_and_the_seed_is_contained():
    model = torch.nn.Linear(2, 2)
    weight = model.weight.detach().clone()
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    _fit(model, loss=lambda _rows: torch.zeros(()))
    assert torch.equal(model.weight, weight)
    assert torch.equal(torch.rand(1), expected)  # the loop's seeding did not leak out


def test_warmup_then_linear_decay():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = warmup_linear(optimizer, 10, warmup_share=0.2)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[:3] == pytest.approx([0.5, 1.0, 1.0])
    assert rates[-1] == pytest.approx(1 / 8) and all(np.diff(rates[1:]) <= 0)
