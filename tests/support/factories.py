"""Factories (factory_boy) for tests where the demo's care system is not the point.

Organisations are wired as backend/organisations expects and as the demo wires its own
(backend/organisations/demo.py): a ward's parent is its provider trust and it escalates to that trust;
the trust escalates to its trust board, which governs it; the board escalates to the integrated care
board, which commissions the trust; the ICB escalates to the regulator. Each factory builds whatever
is above it unless given it, so ``WardFactory()`` alone is a whole route (ward → trust → board → ICB →
regulator) in an integrated care system of its own, with nobody in it::

    system = CareSystemFactory()                # regulator, ICB, board, trust and two wards
    ward = WardFactory(parent=system.trust)     # one more ward of that trust
    guardian = StaffFactory(membership__role=Role.GUARDIAN, membership__organisation=system.trust)
    concern = ConcernFactory(unit=ward, themes=["bullying"])
    raised = RaisedConcernFactory(unit=ward)    # the concern and its receipt code

People are users with one membership each (StaffFactory), or a membership for a user made earlier
(MembershipFactory). Their password is the demo's, hashed as the settings say.

Concerns are only ever raised through the intake service, ``services.concern_raise``: its receipt, its
first Event (the start of the audit chain), its clocks, its figures and its guardians' notices are
written as for any raise. The factory's fields are the raiser's (``services.ConcernDraft``); ``now`` and
``submission_key`` go to the service beside the draft. There is no build strategy: an unsaved Concern
made here would be a row the service never wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import factory
from django.contrib.auth.models import User
from factory.django import DjangoModelFactory, Password

from backend.concerns import services
from backend.concerns.models import Concern
from backend.organisations.demo import DEMO_PASSWORD
from backend.organisations.models import Membership, Organisation, OrganisationKind, Role

K = OrganisationKind
# Codes like the demo's (ODS-style, upper case), one sequence for all, so no two ever clash.
PREFIX = {K.REGULATOR: "FR", K.ICB: "FQ", K.TRUST_BOARD: "FB", K.PROVIDER: "FT", K.UNIT: "FW", K.PATIENT_GROUP: "FH"}


class OrganisationFactory(DjangoModelFactory[Organisation]):
    """An organisation with no place on any route; the factories below give each kind its place."""

    class Meta:
        model = Organisation
        skip_postgeneration_save = True

    kind = K.PATIENT_GROUP
    code = factory.LazyAttributeSequence(lambda o, n: f"{PREFIX[o.kind]}{n:04d}")
    name = factory.LazyAttribute(lambda o: f"{K(o.kind).label} {o.code}")


class RegulatorFactory(OrganisationFactory):
    """The end of the route: it escalates to nobody."""

    kind = K.REGULATOR


class IcbFactory(OrganisationFactory):
    kind = K.ICB
    escalates_to = factory.SubFactory(RegulatorFactory)


class TrustBoardFactory(OrganisationFactory):
    """A trust board; the trust made with it (ProviderFactory) sets what it governs."""

    kind = K.TRUST_BOARD
    escalates_to = factory.SubFactory(IcbFactory)


class ProviderFactory(OrganisationFactory):
    """A provider trust: it escalates to its board, which governs it, and is commissioned by the ICB
    its board escalates to."""

    kind = K.PROVIDER
    escalates_to = factory.SubFactory(TrustBoardFactory)
    commissioned_by = factory.LazyAttribute(lambda o: o.escalates_to.escalates_to if o.escalates_to else None)

    @factory.post_generation
    def board_governs(obj: Organisation, create: bool, extracted: Any, **kwargs: Any) -> None:
        board = obj.escalates_to
        if board is None or board.kind != K.TRUST_BOARD or board.governs_id is not None:
            return
        board.governs = obj
        if create:
            Organisation.objects.filter(pk=board.pk).update(governs=obj)  # as demo_seed does


class WardFactory(OrganisationFactory):
    """A ward or team: a child of its trust, escalating to it."""

    kind = K.UNIT
    parent = factory.SubFactory(ProviderFactory)
    escalates_to = factory.SelfAttribute("parent")


@dataclass(frozen=True)
class CareSystem:
    regulator: Organisation
    icb: Organisation
    board: Organisation
    trust: Organisation
    wards: tuple[Organisation, ...]


class CareSystemFactory(factory.Factory[CareSystem]):
    """A provider trust with its wards (``ward_count=3`` for more), its board, ICB and regulator."""

    class Meta:
        model = CareSystem

    class Params:
        ward_count = 2

    trust = factory.SubFactory(ProviderFactory)
    board = factory.SelfAttribute("trust.escalates_to")
    icb = factory.SelfAttribute("board.escalates_to")
    regulator = factory.SelfAttribute("icb.escalates_to")
    wards = factory.LazyAttribute(lambda o: tuple(WardFactory.create_batch(o.ward_count, parent=o.trust)))


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person-{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@candour.invalid")
    password = Password(DEMO_PASSWORD)


class MembershipFactory(DjangoModelFactory[Membership]):
    """A role held in an organisation (and so in its whole subtree)."""

    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(WardFactory)
    role = Role.HANDLER


class StaffFactory(UserFactory):
    """A user holding one role: ``StaffFactory(membership__role=Role.GUARDIAN, membership__organisation=trust)``
    (a handler on a new ward unless told otherwise)."""

    membership = factory.RelatedFactory(MembershipFactory, factory_related_name="user")


class RaisedConcernFactory(factory.Factory[Any]):
    """``services.concern_raise`` with defaults for what a test does not care about: what it returns
    (the concern and the receipt code, shown once). Any other field of the draft passes through."""

    class Meta:
        model = Concern  # never instantiated here: _create asks the service, _build refuses

    unit = factory.SubFactory(WardFactory)
    raiser_kind = "staff"
    identity_mode = "anonymous"
    themes = factory.List(["patient_safety"])
    what_happened = factory.Faker("sentence", nb_words=12)

    @classmethod
    def _create(cls, model_class: type[Concern], *args: Any, **kwargs: Any) -> Any:
        # What intake takes apart from the concern itself travels beside its draft.
        beside = {name: kwargs.pop(name) for name in ("now", "submission_key") if name in kwargs}
        return services.concern_raise(draft=services.ConcernDraft(*args, **kwargs), **beside)

    @classmethod
    def _build(cls, model_class: type[Concern], *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a concern exists only once raised: use create(), which calls services.concern_raise")


class ConcernFactory(RaisedConcernFactory):
    """A concern raised through ``services.concern_raise``: the Concern, without its receipt code."""

    @classmethod
    def _create(cls, model_class: type[Concern], *args: Any, **kwargs: Any) -> Concern:
        concern: Concern = super()._create(model_class, *args, **kwargs).concern
        return concern
