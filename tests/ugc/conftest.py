import pytest

from tests.ugc.admin_helpers import login
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


@pytest.fixture
def moderator_client(client):
    """A test client logged in as a staff user in the Moderator group."""
    client.user = login(client, "Moderator")
    return client
