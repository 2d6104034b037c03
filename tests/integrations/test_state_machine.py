"""Property test: whatever the merchant and the platforms do to a connection, in any order, it
moves only along the state machine, every move is audited, and a disconnected connection keeps
no token."""

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from core.errors import ApplicationError
from integrations import services
from integrations.clients import AccountChoice, Grant
from integrations.models import Connection, ConnectionEvent

S = Connection.Status
ACCOUNTS = [AccountChoice("shop-a", "Shop A"), AccountChoice("shop-b", "Shop B")]


class ConnectionMachine(RuleBasedStateMachine):
    """Random actions on one TikTok Shop connection per example (TikTok Shop has no revocation
    endpoint, so nothing here reaches the network). Examples run in a database that a
    transactional test cleans, since the services open durable transactions."""

    def __init__(self):
        super().__init__()
        self.grants = 0
        self.moves = 0  # successful transitions, each of which must be audited

    def teardown(self):
        Connection.objects.all().delete()

    def _grant(self) -> Grant:
        self.grants += 1
        return Grant(access_token=f"access-{self.grants}", refresh_token=f"refresh-{self.grants}")

    @initialize(several=st.booleans())
    def authorize(self, several):
        choices = ACCOUNTS if several else ACCOUNTS[:1]
        connection = services.connection_connect(
            platform="tiktok_shop", grant=self._grant(), choices=choices, actor=None
        )
        self.id = connection.pk
        self.moves = 0 if several else 1  # one account: activated at once

    def _try(self, action) -> bool:
        try:
            action()
        except ApplicationError as exc:
            assert exc.code in ("invalid_transition", "invalid", "wrong_account", "conflict")
            return False
        self.moves += 1
        return True

    @rule(account=st.sampled_from(["shop-a", "shop-b", "shop-z"]))
    def choose(self, account):
        self._try(
            lambda: services.connection_choose_account(
                connection_id=self.id, account_id=account, actor=None
            )
        )

    @rule()
    def grant_refused(self):
        before = Connection.objects.get(pk=self.id).status
        connection = (
            services.connection_mark_needs_reconnect(connection_id=self.id, reason="refused")
            if before == S.ACTIVE
            else None
        )
        if connection is not None:
            self.moves += 1
        elif before != S.NEEDS_RECONNECT:
            with pytest.raises(ApplicationError):
                services.connection_mark_needs_reconnect(connection_id=self.id, reason="refused")

    @rule()
    def reconnect(self):
        self._try(
            lambda: services.connection_connect(
                platform="tiktok_shop",
                grant=self._grant(),
                choices=ACCOUNTS,
                actor=None,
                connection_id=self.id,
            )
        )

    @rule()
    def disconnect(self):
        self._try(lambda: services.connection_disconnect(connection_id=self.id))

    @invariant()
    def moves_follow_the_machine_and_are_audited(self):
        connection = Connection.objects.get(pk=self.id)
        events = list(ConnectionEvent.objects.filter(connection=connection).order_by("at", "pk"))
        moves = [e for e in events if e.action != "grant"]
        assert len(moves) == self.moves
        previous = S.PENDING
        for event in moves:
            assert event.from_status == previous
            assert services.ALLOWED[(event.from_status, event.action)] == event.to_status
            previous = event.to_status
        assert connection.status == previous

    @invariant()
    def tokens_and_account_follow_the_status(self):
        connection = Connection.objects.get(pk=self.id)
        if connection.status == S.DISCONNECTED:
            assert connection.access_token == "" and connection.refresh_token == ""
        else:
            assert connection.access_token.startswith("access-")
        if connection.status in (S.ACTIVE, S.NEEDS_RECONNECT):
            assert connection.account_id in ("shop-a", "shop-b")
        if connection.status == S.PENDING:
            assert connection.account_id == "" and len(connection.account_choices) == 2
        if connection.status == S.NEEDS_RECONNECT:
            assert connection.status_reason


@pytest.mark.django_db(transaction=True)
def test_any_sequence_of_actions_keeps_a_connection_on_its_state_machine():
    run_state_machine_as_test(
        ConnectionMachine,
        settings=settings(max_examples=25, deadline=None, stateful_step_count=20, derandomize=True),
    )
