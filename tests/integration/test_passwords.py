"""Console passwords are hashed with Argon2id at the configured cost, and a password hashed
at another cost is rehashed at its next sign-in."""

from __future__ import annotations

import pytest

from tests.conftest import settings_for
from tidings.adapters.passwords import Argon2PasswordHasher
from tidings.bootstrap import bootstrap

PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize(
    ("cost", "parameters"),
    [("rfc9106-low-memory", "m=65536,t=3,p=4"), ("cheapest", "m=8,t=1,p=1")],
)
def test_a_hash_is_argon2id_at_the_configured_cost(cost: str, parameters: str) -> None:
    hasher = Argon2PasswordHasher(cost)
    hashed = hasher.hash(PASSWORD)
    assert hashed.startswith(f"$argon2id$v=19${parameters}$")
    assert hasher.verify(hashed, PASSWORD)
    assert not hasher.verify(hashed, PASSWORD + " ")
    assert not hasher.verify("not a hash", PASSWORD)


def test_a_password_hashed_at_another_cost_is_rehashed_at_sign_in(database_url: str) -> None:
    cheap = bootstrap(settings_for(database_url, password_hashing="cheapest"))
    real = bootstrap(settings_for(database_url, password_hashing="rfc9106-low-memory"))
    try:
        cheap.upgrade_database()
        cheap.setup.add_user("Ada Admin", "ada@northwind.example", ["admin"], PASSWORD)

        def stored() -> str:
            with real.uow() as uow:
                user = uow.directory.get_user_by_email("ada@northwind.example")
                assert user is not None and user.password_hash is not None
                return user.password_hash

        assert "m=8,t=1,p=1" in stored()
        # A wrong password changes nothing; the right one, checked at the old cost, is
        # hashed again at the configured one, and still signs in.
        assert real.access.authenticate("ada@northwind.example", "wrong") is None
        assert "m=8,t=1,p=1" in stored()
        assert real.access.authenticate("ada@northwind.example", PASSWORD) is not None
        assert "m=65536,t=3,p=4" in stored()
        assert real.access.authenticate("ada@northwind.example", PASSWORD) is not None
    finally:
        cheap.close()
        real.close()
