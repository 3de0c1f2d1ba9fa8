"""The token bucket's rule, shared by the in-memory bucket and the one kept in the database."""

from bot.jobs.store.buckets import refill, take


def test_refill_adds_rate_per_second_up_to_the_capacity():
    assert refill(0.0, 100.0, 102.0, rate=0.5, capacity=5) == 1.0
    assert refill(4.5, 100.0, 200.0, rate=0.5, capacity=5) == 5.0


def test_a_clock_that_went_back_refills_nothing_and_drains_nothing():
    assert refill(2.0, 100.0, 90.0, rate=0.5, capacity=5) == 2.0


def test_take_spends_one_token_or_says_how_long_until_one():
    assert take(1.25, rate=0.5) == (0.25, 0.0)
    assert take(0.5, rate=0.5) == (0.5, 1.0)
