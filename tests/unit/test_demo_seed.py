"""Demo data: every demo user logs in with DEMO_PASSWORD, and seeding hashes that password once."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import create_app
from app.config import TestConfig
from app.extensions import db as _db
from app.models import User
from app.models import identity as identity_models
from app.services.accounts import authenticate
from app.services.demo import USERS, seed_demo
from app.services.identity import create_user
from tests.conftest import DEMO_PASSWORD


def test_every_demo_user_logs_in_with_the_demo_password_only(db) -> None:
    names = [u[0] for u in USERS]
    hashes = set(db.session.scalars(select(User.password_hash).where(User.username.in_(names))))
    assert len(hashes) == 1  # one hash for all: checking it once checks every demo user
    assert hashes.pop().startswith("scrypt:")  # salted and slow, as for any other user
    assert authenticate(names[0], DEMO_PASSWORD) is not None
    assert authenticate(names[0], DEMO_PASSWORD + "x") is None


def test_seeding_hashes_the_shared_password_once_and_is_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = identity_models.generate_password_hash

    def counting(password: str, *args: object, **kwargs: object) -> str:
        calls.append(password)
        return real(password, *args, **kwargs)

    monkeypatch.setattr(identity_models, "generate_password_hash", counting)
    app = create_app({**{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
                      "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.app_context():
        _db.create_all()
        seed_demo("s3cret-demo")
        assert calls == ["s3cret-demo"]
        assert _db.session.scalar(select(func.count()).select_from(User)) == len(USERS)
        assert authenticate(USERS[-1][0], "s3cret-demo") is not None

        seed_demo("s3cret-demo")  # nothing missing: nothing created, nothing hashed
        assert calls == ["s3cret-demo"]
        assert _db.session.scalar(select(func.count()).select_from(User)) == len(USERS)
        _db.session.rollback()


def test_a_user_has_a_password_or_a_hash_not_both_nor_neither(db) -> None:
    org = db.session.get(User, 1).organisation
    with pytest.raises(ValueError):
        create_user("nobody", None, org)
    with pytest.raises(ValueError):
        create_user("nobody", "pw", org, password_hash=identity_models.hash_password("pw"))
