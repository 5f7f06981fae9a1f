"""Links between instances as every instance answer lists them: both directions, the other end's key and status."""
from __future__ import annotations

from sqlalchemy import select

from app.models import InstanceLink, ProcessInstance
from app.services.messaging import links_of
from tests.replay_support import drive


def test_links_in_both_directions(db):
    incident = drive("escalations_problem_rfc_reopen")
    out = links_of(incident)
    assert [(link["direction"], link["process_id"]) for link in out] == [("out", "problem"), ("out", "change")]
    for link in out:
        other = db.session.get(ProcessInstance, link["instance_id"])
        assert (link["business_key"], link["status"]) == (other.business_key, other.status)
        assert link["message"]
        # Seen from the other end, the same link points back at the incident.
        (back,) = [b for b in links_of(other) if b["instance_id"] == incident.id]
        assert back == {"direction": "in", "message": link["message"], "instance_id": incident.id,
                        "business_key": incident.business_key, "process_id": "incident",
                        "status": incident.status}
    stored = db.session.scalars(select(InstanceLink).where(InstanceLink.source_id == incident.id)
                                .order_by(InstanceLink.id)).all()
    assert [link["instance_id"] for link in out] == [s.target_id for s in stored]


def test_an_unlinked_instance_has_no_links(db):
    assert links_of(drive("desk_solves")) == []
