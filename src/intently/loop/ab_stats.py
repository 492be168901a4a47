"""Statistics of an A/B test: proportions with a 95% interval and significance tests.

Pure functions of counts (standard library only):

- :func:`wilson_interval`: the Wilson score interval of a proportion. Unlike the normal
  approximation it stays inside [0, 1] and is sensible for small samples and for 0 or n
  successes, which review counts often are.
- :func:`two_proportion_z_test`: two independent arms (split mode: each request answered by one
  arm), pooled-variance z-test, two-sided p-value.
- :func:`mcnemar_exact`: the same reviewed texts answered by both arms (shadow mode): the
  exact McNemar test on the discordant pairs (one arm right, the other wrong), two-sided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054  # the 97.5th percentile of the standard normal


@dataclass(frozen=True)
class Proportion:
    """``successes`` of ``n``, with its Wilson interval (None when ``n`` is 0)."""

    successes: int
    n: int

    @property
    def value(self) -> float | None:
        return None if self.n == 0 else self.successes / self.n

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.successes, self.n)

    def to_json(self) -> dict[str, object]:
        interval = self.interval
        return {
            "value": None if self.value is None else round(self.value, 4),
            "n": self.n,
            "ci95": None if interval is None else [round(interval[0], 4), round(interval[1], 4)],
        }


@dataclass(frozen=True)
class Significance:
    test: str
    statistic: float | None  # z for the z-test; discordant pairs favouring the challenger else
    p_value: float

    def significant(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha

    def to_json(self) -> dict[str, object]:
        return {
            "test": self.test,
            "statistic": None if self.statistic is None else round(self.statistic, 4),
            "p_value": round(self.p_value, 6),
            "significant_at_0.05": self.significant(),
        }


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of ``successes / n``; None when ``n`` is 0."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within [0, {n}]; got {successes}")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_z_test(s1: int, n1: int, s2: int, n2: int) -> Significance | None:
    """Pooled two-proportion z-test of ``s1/n1`` against ``s2/n2`` (z > 0: the first is
    higher); None when an arm is empty or both proportions are 0 or 1 (no variance)."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (s1 + s2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return None
    z = (s1 / n1 - s2 / n2) / math.sqrt(variance)
    return Significance("two-proportion z-test", z, math.erfc(abs(z) / math.sqrt(2)))


def mcnemar_exact(first_only: int, second_only: int) -> Significance | None:
    """Exact McNemar test: ``first_only`` pairs where only the first arm was right,
    ``second_only`` where only the second was; None without discordant pairs."""
    n = first_only + second_only
    if n == 0:
        return None
    k = min(first_only, second_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return Significance("exact McNemar", float(second_only - first_only), min(1.0, 2 * tail))
