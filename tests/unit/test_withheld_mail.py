"""Which UIDs a folder in trouble fetches one by one, when one is passed over, and how many
emails and bytes a chunk holds."""

from __future__ import annotations

from tidings.domain.sync import chunked
from tidings.services.sync.withheld import WithheldMail

INBOX = (1, "INBOX")


def test_a_folder_without_trouble_fetches_in_whole_chunks() -> None:
    withheld = WithheldMail(tries=3)
    assert not withheld.troubled(INBOX, 7)
    assert withheld.careful_through(INBOX, 7) == 0


def test_a_chunk_that_broke_off_is_fetched_one_by_one_then_in_chunks_again() -> None:
    withheld = WithheldMail(tries=3)
    assert withheld.failed(INBOX, 7, [3, 4, 5]) is None  # which one is not known yet
    assert withheld.troubled(INBOX, 7)
    assert withheld.careful_through(INBOX, 7) == 5
    withheld.passed(INBOX, 4)
    assert withheld.careful_through(INBOX, 7) == 5
    withheld.passed(INBOX, 5)
    assert not withheld.troubled(INBOX, 7)
    assert withheld.careful_through(INBOX, 7) == 0


def test_one_email_is_passed_over_after_its_last_try_and_only_then() -> None:
    withheld = WithheldMail(tries=3)
    assert withheld.failed(INBOX, 7, [4]) is None
    assert withheld.failed(INBOX, 7, [4]) is None
    # Another folder's trouble counts for that folder alone.
    assert withheld.failed((1, "Projects"), 7, [4]) is None
    assert withheld.failed(INBOX, 7, [4]) == 4
    withheld.passed(INBOX, 4)
    assert not withheld.troubled(INBOX, 7)
    assert withheld.troubled((1, "Projects"), 7)


def test_an_email_that_comes_at_last_starts_no_count_for_the_next_one() -> None:
    withheld = WithheldMail(tries=2)
    assert withheld.failed(INBOX, 7, [4]) is None
    withheld.passed(INBOX, 4)  # it came
    assert withheld.failed(INBOX, 7, [5]) is None
    assert withheld.failed(INBOX, 7, [5]) == 5


def test_a_new_uidvalidity_forgets_the_trouble_of_the_old_numbers() -> None:
    # RFC 3501 §2.3.1.1: under another UIDVALIDITY, UID 4 is another message.
    withheld = WithheldMail(tries=2)
    assert withheld.failed(INBOX, 7, [4]) is None
    assert not withheld.troubled(INBOX, 8)
    assert withheld.careful_through(INBOX, 8) == 0
    assert withheld.failed(INBOX, 8, [4]) is None


def test_chunks_hold_at_most_so_many_emails_and_bytes() -> None:
    sizes = {1: 400, 2: 400, 3: 400, 4: 5_000, 5: 100, 6: 100, 7: 100}
    # Bytes end a chunk before the count does; an email larger than the bound is alone.
    assert chunked([1, 2, 3, 4, 5, 6, 7], sizes, 3, 1_000) == [[1, 2], [3], [4], [5, 6, 7]]
    assert chunked([5, 6, 7], sizes, 2, 1_000) == [[5, 6], [7]]
    # Sizes the server did not tell count as none: the count bounds the chunk.
    assert chunked([8, 9, 10], {}, 2, 1_000) == [[8, 9], [10]]
    assert chunked([], sizes, 2, 1_000) == []
