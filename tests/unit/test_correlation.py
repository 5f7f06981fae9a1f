"""Incident correlation (spec 6.2 problem management): related incidents by CI and by error code, and a problem
opened from them with every incident linked."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import Event, HumanTask, InstanceLink, ProcessInstance, User
from app.services import correlation, incident
from app.services.errors import Forbidden, NotFound, ValidationFailed
from app.services.instances import complete_task
from tests.integration.helpers import worker_for
from tests.support import record, start_data


def _incident(db, user, ci: str | None, code: str, desk: str = "desk") -> ProcessInstance:
    """An incident recorded by the desk with its CI and error code (field e and f)."""
    instance = incident.record_incident(user(desk), start_data(error_codes=code))
    db.session.flush()
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                     HumanTask.state == "ready"))
    actor = db.session.scalar(select(User).where(User.username == worker_for(task)))
    complete_task(task.id, actor, record(affected_cis=[ci] if ci else [], error_codes=code))
    db.session.flush()
    return instance


@pytest.fixture
def related(db, user):
    made = [_incident(db, user, "SRV-DB-01", "ORA-12170") for _ in range(3)]
    made += [_incident(db, user, "NET-CORE-01", "LINK-DOWN, ERR-42") for _ in range(2)]
    made.append(_incident(db, user, None, "ERR-42"))
    return made


def _by_key(found):
    return {(c.kind, c.key): c for c in found}


def test_related_incidents_by_ci_and_by_error_code(db, user, related):
    found = _by_key(correlation.candidates(user("problem_lead")))
    assert set(found) == {("ci", "SRV-DB-01"), ("error_code", "ORA-12170"), ("error_code", "ERR-42")}
    assert len(found[("ci", "SRV-DB-01")].incidents) == 3 and found[("ci", "SRV-DB-01")].label == "环境质量数据库服务器"
    assert len(found[("error_code", "ERR-42")].incidents) == 3  # two on the switch, one with no CI
    assert found[("ci", "SRV-DB-01")].problems == []
    two = _by_key(correlation.candidates(user("problem_lead"), min_incidents=2))
    assert ("ci", "NET-CORE-01") in two and ("error_code", "LINK-DOWN") in two


def test_open_a_problem_links_every_incident(db, user, related):
    lead = user("problem_lead")
    problem = correlation.open_problem(lead, "ci", "SRV-DB-01")
    assert problem.process_id == "problem" and problem.status == "running"
    started = db.session.scalar(select(Event).where(Event.instance_id == problem.id, Event.seq == 1))
    data = started.data["start_data"]
    assert "SRV-DB-01" in data["summary"] and data["affected_cis"] == ["SRV-DB-01"]
    assert data["category"] == "database" and data["impact"] == "high"
    assert len(data["symptoms"].splitlines()) == 3
    links = db.session.scalars(select(InstanceLink).where(InstanceLink.target_id == problem.id)).all()
    assert sorted(link.source_id for link in links) == sorted(i.id for i in related[:3])
    assert {link.message for link in links} == {correlation.LINK}
    noted = db.session.scalars(select(Event).where(Event.type == "problem_linked")).all()
    assert sorted(e.instance_id for e in noted) == sorted(i.id for i in related[:3])
    again = _by_key(correlation.candidates(lead))
    assert again[("ci", "SRV-DB-01")].problems == [problem]
    assert again[("error_code", "ORA-12170")].problems == [problem]  # the same incidents: the same problem
    assert again[("error_code", "ERR-42")].problems == []


def test_who_sees_and_who_opens(db, user, related):
    for name in ("desk", "line1", "reporter", "service_level_lead"):
        with pytest.raises(Forbidden):
            correlation.candidates(user(name))
    assert correlation.candidates(user("auditor")) and correlation.candidates(user("incident_lead"))
    assert correlation.candidates(user("incident_lead_city"))  # the county is below the city
    for name in ("incident_lead", "auditor", "problem_expert"):
        with pytest.raises(Forbidden):
            correlation.open_problem(user(name), "ci", "SRV-DB-01")
    with pytest.raises(NotFound):
        correlation.open_problem(user("problem_lead"), "ci", "NO-SUCH-CI")


def test_the_city_does_not_see_into_other_counties_and_the_county_not_into_the_city(db, user, related):
    for _ in range(3):
        _incident(db, user, "WEB-PORTAL", "HTTP-502", desk="desk_city")
    county = _by_key(correlation.candidates(user("incident_lead")))
    assert ("ci", "WEB-PORTAL") not in county
    assert ("ci", "WEB-PORTAL") in _by_key(correlation.candidates(user("incident_lead_city")))


@pytest.mark.parametrize(("args", "bad"), [({"days": 0}, "days"), ({"days": "x"}, "days"), ({"days": 400}, "days"),
                                           ({"min_incidents": 1}, "min_incidents"),
                                           ({"min_incidents": "many"}, "min_incidents")])
def test_bad_search_values_are_named(db, user, args, bad):
    with pytest.raises(ValidationFailed) as exc:
        correlation.candidates(user("problem_lead"), **args)
    assert set(exc.value.errors) == {bad}
