"""The champion/challenger split: sticky by key, sha256 buckets, weights parsed naming the part at fault."""

from __future__ import annotations

import random

import pytest

from service.core.split import BUCKETS, Split, Weights, WeightsError, assign, bucket, parse_weights


def test_an_80_20_split_of_10000_keys_lands_within_2_percent_and_is_sticky() -> None:
    weights = parse_weights("champion=80,challenger=20")
    keys = [f"user-{i}" for i in range(10_000)]
    first = [assign(k, weights) for k in keys]
    share = first.count("challenger") / len(keys)
    assert 0.18 <= share <= 0.22, share
    assert [assign(k, weights) for k in keys] == first, "the same key always gets the same variant"


def test_the_bucket_is_sha256_based_so_every_process_and_release_agrees() -> None:
    """Python's hash() is salted per process; pods must agree, so these values are part of the contract."""
    assert (bucket("user-42"), bucket("alice"), bucket("")) == (5129, 207, 1652)
    assert all(0 <= bucket(f"k{i}") < BUCKETS for i in range(1000))


def test_a_bigger_challenger_share_keeps_every_key_it_had() -> None:
    keys = [f"user-{i}" for i in range(5000)]
    at_10 = {k for k in keys if assign(k, Weights(90, 10)) == "challenger"}
    at_30 = {k for k in keys if assign(k, Weights(70, 30)) == "challenger"}
    assert at_10 < at_30, "raising the share only moves champion keys over"


def test_unkeyed_requests_go_to_the_champion_unless_drawn_at_random() -> None:
    weights = Weights(50, 50)
    assert {assign(None, weights) for _ in range(200)} == {"champion"}
    rng = random.Random(7)
    drawn = [assign(None, weights, "random", lambda: rng.randrange(BUCKETS)) for _ in range(4000)]
    assert 0.45 <= drawn.count("challenger") / len(drawn) <= 0.55


def test_all_or_nothing_weights() -> None:
    assert {assign(f"k{i}", parse_weights("")) for i in range(500)} == {"champion"}
    assert {assign(f"k{i}", parse_weights("challenger=1")) for i in range(500)} == {"challenger"}
    assert {assign(f"k{i}", parse_weights("champion=1,challenger=0")) for i in range(500)} == {"champion"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("champion=80,challanger=20", "'challanger=20' is not champion=<weight>"),
        ("champion=80;challenger=20", "must be a number, got '80;challenger=20'"),
        ("champion=80,champion=20", "champion is given twice"),
        ("champion=eighty", "the weight of champion must be a number"),
        ("champion=-1,challenger=2", "finite number >= 0"),
        ("champion=nan", "finite number >= 0"),
        ("champion=0,challenger=0", "add up to 0"),
    ],
)
def test_bad_weights_are_refused_naming_the_part_at_fault(text: str, message: str) -> None:
    with pytest.raises(WeightsError, match=message):
        parse_weights(text)


@pytest.mark.parametrize(
    ("text", "share"),
    [
        ("champion=100,challenger=1e305", 1.0),
        ("champion=1e308,challenger=1e308", 0.5),
        ("champion=5e-324,challenger=5e-324", 0.5),
        ("champion=1e308,challenger=1", 0.0),
    ],
)
def test_weights_near_the_float_limits_split_by_their_ratio_and_never_fail_a_request(text: str, share: float) -> None:
    """`10000 * w` and `w1 + w2` overflow to inf near 1.8e308 (IEEE 754 binary64): the share must not."""
    weights = parse_weights(text)
    assert weights.share == pytest.approx(share)
    assert {assign(f"visitor-{i}", weights) for i in range(50)} <= {"champion", "challenger"}
    split = Split(Weights(80, 20), "X-User-Id", "champion")
    split.apply_tag(text)
    assert split.weights == weights and split.error is None


def test_a_registry_tag_overrides_the_setting_and_a_bad_one_keeps_the_weights_in_force() -> None:
    split = Split(Weights(80, 20), "X-User-Id", "champion")
    split.apply_tag("champion=50,challenger=50")
    assert (split.weights, split.source, split.error) == (Weights(50, 50), "tag serving.ab_weights", None)
    split.apply_tag("champion=50,challenger=fifty")
    assert split.weights == Weights(50, 50)
    assert split.error is not None and "serving.ab_weights" in split.error and "must be a number" in split.error
    split.apply_tag(None)
    assert (split.weights, split.source, split.error) == (Weights(80, 20), "setting", None)
