"""The state machine of an application, per tier (criteria.md §1.9).

    draft --submit--> submitted --precheck_pass--> in_review --scores_complete--> scored
    submitted --precheck_fail--> rejected                   (the engine's outcome for the tier is fail)
    scored --approve--> publicity                           (innovative / tech-innovative / SRDI SME: the province decides)
    scored --recommend--> national_review --approve--> publicity    (little giant: MIIT decides)
    scored|national_review --reject--> rejected
    publicity --close_publicity--> certified (new) | renewed (re-review)   (after 7 days, objections resolved)
    publicity --objection_upheld--> rejected
    draft|submitted --withdraw--> withdrawn
    any open state --revoke--> rejected                     (data fraud found during the cycle)

Final states: certified, renewed, rejected, withdrawn. Certifications themselves are active,
expired or revoked (see service.py). Anything else is refused with IllegalTransition.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from srdi.i18n import name_pairs

STATES = ("draft", "submitted", "in_review", "scored", "national_review", "publicity",
          "certified", "renewed", "rejected", "withdrawn")
FINAL = frozenset({"certified", "renewed", "rejected", "withdrawn"})
OPEN = frozenset(STATES) - FINAL

PROVINCIAL_TIERS = frozenset({"innovative_sme", "tech_innovative_sme", "srdi_sme"})
NATIONAL_TIERS = frozenset({"little_giant"})
TIERS = PROVINCIAL_TIERS | NATIONAL_TIERS
TIER_NAMES = name_pairs("tier_short", ("innovative_sme", "tech_innovative_sme", "srdi_sme", "little_giant"))
STATE_NAMES = {
    "draft": ("草稿", "draft"), "submitted": ("已提交", "submitted"), "in_review": ("专家评审中", "in review"),
    "scored": ("待省级决定", "awaiting provincial decision"), "national_review": ("工信部审核中", "national review"),
    "publicity": ("公示中", "publicity"), "certified": ("已认定", "certified"), "renewed": ("复核通过", "renewed"),
    "rejected": ("未通过", "rejected"), "withdrawn": ("已撤回", "withdrawn"),
}

PUBLICITY_DAYS = 7          # criteria §1.7: observed practice, 7 days [S]
VALIDITY_YEARS = 3          # criteria §1.5
FRAUD_BAR_YEARS = 3         # criteria §1.8 (2026, 117号) [S]
REVIEWERS_PER_APPLICATION = 3
PASS_SCORE = 60


class WorkflowError(Exception):
    """A request the workflow refuses (bad input or a rule); `field` names what is wrong."""

    def __init__(self, message: str, field: Optional[str] = None):
        super().__init__(message)
        self.field = field


class IllegalTransition(WorkflowError):
    pass


@dataclass(frozen=True)
class Transition:
    source: frozenset
    action: str
    target: str               # "*" = decided by the service (certified or renewed)
    roles: frozenset          # who may trigger it ("system" = the platform itself)
    tiers: frozenset = TIERS


def _t(src, action, target, roles, tiers=TIERS):
    return Transition(frozenset(src if isinstance(src, (set, frozenset, tuple)) else {src}), action, target,
                      frozenset(roles), frozenset(tiers))


TRANSITIONS = (
    _t("draft", "submit", "submitted", {"enterprise", "system"}),
    _t(("draft", "submitted"), "withdraw", "withdrawn", {"enterprise", "system"}),
    _t("submitted", "precheck_pass", "in_review", {"system"}),
    _t("submitted", "precheck_fail", "rejected", {"system"}),
    _t("in_review", "scores_complete", "scored", {"system"}),
    _t("scored", "approve", "publicity", {"provincial_admin", "national_admin"}, PROVINCIAL_TIERS),
    _t("scored", "recommend", "national_review", {"provincial_admin", "national_admin"}, NATIONAL_TIERS),
    _t("scored", "reject", "rejected", {"provincial_admin", "national_admin"}),
    _t("national_review", "approve", "publicity", {"national_admin"}, NATIONAL_TIERS),
    _t("national_review", "reject", "rejected", {"national_admin"}, NATIONAL_TIERS),
    _t("publicity", "objection_upheld", "rejected", {"provincial_admin", "national_admin"}),
    _t("publicity", "close_publicity", "*", {"provincial_admin", "national_admin", "system"}),
    _t(OPEN, "revoke", "rejected", {"provincial_admin", "national_admin", "system"}),
)


def actions_from(state: str, tier: str, role: Optional[str] = None) -> list[str]:
    return [t.action for t in TRANSITIONS
            if state in t.source and tier in t.tiers and (role is None or role in t.roles)]


def next_state(state: str, action: str, tier: str, role: str) -> str:
    """The target of `action` from `state` for `tier`, done by `role`; IllegalTransition otherwise."""
    if state not in STATES:
        raise IllegalTransition(f"status: unknown state {state!r}", "status")
    for t in TRANSITIONS:
        if t.action == action and state in t.source:
            if tier not in t.tiers:
                raise IllegalTransition(
                    f"{action}: not a step for tier {tier} (from {state}); allowed: "
                    f"{', '.join(actions_from(state, tier)) or 'none'} / 该层级无此步骤", "action")
            if role not in t.roles:
                raise IllegalTransition(f"{action}: a {role} may not do this (from {state}) / 该角色不能执行此操作",
                                        "action")
            return t.target
    allowed = [x for x in actions_from(state, tier, role) if x != "revoke"]
    raise IllegalTransition(
        f"{action}: not allowed from {state!r} ({'final state' if state in FINAL else 'allowed: ' + (', '.join(allowed) or 'none')})"
        f" / 当前状态不允许此操作", "action")


def certifying_authority(tier: str) -> str:
    return "national" if tier in NATIONAL_TIERS else "provincial"
