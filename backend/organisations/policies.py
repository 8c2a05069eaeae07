"""Which escalation policy version applies to an organisation, and its parsed rules."""

from __future__ import annotations

from functools import lru_cache

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.db.models.functions import Length

from backend.organisations.models import EscalationPolicy, Organisation
from workflows.engine.policy import Policy, policy_document_load, policy_parse


def _default_policy() -> EscalationPolicy:
    """The latest default version; the file in workflows/policies seeds it the first time."""
    current = EscalationPolicy.objects.filter(organisation__isnull=True).order_by("-version").first()
    if current is not None:
        return current
    try:
        with transaction.atomic():
            return EscalationPolicy.objects.create(organisation=None, version=1, document=policy_document_load())
    except IntegrityError:  # another process seeded it first
        return EscalationPolicy.objects.filter(organisation__isnull=True).order_by("-version").first()  # type: ignore[return-value]


def policy_for_organisation(*, organisation: Organisation) -> EscalationPolicy:
    """The latest version owned by the organisation or the nearest organisation above it, else the
    latest default: one query, because every intake asks (the deepest owner's path is the longest)."""
    ancestors = [part for part in organisation.path.strip("/").split("/") if part]
    nearest = (
        EscalationPolicy.objects.filter(Q(organisation__code__in=ancestors) | Q(organisation__isnull=True))
        .order_by(Length("organisation__path").desc(nulls_last=True), "-version")
        .first()
    )
    return nearest if nearest is not None else _default_policy()


@lru_cache(maxsize=256)
def _parsed(policy_id: int, document_key: str) -> Policy:
    return policy_parse(EscalationPolicy.objects.get(pk=policy_id).document)


def policy_rules(*, policy: EscalationPolicy) -> Policy:
    """Parsed rules of a stored version. Versions never change, so parsing once per process is enough."""
    return _parsed(policy.pk, str(policy.version))


@transaction.atomic
def policy_publish(
    *, organisation: Organisation | None, document: dict[str, object], user: User | None
) -> EscalationPolicy:
    """Store a new version after checking it; earlier concerns keep the version they started under."""
    policy_parse(document)
    # Two publishers at once: the unique version constraint turns the loser into an error, not a fork.
    owner = EscalationPolicy.objects.filter(organisation=organisation)
    latest = owner.aggregate(latest=Max("version"))["latest"] or 0
    return EscalationPolicy.objects.create(
        organisation=organisation, version=latest + 1, document=document, created_by=user
    )
