"""A unit of work makes each repository when first asked for it, on its own connection."""

from __future__ import annotations

import pytest

from tidings.adapters.storage import unit_of_work
from tidings.adapters.storage.database import make_engine
from tidings.adapters.storage.unit_of_work import SqlAlchemyUnitOfWork
from tidings.domain.settings import EmailConfiguration


def test_every_repository_a_unit_of_work_declares_can_be_reached() -> None:
    declared = {name for name in SqlAlchemyUnitOfWork.__annotations__ if not name.startswith("_")}
    assert declared == set(unit_of_work._REPOSITORIES)


def test_a_unit_of_work_used_again_reaches_its_new_transaction(database_url: str) -> None:
    # A repository made in the first block must not outlive it: the second block's
    # writes and reads go through the second connection.
    engine = make_engine(database_url)
    uow = SqlAlchemyUnitOfWork(engine)
    try:
        with uow:
            first = uow.settings
            first.save(EmailConfiguration(smart_matching_min_recipients=5))
            uow.commit()
        with uow:
            assert uow.settings is not first
            uow.settings.save(EmailConfiguration(smart_matching_min_recipients=6))
            uow.commit()
        with SqlAlchemyUnitOfWork(engine, read_only=True) as reader:
            assert reader.settings.get().smart_matching_min_recipients == 6
        with pytest.raises(AttributeError):
            _ = uow.settings  # outside a transaction there is none
        with pytest.raises(AttributeError):
            _ = uow.no_such_repository  # type: ignore[attr-defined]
    finally:
        engine.dispose()
