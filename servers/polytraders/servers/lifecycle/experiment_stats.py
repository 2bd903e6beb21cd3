"""Statistics for paired A/B experiments of a variant strategy against its control.

Each sample is a matched pair, the control and the variant measured on the same market over the
same window, and everything here works on the paired difference d = variant - control (higher is
better, so a negative mean means the variant underperforms).

`fixed_sample_interval` is the classic paired t confidence interval. It is valid only for a sample
size fixed in advance and looked at once: checked after every sample, its false-positive rate grows
with the number of looks (the tests measure 46% at alpha = 0.05 over 300 looks).

`SequentialMonitor` and `sequential_test` implement the mixture sequential probability ratio test
(mSPRT) with a normal mixing distribution (Robbins 1970; Johari, Pekelis & Walsh, "Always valid
inference", 2017/2022). Its mixture likelihood ratio Lambda_n against "no difference" is a
nonnegative martingale with mean one under that null, so Ville's inequality bounds the probability
that it EVER reaches 1/alpha by alpha. A rejection at whatever sample one happens to look, however
often one looks, stopping or not, is therefore a false positive with probability at most alpha:
that is what keeps the test valid under continuous monitoring. The always-valid p-value is
p_n = min(1, min over k <= n of 1/Lambda_k); the always-valid confidence sequence is the running
intersection of {theta : Lambda_k(theta) < 1/alpha}; p_n <= alpha exactly when zero has left it.

Unknown variance. The textbook mSPRT needs the variance of d, and the usual practical shortcut
(the one described for the Optimizely deployment) plugs in the sample variance. That shortcut is
not valid when the test is checked from the first samples on: with a handful of samples the
estimate is often far too small, and in simulation (alpha = 0.05, mixing sd 0.5 sigma, a check
after each of 300 samples) the plug-in test rejected in about 30% of null runs, and still in about
6% when the first ten samples were never checked. So, unless the variance is given, the unknown
standard deviation is integrated out rather than plugged in: the mixing distribution is over the
standardized effect delta = theta / sigma, delta ~ N(0, g), and sigma gets the scale-invariant prior
1/sigma (Lai 1976, "On confidence sequences"; the ratio is Rouder et al.'s 2009 fixed-g Bayes
factor for the t test). The result depends on the data through the t statistic only, is the
likelihood ratio of the scale-free part of the data, and is again a test martingale under the null
whatever sigma is (Perez-Ortiz, Lardy, de Heide & Grunwald, "E-statistics, group invariance and
anytime-valid testing", Ann. Statist. 2024). Ville's inequality then holds exactly for Gaussian
differences of unknown variance, from the first sample on, and the test converges to the
known-variance mSPRT as n grows. The sample variance still enters, through t; what is gone is the
pretence that it is the true variance.

Units. Because the mixing distribution is over theta / sigma, `minimum_detectable_effect` and
`mixture_variance` are standardized: in standard deviations of d (Cohen's d), not in pUSD. Means
and confidence bounds are reported in the metric's own units.

Assumptions. The differences are independent and identically distributed, and exactness is for
Gaussian differences. In simulation (alpha = 0.05, 300 looks) symmetric heavy tails kept the
false-positive rate under alpha (Student t with 3 df: 2%, Laplace: 1%, 70% exact zeros: 1%), and so
did differences of two equally skewed P&Ls; but a skewed difference did not (centered exponential:
about 10%, centered lognormal: about 20%, mostly early and toward "variant_worse"). Check the
skewness of the differences before trusting a verdict on a lopsided P&L. A P&L series that drifts
(a regime change mid-experiment) breaks the identically-distributed assumption; an empty confidence
sequence (lower > upper) is the symptom.

The module needs only the standard library, so the server carries no scipy dependency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from statistics import NormalDist
from typing import Final, SupportsFloat, TypeVar

__all__ = [
    "VARIANT_BETTER",
    "VARIANT_WORSE",
    "INCONCLUSIVE",
    "PairedInterval",
    "SequentialMonitor",
    "SequentialResult",
    "fixed_sample_interval",
    "paired_differences",
    "sequential_test",
    "student_t_quantile",
]

VARIANT_WORSE: Final = "variant_worse"
VARIANT_BETTER: Final = "variant_better"
INCONCLUSIVE: Final = "inconclusive"

# A standardized effect beyond this is almost certainly a metric-unit value passed by mistake.
_LARGEST_STANDARDIZED_EFFECT: Final = 10.0

_Amount = TypeVar("_Amount", int, float, Decimal)


@dataclass(frozen=True, slots=True)
class PairedInterval:
    """Mean paired difference (variant - control) and a two-sided confidence interval for it."""

    n: int
    mean: float
    lower: float
    upper: float


@dataclass(frozen=True, slots=True)
class SequentialResult:
    """The state of a sequential experiment after its n-th sample.

    `lower`/`upper` bound the mean difference simultaneously for every n with probability at least
    1 - alpha (they are infinite until the data pin the scale down). `lower > upper` means no
    constant mean difference fits the data at this level: the samples are probably not identically
    distributed (drift), and the experiment needs a look rather than a verdict. The verdict's
    direction is fixed at the sample where `p_value` first fell to alpha, so it never flips.
    """

    n: int
    mean: float
    lower: float
    upper: float
    p_value: float
    verdict: str


def paired_differences(samples: Iterable[tuple[_Amount, _Amount]]) -> list[float]:
    """variant - control per (control, variant) pair, subtracted exactly before going to float.

    Micro-unit P&L can be large next to its differences; subtracting ints or Decimals first keeps
    the float conversion from eating the difference.
    """
    return [float(variant - control) for control, variant in samples]


def fixed_sample_interval(differences: Sequence[SupportsFloat], alpha: float) -> PairedInterval:
    """Paired t confidence interval at level 1 - alpha, for a sample size fixed before looking."""
    _check_alpha(alpha)
    values = _finite_floats(differences)
    n = len(values)
    if n < 2:
        raise ValueError(f"a paired t interval needs at least 2 differences, got {n}")
    mean = math.fsum(values) / n
    variance = math.fsum((value - mean) ** 2 for value in values) / (n - 1)
    half_width = student_t_quantile(1.0 - alpha / 2.0, n - 1) * math.sqrt(variance / n)
    return PairedInterval(n=n, mean=mean, lower=mean - half_width, upper=mean + half_width)


def sequential_test(
    differences: Sequence[SupportsFloat],
    alpha: float,
    minimum_detectable_effect: float,
    *,
    mixture_variance: float | None = None,
    variance: float | None = None,
) -> SequentialResult:
    """The mSPRT's state after the last difference, as if it had been checked after every one.

    The p-value is the running minimum over all prefixes, so calling this after each new sample
    is as valid as calling it once; a `SequentialMonitor` gives the same results in O(1) per sample.
    """
    monitor = SequentialMonitor(
        alpha, minimum_detectable_effect, mixture_variance=mixture_variance, variance=variance
    )
    needed = 2 if variance is None else 1
    if len(differences) < needed:
        reason = "" if variance is not None else " when the variance is estimated from the data"
        raise ValueError(
            f"a sequential test needs at least {needed} differences{reason}, got {len(differences)}"
        )
    result: SequentialResult | None = None
    for difference in differences:
        result = monitor.add(difference)
    assert result is not None
    return result


class SequentialMonitor:
    """An always-valid mSPRT on paired differences, updated in O(1) per sample.

    `mixture_variance` is g, the variance of the normal mixing distribution over the standardized
    effect theta / sigma; it defaults to minimum_detectable_effect**2, which puts the test's power
    where the effect worth detecting is (Johari et al.'s advice: match the mixture to the effect
    sizes one expects). It tunes power only; the false-positive guarantee holds for any g. Pass
    `variance` (of d, in squared metric units) only when it is truly known: the known-variance
    mSPRT is then used; otherwise it is integrated out (see the module docstring).
    """

    __slots__ = (
        "_alpha",
        "_g",
        "_log_threshold",
        "_variance",
        "_n",
        "_mean",
        "_m2",
        "_max_log_ratio",
        "_lower",
        "_upper",
        "_direction",
    )

    def __init__(
        self,
        alpha: float,
        minimum_detectable_effect: float,
        *,
        mixture_variance: float | None = None,
        variance: float | None = None,
    ) -> None:
        _check_alpha(alpha)
        if not (0.0 < minimum_detectable_effect <= _LARGEST_STANDARDIZED_EFFECT):
            raise ValueError(
                "minimum_detectable_effect is a standardized effect in standard deviations of the "
                f"difference and must be in (0, {_LARGEST_STANDARDIZED_EFFECT:g}], "
                f"got {minimum_detectable_effect!r}"
            )
        if mixture_variance is None:
            mixture_variance = minimum_detectable_effect**2
        elif not (0.0 < mixture_variance <= _LARGEST_STANDARDIZED_EFFECT**2):
            raise ValueError(
                "mixture_variance is the variance of the standardized effect and must be in "
                f"(0, {_LARGEST_STANDARDIZED_EFFECT**2:g}], got {mixture_variance!r}"
            )
        if variance is not None and not (0.0 < variance < math.inf):
            raise ValueError(f"variance must be positive and finite, got {variance!r}")
        self._alpha = alpha
        self._g = mixture_variance
        self._log_threshold = -math.log(alpha)
        self._variance = variance
        self._n = 0
        self._mean = 0.0
        self._m2 = 0.0  # sum of squared deviations from the running mean (Welford)
        self._max_log_ratio = 0.0  # log Lambda below 0 only ever caps the p-value at 1
        self._lower = -math.inf
        self._upper = math.inf
        self._direction = INCONCLUSIVE

    @property
    def n(self) -> int:
        return self._n

    def add(self, difference: SupportsFloat) -> SequentialResult:
        """Take the next difference and return the test's state; valid to act on every time."""
        d = float(difference)
        if not math.isfinite(d):
            raise ValueError(f"difference must be finite, got {difference!r}")
        n = self._n + 1
        delta = d - self._mean
        mean = self._mean + delta / n
        m2 = self._m2 + delta * (d - mean)
        self._n, self._mean, self._m2 = n, mean, m2

        ng = n * self._g
        shrink = ng / (1.0 + ng)
        half_log_penalty = 0.5 * math.log1p(ng)
        known = self._variance
        if known is None:
            # Scale-free mixture: log Lambda = -log(1+ng)/2 - (n/2) log(1 - shrink * r), where
            # r = n mean^2 / sum(d^2) = t^2 / (t^2 + n - 1) lies in [0, 1].
            total = m2 + n * mean * mean
            r = n * mean * mean / total if total > 0.0 else 0.0
            log_ratio = -half_log_penalty - 0.5 * n * math.log1p(-shrink * r)
            # {theta : Lambda(theta) < 1/alpha} is mean +/- sqrt(u * m2 / n), u solving
            # (1 + u) / (1 + u / (1 + ng)) = k; no finite u exists while k / (1 + ng) >= 1.
            k_minus_one = math.expm1(2.0 * (self._log_threshold + half_log_penalty) / n)
            room = 1.0 - (1.0 + k_minus_one) / (1.0 + ng)
            half_width = math.sqrt(k_minus_one / room * m2 / n) if room > 0.0 else math.inf
        else:
            z2 = n * mean * mean / known
            log_ratio = -half_log_penalty + 0.5 * shrink * z2
            half_width = math.sqrt(2.0 * (self._log_threshold + half_log_penalty) * known / (shrink * n))

        if log_ratio > self._max_log_ratio:
            self._max_log_ratio = log_ratio
        lower = mean - half_width
        upper = mean + half_width
        if lower > self._lower:
            self._lower = lower
        if upper < self._upper:
            self._upper = upper
        p_value = math.exp(-self._max_log_ratio)
        if self._direction == INCONCLUSIVE and p_value <= self._alpha:
            self._direction = VARIANT_WORSE if mean < 0.0 else VARIANT_BETTER
        return SequentialResult(
            n=n,
            mean=mean,
            lower=self._lower,
            upper=self._upper,
            p_value=p_value,
            verdict=self._direction,
        )


def student_t_quantile(probability: float, df: float) -> float:
    """Inverse CDF of Student's t with df degrees of freedom, to a few ulps for moderate df.

    A Cornish-Fisher start (Abramowitz & Stegun 26.7.5) polished by Newton's method on the exact
    tail, computed from the regularized incomplete beta function, inside a bisection bracket.
    """
    if not (0.0 < probability < 1.0):
        raise ValueError(f"probability must be in (0, 1), got {probability!r}")
    if not (0.0 < df < math.inf):
        raise ValueError(f"degrees of freedom must be positive and finite, got {df!r}")
    tail = min(probability, 1.0 - probability)
    if tail == 0.5:
        return 0.0
    sign = 1.0 if probability > 0.5 else -1.0
    half_step = _log_gamma_half_step(df / 2.0)
    log_beta = 0.5 * math.log(math.pi) - half_step  # log B(df/2, 1/2)
    log_density_constant = half_step - 0.5 * math.log(df * math.pi)

    t = _cornish_fisher_start(tail, df)
    low, high = 0.0, max(2.0 * t, 1.0)
    while _t_upper_tail(high, df, log_beta) > tail:
        low, high = high, 2.0 * high
    if not (low < t < high):
        t = 0.5 * (low + high)
    for _ in range(200):
        excess = _t_upper_tail(t, df, log_beta) - tail
        if excess == 0.0:
            break
        if excess > 0.0:
            low = t
        else:
            high = t
        density = math.exp(log_density_constant - (df + 1.0) / 2.0 * math.log1p(t * t / df))
        step = excess / density
        candidate = t + step
        if not (low < candidate < high):
            candidate = 0.5 * (low + high)
        converged = abs(candidate - t) <= 4.0 * math.ulp(t)
        t = candidate
        if converged:
            break
    return sign * t


def _cornish_fisher_start(tail: float, df: float) -> float:
    x = -NormalDist().inv_cdf(tail)
    x2 = x * x
    g1 = (x2 + 1.0) * x / 4.0
    g2 = ((5.0 * x2 + 16.0) * x2 + 3.0) * x / 96.0
    g3 = (((3.0 * x2 + 19.0) * x2 + 17.0) * x2 - 15.0) * x / 384.0
    g4 = ((((79.0 * x2 + 776.0) * x2 + 1482.0) * x2 - 1920.0) * x2 - 945.0) * x / 92160.0
    return x + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df


def _t_upper_tail(t: float, df: float, log_beta: float) -> float:
    """P(T > t) for t >= 0, computed directly so that small tails keep their relative accuracy.

    `log_beta` is log B(df/2, 1/2), which the caller computes once per quantile.
    """
    t2 = t * t
    x = df / (df + t2)
    y = t2 / (df + t2)
    log_x = -math.log1p(t2 / df)  # log(x) itself would lose the digits that matter near x = 1
    log_y = math.log(y) if y > 0.0 else -math.inf
    a, b = df / 2.0, 0.5
    if x < (a + 1.0) / (a + b + 2.0):
        return 0.5 * _incomplete_beta_fraction(a, b, x, log_x, log_y, log_beta)
    return 0.5 - 0.5 * _incomplete_beta_fraction(b, a, y, log_y, log_x, log_beta)


def _incomplete_beta_fraction(
    a: float, b: float, x: float, log_x: float, log_1mx: float, log_beta: float
) -> float:
    """I_x(a, b) for x below (a+1)/(a+b+2), where its continued fraction converges fast.

    The logarithms of x and 1 - x come from the caller, which can compute them without
    cancellation (Lentz's method, as in Numerical Recipes' betacf).
    """
    if x == 0.0:
        return 0.0
    tiny = 1e-300
    c = 1.0
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 100_000):
        m2 = 2 * m
        numerator = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2))
        d = 1.0 + numerator * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + numerator / c
        c = c if abs(c) > tiny else tiny
        fraction *= d * c
        numerator = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0))
        d = 1.0 + numerator * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + numerator / c
        c = c if abs(c) > tiny else tiny
        factor = d * c
        fraction *= factor
        if abs(factor - 1.0) <= 1e-15:
            return math.exp(a * log_x + b * log_1mx - log_beta) * fraction / a
    raise ArithmeticError(f"incomplete beta continued fraction did not converge for a={a}, b={b}, x={x}")


def _log_gamma_half_step(a: float) -> float:
    """log(Gamma(a + 1/2) / Gamma(a)) to about 1e-16 absolute.

    Subtracting two lgamma values would lose their magnitude's worth of digits, which is the
    whole tail's relative accuracy; instead a is shifted up to 20 by the recurrence
    Gamma(x + 1) = x Gamma(x), and the difference of the two Stirling series is taken there.
    """
    shift = 0.0
    while a < 20.0:
        shift -= math.log1p(0.5 / a)
        a += 1.0
    h = a + 0.5
    main = a * math.log1p(0.5 / a) + 0.5 * math.log(a) - 0.5
    correction = (
        (1.0 / h - 1.0 / a) / 12.0
        - (1.0 / h**3 - 1.0 / a**3) / 360.0
        + (1.0 / h**5 - 1.0 / a**5) / 1260.0
        - (1.0 / h**7 - 1.0 / a**7) / 1680.0
        + (1.0 / h**9 - 1.0 / a**9) / 1188.0
    )
    return shift + main + correction


def _check_alpha(alpha: float) -> None:
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _finite_floats(values: Iterable[SupportsFloat]) -> list[float]:
    floats = [float(value) for value in values]
    for value in floats:
        if not math.isfinite(value):
            raise ValueError(f"differences must be finite, got {value!r}")
    return floats
