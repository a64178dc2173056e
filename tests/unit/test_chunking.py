"""Values bound into statements within every database's bounds (adapters/storage/chunking)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tidings.adapters.storage.chunking import chunks, grouped

_groups = st.lists(
    st.tuples(st.integers(0, 50), st.lists(st.integers(), min_size=1, max_size=40)),
    max_size=30,
    unique_by=lambda group: group[0],
)


@given(_groups, st.integers(1, 25), st.integers(1, 6))
def test_grouped_keeps_every_value_of_every_group_within_both_bounds(
    groups: list[tuple[int, list[int]]], size: int, most: int
) -> None:
    statements = list(grouped(groups, size, most))
    for statement in statements:
        assert statement  # no empty statement
        assert len(statement) <= most
        assert sum(len(values) for _, values in statement) <= size
    again: dict[int, list[int]] = {}
    for statement in statements:
        for key, values in statement:
            again.setdefault(key, []).extend(values)
    assert again == dict(groups)  # every value once, in order


def test_groups_of_one_value_each_go_together_up_to_the_bound() -> None:
    pushes = [(folder, [1]) for folder in range(120)]
    assert [len(s) for s in grouped(pushes, size=900, most=50)] == [50, 50, 20]


def test_a_group_larger_than_a_statement_is_split_and_the_next_group_starts_after_it() -> None:
    assert list(grouped([("a", [1, 2, 3, 4, 5]), ("b", [6])], size=2, most=10)) == [
        [("a", [1, 2])],
        [("a", [3, 4])],
        [("a", [5]), ("b", [6])],
    ]


def test_chunks_are_in_order_and_bounded() -> None:
    assert list(chunks(range(5), 2)) == [[0, 1], [2, 3], [4]]
    assert list(chunks([], 2)) == []
