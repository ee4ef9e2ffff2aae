"""Tests of cultural_env.mixing: schedule parsing and validation, shares per phase, determinism."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cultural_env.data import GENERAL_CATEGORY, CulturalSample
from cultural_env.errors import ConfigError
from cultural_env.mixing import MixSchedule, mix_samples

CULTURAL = [CulturalSample(id=f"food_{number:03d}", category="food", query=f"q{number}", knowledge=f"k{number}") for number in range(40)]
GENERAL = [CulturalSample(id=f"general_{number:04d}", category=GENERAL_CATEGORY, query=f"g{number}", knowledge=None) for number in range(25)]


def count_cultural(samples: list[CulturalSample]) -> int:
    return sum(1 for sample in samples if sample.category != GENERAL_CATEGORY)


# ---------------------------------------------------------------------------------------------
# Parsing and validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, phases",
    [
        ("50/50", ((1.0, 0.5),)),
        ("70/30", ((1.0, 0.7),)),
        (" 100/0 ", ((1.0, 1.0),)),
        ("70/30,30/70", ((2 / 3, 0.7), (1.0, 0.3))),
        ("80/20,50/50,20/80", ((1 / 3, 0.8), (2 / 3, 0.5), (1.0, 0.2))),
        ("70/30@0.5,30/70", ((0.5, 0.7), (1.0, 0.3))),
        ("70/30@0.25,30/70@1", ((0.25, 0.7), (1.0, 0.3))),
        (0.7, ((1.0, 0.7),)),
        (1, ((1.0, 1.0),)),
        ("0.25", ((1.0, 0.25),)),
    ],
)
def test_parse_accepted_specs(spec: str | float, phases: tuple[tuple[float, float], ...]) -> None:
    schedule = MixSchedule.parse(spec)

    assert len(schedule.phases) == len(phases)
    for (end, share), (expected_end, expected_share) in zip(schedule.phases, phases):
        assert end == pytest.approx(expected_end)
        assert share == pytest.approx(expected_share)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("70/20", "must have non-negative percentages that add up to 100"),
        ("120/-20", "must have non-negative percentages that add up to 100"),
        ("70-30", "is not CULTURAL/GENERAL percentages"),
        ("a/b", "is not CULTURAL/GENERAL percentages"),
        ("70/30,,30/70", "empty phase"),
        ("", "empty phase"),
        ("70/30@half,30/70", "phase end 'half' is not a number"),
        ("70/30,50/50@0.5,30/70", "give an @END for every phase except the last, or for none"),
        ("70/30@0.8,30/70@0.9", "it must end at 1.0"),
        ("70/30@0.6,50/50@0.4,30/70", "each phase must end after the previous one"),
        ("70/30@0,30/70", "each phase must end after the previous one"),
        (1.5, "cultural share 1.5 is outside [0, 1]"),
        ("70", "cultural share 70.0 is outside [0, 1]; write 0.7 or '70/30' for 70%"),
        ("nan", "is outside [0, 1]"),
        (True, "invalid mix spec True"),
        (None, "invalid mix spec None"),
    ],
)
def test_parse_rejected_specs(spec: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        MixSchedule.parse(spec)  # type: ignore[arg-type]

    assert message in str(raised.value)


def test_schedule_rejects_no_phases() -> None:
    with pytest.raises(ConfigError, match="at least one phase"):
        MixSchedule(phases=())


def test_schedule_rejects_share_outside_range() -> None:
    with pytest.raises(ConfigError, match="phase 2 has cultural share -0.1"):
        MixSchedule(phases=((0.5, 0.5), (1.0, -0.1)))


def test_schedule_str_round_trips() -> None:
    for spec in ["50/50", "70/30", "70/30@0.5,30/70", "80/20@0.25,50/50@0.75,20/80"]:
        assert str(MixSchedule.parse(spec)) == spec


def test_share_at_phase_boundaries() -> None:
    schedule = MixSchedule.parse("70/30@0.5,30/70")

    assert schedule.cultural_share_at(0.0) == pytest.approx(0.7)
    assert schedule.cultural_share_at(0.4999) == pytest.approx(0.7)
    assert schedule.cultural_share_at(0.5) == pytest.approx(0.3)
    assert schedule.cultural_share_at(1.0) == pytest.approx(0.3)


@pytest.mark.parametrize("progress", [-0.01, 1.01])
def test_share_at_rejects_progress_outside_run(progress: float) -> None:
    with pytest.raises(ConfigError, match=r"outside \[0, 1\]"):
        MixSchedule.parse("50/50").cultural_share_at(progress)


# ---------------------------------------------------------------------------------------------
# Mixing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, num_items, expected_cultural", [("50/50", 100, 50), ("70/30", 100, 70), ("70/30", 7, 5), ("50/50", 9, 5)])
def test_mix_share_single_phase(spec: str, num_items: int, expected_cultural: int) -> None:
    mixed = mix_samples(CULTURAL, GENERAL, MixSchedule.parse(spec), num_items, seed=0)

    assert len(mixed) == num_items
    assert count_cultural(mixed) == expected_cultural


def test_mix_share_two_phase_schedule() -> None:
    mixed = mix_samples(CULTURAL, GENERAL, MixSchedule.parse("70/30,30/70"), 300, seed=0)

    first_phase, last_phase = mixed[:200], mixed[200:]
    assert count_cultural(first_phase) == 140
    assert count_cultural(last_phase) == 30


def test_mix_spreads_cultural_items_evenly() -> None:
    mixed = mix_samples(CULTURAL, GENERAL, MixSchedule.parse("70/30"), 100, seed=0)

    for start in range(0, 100, 10):
        assert count_cultural(mixed[start : start + 10]) == 7, start


def test_mix_is_deterministic_for_seed() -> None:
    schedule = MixSchedule.parse("70/30,30/70")

    assert mix_samples(CULTURAL, GENERAL, schedule, 120, seed=5) == mix_samples(CULTURAL, GENERAL, schedule, 120, seed=5)
    assert mix_samples(CULTURAL, GENERAL, schedule, 120, seed=5) != mix_samples(CULTURAL, GENERAL, schedule, 120, seed=6)


def test_mix_cycles_through_short_source() -> None:
    mixed = mix_samples(CULTURAL, GENERAL, MixSchedule.parse("50/50"), 200, seed=1)

    cultural_counts = Counter(sample.id for sample in mixed if sample.category != GENERAL_CATEGORY)
    general_counts = Counter(sample.id for sample in mixed if sample.category == GENERAL_CATEGORY)
    # 100 cultural items from 40: every item twice, then 20 items a third time.
    assert set(cultural_counts) == {sample.id for sample in CULTURAL}
    assert sorted(Counter(cultural_counts.values()).items()) == [(2, 20), (3, 20)]
    # 100 general items from 25: every item exactly four times.
    assert set(general_counts.values()) == {4}


def test_mix_first_pass_has_no_repeats() -> None:
    mixed = mix_samples(CULTURAL, GENERAL, MixSchedule.parse(1.0), 40, seed=2)

    assert sorted(sample.id for sample in mixed) == sorted(sample.id for sample in CULTURAL)
    assert mixed != CULTURAL


def test_mix_without_general_at_full_share() -> None:
    mixed = mix_samples(CULTURAL, [], MixSchedule.parse("100/0"), 10, seed=0)

    assert count_cultural(mixed) == 10


def test_mix_rejects_missing_general_items() -> None:
    with pytest.raises(ConfigError) as raised:
        mix_samples(CULTURAL, [], MixSchedule.parse("70/30"), 10, seed=0)

    assert "needs general items but none were given" in str(raised.value)


def test_mix_rejects_missing_cultural_items() -> None:
    with pytest.raises(ConfigError, match="needs cultural items but none were given"):
        mix_samples([], GENERAL, MixSchedule.parse("70/30"), 10, seed=0)


def test_mix_zero_items() -> None:
    assert mix_samples(CULTURAL, GENERAL, MixSchedule.parse("70/30"), 0, seed=0) == []


@pytest.mark.parametrize("num_items", [-1, 2.5, True])
def test_mix_rejects_bad_num_items(num_items: object) -> None:
    with pytest.raises(ConfigError, match="num_items must be a non-negative integer"):
        mix_samples(CULTURAL, GENERAL, MixSchedule.parse("70/30"), num_items, seed=0)  # type: ignore[arg-type]


@given(cultural_percent=st.integers(0, 100), num_items=st.integers(0, 500))
def test_mix_share_matches_rounding(cultural_percent: int, num_items: int) -> None:
    schedule = MixSchedule.parse(f"{cultural_percent}/{100 - cultural_percent}")

    mixed = mix_samples(CULTURAL, GENERAL, schedule, num_items, seed=0)

    assert len(mixed) == num_items
    assert abs(count_cultural(mixed) - cultural_percent / 100 * num_items) <= 0.5 + 1e-9
