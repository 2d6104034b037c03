import pytest

from tests.ugc.factories import RejectionReasonFactory, UserFactory


@pytest.fixture
def moderator(db):
    return UserFactory(username="mina")


@pytest.fixture
def other_moderator(db):
    return UserFactory(username="omar")


@pytest.fixture
def reason(db):
    return RejectionReasonFactory(label="Off-brand")
