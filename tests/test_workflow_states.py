"""The state machine per tier, and the whole cycle through the service layer (SQLite)."""
import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from srdi.workflow import audit, roles, service
from srdi.workflow.db import Store
from srdi.workflow.models import Application, Assessment, Certification, Review, User
from srdi.workflow.roles import AccessDenied
from srdi.workflow.states import (FINAL, STATES, TIERS, TRANSITIONS, IllegalTransition, WorkflowError, actions_from,
                                  next_state)
from srdi.workflow.synth import DEMO_PASSWORD, make_profile, seed_demo

ACTIONS = sorted({t.action for t in TRANSITIONS})
ROLES = ["enterprise", "reviewer", "provincial_admin", "national_admin", "system"]
D = dt.date(2025, 6, 1)


# ------------------------------------------------------------------ the machine itself
def test_main_paths():
    assert next_state("draft", "submit", "srdi_sme", "enterprise") == "submitted"
    assert next_state("scored", "approve", "srdi_sme", "provincial_admin") == "publicity"
    assert next_state("scored", "recommend", "little_giant", "provincial_admin") == "national_review"
    assert next_state("national_review", "approve", "little_giant", "national_admin") == "publicity"


@pytest.mark.parametrize("state,action,tier,role,words", [
    ("scored", "approve", "little_giant", "provincial_admin", "not a step for tier little_giant"),
    ("scored", "recommend", "srdi_sme", "provincial_admin", "not a step for tier srdi_sme"),
    ("national_review", "approve", "little_giant", "provincial_admin", "may not"),
    ("draft", "approve", "srdi_sme", "provincial_admin", "not allowed from 'draft'"),
    ("certified", "submit", "srdi_sme", "enterprise", "final state"),
    ("submitted", "precheck_pass", "srdi_sme", "enterprise", "may not"),
])
def test_illegal_transitions_have_clear_errors(state, action, tier, role, words):
    with pytest.raises(IllegalTransition) as ei:
        next_state(state, action, tier, role)
    assert words in str(ei.value)


@given(st.sampled_from(STATES), st.sampled_from(ACTIONS), st.sampled_from(sorted(TIERS)), st.sampled_from(ROLES))
def test_every_pair_is_defined_or_refused(state, action, tier, role):
    try:
        target = next_state(state, action, tier, role)
    except IllegalTransition:
        assert action not in actions_from(state, tier, role)
        return
    assert target in STATES or target == "*"
    assert state not in FINAL  # nothing leaves a final state
    assert action in actions_from(state, tier, role)


@settings(max_examples=60)
@given(st.sampled_from(sorted(TIERS)), st.lists(st.sampled_from(ACTIONS), max_size=15), st.randoms())
def test_random_walks_stay_in_the_machine(tier, actions, rnd):
    """Any sequence of attempted actions keeps the application in a known state; the national step
    is reached only by little giants."""
    state = "draft"
    for act in actions:
        role = rnd.choice(ROLES)
        try:
            new = next_state(state, act, tier, role)
        except IllegalTransition:
            continue
        state = {"*": "certified"}.get(new, new)
        assert state in STATES
        if state == "national_review":
            assert tier == "little_giant"


# ------------------------------------------------------------------ the cycle in the database
@pytest.fixture()
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'c.db'}").init()
    yield s
    s.dispose()


@pytest.fixture()
def world(store):
    return store, seed_demo(store, D)


def U(s, ids, name) -> User:
    return s.get(User, ids[name])


def score_all(s, app_id, score):
    for r in s.query(Review).filter_by(application_id=app_id).all():
        service.submit_score(s, s.get(User, r.reviewer_id), app_id, score)


def test_seeded_cycle_certifies_and_freezes(world):
    store, ids = world
    with store.read() as s:
        a = s.get(Application, ids["app-e2"])
        assert a.status == "certified"
        asm = s.query(Assessment).filter_by(application_id=a.id).one()
        assert asm.outcome == "pass" and asm.result()["tiers"]["innovative_sme"]["outcome"] == "pass"
        assert asm.profile()["name"] == a.profile["name"]
        c = s.get(Certification, ids["cert-e2"])
        assert (c.valid_until - c.valid_from).days in (1094, 1095)  # 3 years
        assert audit.verify(s).ok


def test_little_giant_goes_through_national_review(world):
    store, ids = world
    rng = random.Random(3)
    with store.session() as s:
        e1 = U(s, ids, "ent-e1")
        a = service.create_application(s, e1, ids["e1"], "little_giant", 2025, make_profile(9, "320000", "little_giant", rng),
                                       batch="7", on=D)
        service.submit(s, e1, a.id, on=D)
        assert a.status == "in_review" and a.precheck_outcome == "pass"
        reviewers = {r.reviewer_id for r in s.query(Review).filter_by(application_id=a.id)}
        assert reviewers <= {ids["rev-nat1"], ids["rev-nat2"], ids["rev-nat3"]}  # national experts
        score_all(s, a.id, 81)
        assert a.status == "scored" and a.mean_score == 81
        with pytest.raises(IllegalTransition):
            service.decide(s, U(s, ids, "admin-js"), a.id, "approve", on=D)
        service.decide(s, U(s, ids, "admin-js"), a.id, "recommend", on=D)
        with pytest.raises(IllegalTransition, match="MIIT"):
            service.decide(s, U(s, ids, "admin-js"), a.id, "approve", on=D)
        service.decide(s, U(s, ids, "miit"), a.id, "approve", on=D)
        assert a.status == "publicity"
        with pytest.raises(WorkflowError, match="公示期未满|runs until"):
            service.close_publicity(s, U(s, ids, "miit"), a.id, on=D + dt.timedelta(days=7))
        with pytest.raises(AccessDenied):
            service.close_publicity(s, U(s, ids, "admin-js"), a.id, on=D + dt.timedelta(days=8))
        service.close_publicity(s, U(s, ids, "miit"), a.id, on=D + dt.timedelta(days=8))
        assert a.status == "certified"


def test_precheck_failure_and_objection_upheld(world):
    store, ids = world
    rng = random.Random(4)
    with store.session() as s:
        e1 = U(s, ids, "ent-e1")
        bad = service.create_application(s, e1, ids["e1"], "innovative_sme", 2025,
                                         make_profile(10, "320000", "innovative_sme", rng, fail=True), on=D)
        service.submit(s, e1, bad.id, on=D)
        assert bad.status == "rejected" and bad.precheck_outcome == "fail"
        a = service.create_application(s, e1, ids["e1"], "innovative_sme", 2025,
                                       make_profile(11, "320000", "innovative_sme", rng), on=D)
        service.submit(s, e1, a.id, on=D)
        score_all(s, a.id, 70)
        service.decide(s, U(s, ids, "admin-js"), a.id, "approve", on=D)
        with pytest.raises(WorkflowError):
            service.file_objection(s, None, a.id, "late", on=D + dt.timedelta(days=9), filed_by="public")
        o = service.file_objection(s, None, a.id, "数据不实", on=D + dt.timedelta(days=2), filed_by="public")
        with pytest.raises(AccessDenied):
            service.resolve_objection(s, U(s, ids, "admin-gd"), o.id, True)
        service.resolve_objection(s, U(s, ids, "admin-js"), o.id, True, "核实")
        assert a.status == "rejected"
        with pytest.raises(IllegalTransition, match="final state"):
            service.close_publicity(s, U(s, ids, "admin-js"), a.id, on=D + dt.timedelta(days=9))


def test_low_scores_rejected_and_withdraw(world):
    store, ids = world
    rng = random.Random(5)
    with store.session() as s:
        e1 = U(s, ids, "ent-e1")
        a = service.create_application(s, e1, ids["e1"], "srdi_sme", 2025, make_profile(12, "320000", "srdi_sme", rng), on=D)
        w = service.create_application(s, e1, ids["e1"], "srdi_sme", 2025, None, on=D)
        with pytest.raises(WorkflowError, match="profile"):
            service.submit(s, e1, w.id, on=D)
        service.withdraw(s, e1, w.id)
        assert w.status == "withdrawn"
        service.submit(s, e1, a.id, on=D)
        with pytest.raises(WorkflowError, match="score"):
            service.submit_score(s, U(s, ids, "rev-js1"), a.id, 101)
        score_all(s, a.id, 40)
        service.decide(s, U(s, ids, "admin-js"), a.id, "reject", "below 60", on=D)
        assert a.status == "rejected" and a.decision_note == "below 60"


def test_annual_update_review_renewal_and_expiry(world):
    store, ids = world
    with store.session() as s:
        ent = U(s, ids, "ent-e2")
        c = s.get(Certification, ids["cert-e2"])
        prof = s.get(Application, ids["app-e2"]).profile
        up = service.annual_update(s, ent, c.id, prof, 2026, on=dt.date(2026, 4, 1))
        assert up.on_time
        with pytest.raises(WorkflowError, match="already"):
            service.annual_update(s, ent, c.id, prof, 2026, on=dt.date(2026, 4, 2))
        late = service.annual_update(s, ent, c.id, prof, 2027, on=dt.date(2027, 5, 15))
        assert not late.on_time
        r = service.enforce_annual_updates(s, U(s, ids, "admin-js"), 2027, on=dt.date(2027, 5, 16))
        assert r == {"lost_review_eligibility": 1, "revoked": 0}
        with pytest.raises(WorkflowError, match="eligibility"):
            service.open_review(s, ent, c.id, prof, on=dt.date(2028, 3, 1))
        c.review_eligible = True  # (restored, e.g. by an admin decision) to exercise the renewal
        with pytest.raises(WorkflowError, match="last year"):
            service.open_review(s, ent, c.id, prof, on=dt.date(2026, 1, 1))
        ra = service.open_review(s, ent, c.id, prof, on=dt.date(2028, 3, 1))
        assert ra.kind == "review" and ra.status == "draft"
        service.submit(s, ent, ra.id, on=dt.date(2028, 3, 1))
        asm = s.query(Assessment).filter_by(application_id=ra.id).one()
        assert asm.mode == "review"
        assert ra.status == "in_review", (ra.tier, ra.precheck_outcome)
        score_all(s, ra.id, 75)
        service.decide(s, U(s, ids, "admin-js"), ra.id, "approve", on=dt.date(2028, 4, 1))
        old_until = c.valid_until
        service.close_publicity(s, U(s, ids, "admin-js"), ra.id, on=dt.date(2028, 4, 10))
        assert ra.status == "renewed" and c.valid_until.year == old_until.year + 3 and c.renewals == 1
        # E3's imported title (2024-01-01 .. 2026-12-31) expires without a review
        assert service.expire_due(s, None, on=dt.date(2027, 1, 2)) >= 1
        assert s.get(Certification, ids["cert-e3"]).status == "expired"


def test_two_missed_updates_revoke(world):
    store, ids = world
    with store.session() as s:
        r = service.enforce_annual_updates(s, None, 2027, on=dt.date(2027, 5, 1))
        assert r["revoked"] >= 1
        assert s.get(Certification, ids["cert-e2"]).status == "revoked"


def test_data_fraud_revokes_all_and_bars(world):
    store, ids = world
    rng = random.Random(6)
    with store.session() as s:
        ent = U(s, ids, "ent-e3")
        with pytest.raises(AccessDenied):
            service.revoke(s, U(s, ids, "admin-js"), ids["e3"], "data_fraud")
        res = service.revoke(s, U(s, ids, "admin-gd"), ids["e3"], "data_fraud", "造假", on=dt.date(2025, 9, 1))
        assert res["revoked"] == 1 and res["closed_applications"] == 1
        assert res["barred_until"] == dt.date(2028, 9, 1)
        assert s.get(Application, ids["app-e3"]).status == "rejected"
        with pytest.raises(WorkflowError, match="barred"):
            service.create_application(s, ent, ids["e3"], "innovative_sme", 2026,
                                       make_profile(13, "440000", "innovative_sme", rng), on=dt.date(2026, 1, 1))
        assert audit.verify(s).ok


def test_login_and_passwords(store):
    with store.session() as s:
        u = roles.create_user(s, "admin", "long-enough-pw", "national_admin")
        assert u.password_hash.startswith("$argon2id$")
        with pytest.raises(ValueError):
            roles.create_user(s, "admin", "long-enough-pw", "national_admin")
        with pytest.raises(ValueError):
            roles.create_user(s, "short", "x", "national_admin")
        with pytest.raises(roles.AuthError):
            roles.login(s, "admin", "wrong-password")
        tok, csrf, _ = roles.login(s, "admin", "long-enough-pw")
        user, ls = roles.session_user(s, tok)
        assert user.username == "admin"
        roles.check_csrf(ls, csrf)
        with pytest.raises(roles.AuthError):
            roles.check_csrf(ls, "forged")
        roles.logout(s, tok)
        s.flush()
        with pytest.raises(roles.AuthError):
            roles.session_user(s, tok)
