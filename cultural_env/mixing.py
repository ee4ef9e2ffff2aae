"""Mixing cultural items with general-domain prompts, at a fixed share or in phases.

Training only on cultural items may cost the student general reasoning. Mixing in
general-domain prompts (which have no knowledge paragraph, so teacher and student see the same
input) keeps that ability in the training signal. A :class:`MixSchedule` gives the share of
cultural items in each phase of a run, and :func:`mix_samples` builds the item sequence.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from cultural_env.data import CulturalSample
from cultural_env.errors import ConfigError

logger = logging.getLogger(__name__)

FINAL_PHASE_FRACTION = 1 / 3
"""Fraction of the run that the last phase of a multi-phase spec covers when the spec gives no
ends: ``"70/30,30/70"`` runs 70/30 for the first two thirds and 30/70 for the last third."""


@dataclass(frozen=True)
class MixSchedule:
    """The share of cultural items over a run, as consecutive phases.

    Phase ``i`` covers run progress from the previous phase's end (0 for the first) up to
    ``phases[i][0]``, and draws a fraction ``phases[i][1]`` of its items from the cultural data,
    the rest from general-domain prompts.
    """

    phases: tuple[tuple[float, float], ...]
    """(end_fraction_of_run, cultural_share) pairs. Ends rise strictly within (0, 1] and the
    last one is 1. Shares lie in [0, 1]."""

    def __post_init__(self) -> None:
        phases = tuple((float(end), float(share)) for end, share in self.phases)
        object.__setattr__(self, "phases", phases)
        if not phases:
            raise ConfigError("a mix schedule needs at least one phase")

        previous_end = 0.0
        for number, (end, share) in enumerate(phases, start=1):
            if not previous_end < end <= 1.0:
                raise ConfigError(
                    f"mix schedule phase {number} ends at {end}; each phase must end after the previous one "
                    f"(at {previous_end}) and at most at 1.0"
                )
            if not 0.0 <= share <= 1.0:
                raise ConfigError(f"mix schedule phase {number} has cultural share {share}; use a share in [0, 1]")
            previous_end = end
        if phases[-1][0] != 1.0:
            raise ConfigError(f"the last mix schedule phase ends at {phases[-1][0]}; it must end at 1.0, the end of the run")

    @classmethod
    def parse(cls, spec: str | float) -> MixSchedule:
        """Build a schedule from a share or a ``cultural/general`` percentage spec.

        Accepted forms:

        - a number such as ``0.7`` or ``"0.7"``: that cultural share for the whole run;
        - ``"50/50"``, ``"70/30"``: cultural and general percentages, which must add up to 100;
        - ``"70/30,30/70"``: phases in order. Without explicit ends, the last phase covers the
          final third of the run and the earlier phases share the first two thirds equally;
        - ``"70/30@0.5,30/70"``: explicit phase ends as fractions of the run. Give an end for
          every phase but the last, or for none.

        Raises:
            ConfigError: a spec in none of these forms, with the reason.
        """
        if isinstance(spec, bool):
            raise ConfigError(f"invalid mix spec {spec!r}; write a share such as 0.7 or percentages such as '70/30'")
        if isinstance(spec, (int, float)):
            return cls(phases=((1.0, _check_share(float(spec), spec)),))
        if not isinstance(spec, str):
            raise ConfigError(f"invalid mix spec {spec!r}; write a share such as 0.7 or percentages such as '70/30'")

        text = spec.strip()
        try:
            share = float(text)
        except ValueError:
            return cls(phases=_parse_phases(text))
        return cls(phases=((1.0, _check_share(share, spec)),))

    def cultural_share_at(self, progress: float) -> float:
        """Return the cultural share at ``progress``, the fraction of the run done, in [0, 1].

        A phase covers [start, end): progress exactly at a phase end belongs to the next phase,
        and progress 1.0 to the last phase.
        """
        if not 0.0 <= progress <= 1.0:
            raise ConfigError(f"progress {progress} is outside [0, 1]")
        for end, share in self.phases:
            if progress < end:
                return share
        return self.phases[-1][1]

    def __str__(self) -> str:
        parts = []
        for number, (end, share) in enumerate(self.phases, start=1):
            cultural_percent = f"{share * 100:g}"
            general_percent = f"{100 - share * 100:g}"
            end_suffix = "" if number == len(self.phases) else f"@{end:.4g}"
            parts.append(f"{cultural_percent}/{general_percent}{end_suffix}")
        return ",".join(parts)


def mix_samples(
    cultural: Sequence[CulturalSample],
    general: Sequence[CulturalSample],
    schedule: MixSchedule,
    num_items: int,
    seed: int,
) -> list[CulturalSample]:
    """Build a run of ``num_items`` samples that follows the schedule's cultural share.

    Each phase gets ``round(share * phase_length)`` cultural items, spread evenly over the
    phase, so any stretch of a phase also has the phase's share up to one item. Items come from
    each source in a shuffled order. When a source runs out it is reshuffled and used again, so
    every item appears once per pass. The result is the same for the same inputs and seed.

    Raises:
        ConfigError: a negative ``num_items``, or a schedule that needs items from an empty
            source.
    """
    if isinstance(num_items, bool) or not isinstance(num_items, int) or num_items < 0:
        raise ConfigError(f"num_items must be a non-negative integer, got {num_items!r}")

    # Separate generators keep each source's order independent of the schedule.
    cultural_items = _cycle_shuffled(cultural, random.Random(f"cultural-{seed}"))
    general_items = _cycle_shuffled(general, random.Random(f"general-{seed}"))
    mixed: list[CulturalSample] = []
    num_cultural = 0
    start_fraction = 0.0
    for end_fraction, share in schedule.phases:
        phase_length = _round_half_up(end_fraction * num_items) - _round_half_up(start_fraction * num_items)
        for position in range(phase_length):
            # Cultural items taken so far in this phase follow round(position * share).
            is_cultural = _round_half_up((position + 1) * share) > _round_half_up(position * share)
            if is_cultural:
                mixed.append(_next_item(cultural_items, "cultural", schedule))
                num_cultural += 1
            else:
                mixed.append(_next_item(general_items, "general", schedule))
        start_fraction = end_fraction

    logger.debug("mixed %d items with schedule %s: %d cultural", len(mixed), schedule, num_cultural)
    return mixed


def _parse_phases(spec: str) -> tuple[tuple[float, float], ...]:
    parts = [part.strip() for part in spec.split(",")]
    if any(not part for part in parts):
        raise ConfigError(f"invalid mix spec {spec!r}: empty phase; separate phases with single commas, as in '70/30,30/70'")

    shares = []
    ends: list[float | None] = []
    for part in parts:
        ratio, _, end_text = part.partition("@")
        shares.append(_parse_percentages(ratio.strip(), spec))
        ends.append(_parse_end(end_text.strip(), spec) if end_text else None)

    # The last end may be left out; MixSchedule rejects any other value than 1.
    final_end = 1.0 if ends[-1] is None else ends[-1]
    earlier_ends = ends[:-1]
    if all(end is None for end in earlier_ends):
        earlier_ends = _default_phase_ends(len(parts))[:-1]
    elif any(end is None for end in earlier_ends):
        raise ConfigError(f"invalid mix spec {spec!r}: give an @END for every phase except the last, or for none")
    return tuple(zip([*earlier_ends, final_end], shares))


def _parse_percentages(ratio: str, spec: str) -> float:
    cultural_text, slash, general_text = ratio.partition("/")
    try:
        if not slash:
            raise ValueError
        cultural_percent, general_percent = float(cultural_text), float(general_text)
    except ValueError:
        raise ConfigError(
            f"invalid mix spec {spec!r}: phase {ratio!r} is not CULTURAL/GENERAL percentages; write for example '70/30'"
        ) from None
    if cultural_percent < 0 or general_percent < 0 or not math.isclose(cultural_percent + general_percent, 100.0):
        raise ConfigError(
            f"invalid mix spec {spec!r}: phase {ratio!r} must have non-negative percentages that add up to 100"
        )
    return cultural_percent / 100.0


def _parse_end(end_text: str, spec: str) -> float:
    try:
        return float(end_text)
    except ValueError:
        raise ConfigError(
            f"invalid mix spec {spec!r}: phase end {end_text!r} is not a number; write a fraction of the run such as @0.5"
        ) from None


def _default_phase_ends(num_phases: int) -> list[float]:
    if num_phases == 1:
        return [1.0]
    early_phase_length = (1.0 - FINAL_PHASE_FRACTION) / (num_phases - 1)
    return [early_phase_length * number for number in range(1, num_phases)] + [1.0]


def _check_share(share: float, spec: object) -> float:
    if not 0.0 <= share <= 1.0:
        raise ConfigError(f"invalid mix spec {spec!r}: cultural share {share} is outside [0, 1]; write 0.7 or '70/30' for 70%")
    return share


def _round_half_up(value: float) -> int:
    # The small tolerance keeps products such as 0.7 * 5 = 3.4999999999999996 from rounding down.
    return math.floor(value + 0.5 + 1e-9)


def _next_item(items: Iterator[CulturalSample], source_name: str, schedule: MixSchedule) -> CulturalSample:
    try:
        return next(items)
    except StopIteration:
        raise ConfigError(
            f"mix schedule {schedule} needs {source_name} items but none were given; "
            f"pass {source_name} samples or change the schedule"
        ) from None


def _cycle_shuffled(samples: Sequence[CulturalSample], rng: random.Random) -> Iterator[CulturalSample]:
    """Yield the samples in a shuffled order, reshuffling before each further pass."""
    order = list(samples)
    while order:
        rng.shuffle(order)
        yield from order
