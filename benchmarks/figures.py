"""A figure, its ceiling, and the table/JSON every benchmark module writes into."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar, overload

T = TypeVar("T")
U = TypeVar("U")

RESULTS = Path(__file__).with_name("results.json")


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    ceiling: float
    ratio: float
    target: str
    """What the ratio or value must reach, in words, e.g. "ratio >= 0.6"."""
    met: bool

    @classmethod
    def against(cls, name: str, value: float, unit: str, ceiling: float, target: str, met: bool) -> Figure:
        return cls(
            name,
            round(value, 3),
            unit,
            round(ceiling, 3),
            round(value / ceiling, 3) if ceiling else 0.0,
            target,
            met,
        )

    @classmethod
    def reference(cls, name: str, value: float, unit: str, ceiling: float) -> Figure:
        """A figure printed beside another for what it explains, with no target of its own."""
        return cls.against(name, value, unit, ceiling, "reference", True)

    @classmethod
    def ratio_at_least(cls, name: str, value: float, unit: str, ceiling: float, minimum: float) -> Figure:
        """A figure whose target is a share of its ceiling: the words and the check from one number."""
        return cls.against(name, value, unit, ceiling, f"ratio >= {minimum}", value >= minimum * ceiling)


REPEATS = 3


def best_of(measure: Callable[[], float], repeats: int = REPEATS) -> float:
    """The best of a few runs: on a shared 2-core machine the slow runs measure the neighbours."""
    return max(measure() for _ in range(repeats))


# two measures keep a type each: a run's several figures may be taken in turns with a rate
@overload
def in_turns(
    first: Callable[[], T], second: Callable[[], U], /, *, repeats: int = REPEATS
) -> tuple[list[T], list[U]]: ...
@overload
def in_turns(*measures: Callable[[], T], repeats: int = REPEATS) -> tuple[list[T], ...]: ...
def in_turns(*measures: Callable[[], Any], repeats: int = REPEATS) -> tuple[list[Any], ...]:
    """Every run of each measure, taken in turns (a, b, c, then b, c, a, ...): this machine's speed
    drifts by up to half over minutes, and a figure measured in a slow spell against a ceiling
    measured in a fast one would be a ratio of the spells, not of the code. Each turn starts one
    place later, so no measure always runs right after the same neighbour."""
    runs: list[list[Any]] = [[] for _ in measures]
    for turn in range(repeats):
        for i in range(len(measures)):
            at = (turn + i) % len(measures)
            runs[at].append(measures[at]())
    return tuple(runs)


def best_of_interleaved(*measures: Callable[[], float], repeats: int = REPEATS) -> list[float]:
    """The best run of each measure, taken `in_turns`."""
    return [max(runs) for runs in in_turns(*measures, repeats=repeats)]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def write(figures: list[Figure]) -> None:
    RESULTS.write_text(json.dumps([asdict(f) for f in figures], indent=2) + "\n")
    show(figures)
    print(f"\nwritten to {RESULTS}")


def show(figures: list[Figure]) -> None:
    """The figures as a table (a module run alone prints them, and writes nothing)."""
    widths = (52, 14, 10, 14, 8)
    print(
        f"{'figure':<{widths[0]}}{'value':>{widths[1]}} {'unit':<{widths[2]}}{'ceiling':>{widths[3]}}"
        f"{'ratio':>{widths[4]}}  target"
    )
    for f in figures:
        print(
            f"{f.name:<{widths[0]}}{f.value:>{widths[1]},.1f} {f.unit:<{widths[2]}}{f.ceiling:>{widths[3]},.1f}"
            f"{f.ratio:>{widths[4]}.3f}  {f.target} {'ok' if f.met else 'MISSED'}"
        )
