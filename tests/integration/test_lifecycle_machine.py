"""A hypothesis state machine over the lifecycle, through the real services on PostgreSQL.

Every step tries a move as some actor. The rulebook (and the actor's scope) says whether it should
succeed; the services must agree, write exactly one Event per accepted move and nothing for a refused
one; terminal states stay terminal; the concern's audit chain verifies after every step.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from backend.concerns import services
from backend.concerns.audit import BrokenLink, _verify_one
from backend.concerns.models import Concern, Event
from backend.errors import Conflict
from backend.organisations.demo import demo_seed
from backend.organisations.models import Membership, Organisation
from workflows.engine import lifecycle
from workflows.engine.lifecycle import Actor, IllegalTransition

STAFF_MOVES = ["acknowledge", "start_review", "give_feedback", "close", "reopen"]
STAFF = ["guardian", "handler", "governor", "guardian-community"]


def _staff_call(name: str, concern_id: int, user: User, now: datetime) -> None:
    if name == "acknowledge":
        services.concern_acknowledge(concern_id=concern_id, user=user, now=now)
    elif name == "start_review":
        services.concern_start_review(concern_id=concern_id, user=user, now=now)
    elif name == "give_feedback":
        services.concern_give_feedback(concern_id=concern_id, user=user, feedback="We looked into it.", now=now)
    elif name == "close":
        services.concern_close(concern_id=concern_id, user=user, reason="done", now=now)
    else:
        services.concern_reopen(concern_id=concern_id, user=user, now=now)


class LifecycleMachine(RuleBasedStateMachine):
    @initialize(raiser_kind=st.sampled_from(["staff", "patient"]), urgent=st.booleans())
    def raise_concern(self, raiser_kind: str, urgent: bool) -> None:
        self.now = timezone.now()
        ward = Organisation.objects.get(code="RNX07")
        self.concern_id = services.concern_raise(
            draft=services.ConcernDraft(
                unit=ward,
                raiser_kind=raiser_kind,
                identity_mode="anonymous",
                themes=["other"],
                what_happened="machine",
                urgent=urgent,
            ),
            now=self.now,
        ).concern.pk
        self.was_terminal = False
        self.raiser_reopens = 0

    def _concern(self) -> Concern:
        return Concern.objects.select_related("holder").get(pk=self.concern_id)

    def _events(self) -> int:
        return Event.objects.filter(concern_id=self.concern_id).count()

    @rule(name=st.sampled_from(STAFF_MOVES), username=st.sampled_from(STAFF))
    def staff_move(self, name: str, username: str) -> None:
        self.now += timedelta(hours=1)
        concern, before = self._concern(), self._events()
        user = get_user_model().objects.get(username=username)
        roles = {
            m.role
            for m in Membership.objects.filter(user=user).select_related("organisation")
            if concern.holder.path.startswith(m.organisation.path)
        }
        # A handler works only what was placed with them; a guardian works their whole subtree.
        if "handler" in roles and concern.assignee_id != user.pk:
            roles.discard("handler")
        actor = Actor.GUARDIAN if "guardian" in roles else Actor.HANDLER if "handler" in roles else None
        expected = actor is not None and name in lifecycle.allowed(state=concern.state, actor=actor)
        try:
            _staff_call(name, self.concern_id, user, self.now)
        except (IllegalTransition, PermissionDenied):
            assert not expected, f"{username} was refused {name} from {concern.state}"
            assert self._events() == before
            assert self._concern().state == concern.state
        else:
            assert expected, f"{username} was allowed {name} from {concern.state}"
            assert self._events() == before + 1
            assert self._concern().state == lifecycle.BY_NAME[name].target

    @rule()
    def guardian_assigns_the_ward_handler(self) -> None:
        self.now += timedelta(hours=1)
        concern, before = self._concern(), self._events()
        guardian, handler = (get_user_model().objects.get(username=u) for u in ("guardian", "handler"))
        # The trust guardian holds the ward and trust subtree; the ward handler only the ward.
        expected = concern.state not in lifecycle.TERMINAL and concern.holder.code == "RNX07"
        try:
            services.concern_assign(concern_id=self.concern_id, user=guardian, handler=handler, now=self.now)
        except (IllegalTransition, PermissionDenied):
            assert not expected, f"assignment refused at {concern.holder.code} in {concern.state}"
            assert self._events() == before
        else:
            assert expected, f"assignment allowed at {concern.holder.code} in {concern.state}"
            assert self._events() == before + 1
            assert self._concern().assignee_id == handler.pk

    @rule()
    def raiser_withdraws(self) -> None:
        self.now += timedelta(hours=1)
        concern, before = self._concern(), self._events()
        expected = "withdraw" in lifecycle.allowed(state=concern.state, actor=Actor.RAISER)
        try:
            services.concern_withdraw(concern_id=self.concern_id, now=self.now)
        except IllegalTransition:
            assert not expected
            assert self._events() == before
        else:
            assert expected
            assert self._events() == before + 1

    @rule()
    def raiser_reopens(self) -> None:
        """Once feedback is given the raiser may reopen, once: never a second time (409)."""
        self.now += timedelta(hours=1)
        concern, before = self._concern(), self._events()
        expected = concern.state == lifecycle.State.FEEDBACK_GIVEN and self.raiser_reopens == 0
        try:
            services.concern_reopen_by_raiser(concern_id=self.concern_id, reason="still wrong", now=self.now)
        except Conflict:  # IllegalMove (the state) and "reopened once already" alike
            assert not expected, f"the raiser was refused reopen from {concern.state}"
            assert self._events() == before
        else:
            assert expected, f"the raiser reopened from {concern.state} after {self.raiser_reopens} reopens"
            self.raiser_reopens += 1
            assert self._concern().state == lifecycle.State.REOPENED

    @rule()
    def raiser_escalates_saying_why(self) -> None:
        """Once feedback is given the raiser may take it further, saying why, deadline or not."""
        self.now += timedelta(hours=1)
        concern, before = self._concern(), self._events()
        must = concern.state == lifecycle.State.FEEDBACK_GIVEN and concern.holder.escalates_to_id is not None
        try:
            services.concern_escalate_by_raiser(concern_id=self.concern_id, reason="not good enough", now=self.now)
        except Conflict:
            assert not must, "the raiser was refused escalating inadequate feedback"
            assert self._events() == before
        else:
            after = self._concern()
            assert after.state == lifecycle.State.ESCALATED and after.route_level == concern.route_level + 1
            assert self._events() == before + 1

    @invariant()
    def the_raiser_reopened_at_most_once(self) -> None:
        if hasattr(self, "concern_id"):
            reopens = Event.objects.filter(concern_id=self.concern_id, kind="reopen", actor_role="raiser").count()
            assert reopens == self.raiser_reopens <= 1

    @rule(days=st.integers(min_value=1, max_value=40))
    def time_passes(self, days: int) -> None:
        concern, before = self._concern(), self._events()
        self.now += timedelta(days=days)
        services.clocks_fire_due(now=self.now)
        after = self._concern()
        new = list(Event.objects.filter(concern_id=self.concern_id, seq__gt=before).values_list("kind", flat=True))
        # The sweep writes only breaches and escalations, and climbs at most one step per sweep.
        assert set(new) <= {"clock_breached", "escalate"}
        assert new.count("escalate") == after.route_level - concern.route_level <= 1
        if not new.count("escalate"):
            assert after.state == concern.state

    @invariant()
    def terminal_stays_terminal_and_chain_verifies(self) -> None:
        if not hasattr(self, "concern_id"):
            return
        concern = self._concern()
        if self.was_terminal:
            assert concern.state in lifecycle.TERMINAL
        self.was_terminal = concern.state in lifecycle.TERMINAL
        assert not isinstance(_verify_one(concern.pk, concern.audit_seq, concern.audit_head, 500), BrokenLink)


class TestLifecycleMachine(TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        demo_seed()

    def test_lifecycle(self) -> None:
        run_state_machine_as_test(
            LifecycleMachine,
            settings=settings(
                max_examples=30,
                stateful_step_count=20,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
