"""Monitoring intake over HTTP: Alertmanager and Zabbix webhooks, integration tokens, de-duplication."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import select

from app.models import Event, HumanTask, Incident, MonitoringAlert, Organisation
from app.services import monitoring

# A real Alertmanager v4 webhook body (node_exporter on the demo database server), firing.
FIRING = {
    "version": "4",
    "groupKey": "{}:{alertname=\"HostOutOfDiskSpace\"}",
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "itsm",
    "groupLabels": {"alertname": "HostOutOfDiskSpace"},
    "commonLabels": {"alertname": "HostOutOfDiskSpace", "job": "node", "severity": "critical"},
    "commonAnnotations": {"summary": "Host out of disk space"},
    "externalURL": "http://alertmanager.example.org:9093",
    "alerts": [{
        "status": "firing",
        "labels": {"alertname": "HostOutOfDiskSpace", "device": "/dev/sda1", "instance": "srv-db-01:9100",
                   "job": "node", "mountpoint": "/", "severity": "critical"},
        "annotations": {"summary": "Host out of disk space (instance srv-db-01:9100)",
                        "description": "Disk is almost full (< 10% left)"},
        "startsAt": "2026-11-25T08:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=node_filesystem_avail_bytes",
        "fingerprint": "a1b2c3d4e5f60718",
    }],
}


def _resolved(payload: dict) -> dict:
    body = copy.deepcopy(payload)
    body["status"] = "resolved"
    for alert in body["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = "2026-11-25T08:30:00.000Z"
    return body


ZABBIX_PROBLEM = {
    "event_id": "48213", "event_name": "High CPU utilization (over 90% for 5m)", "host": "net-core-01",
    "host_ip": "10.0.0.1", "severity": "High", "status": "PROBLEM", "trigger_id": "22401",
    "event_time": "2026.11.25 16:00:00", "opdata": "Current utilization: 97 %",
    "url": "https://zabbix.example.org/tr_events.php?triggerid=22401&eventid=48213",
}


@pytest.fixture
def token(db) -> str:
    org = db.session.scalar(select(Organisation).where(Organisation.code == "mee"))
    account = monitoring.create_integration_account("prometheus", org)
    db.session.commit()
    return monitoring.issue_integration_token(account)


def _post(client, path: str, body: dict, token: str):
    return client.post(f"/api/v1/integrations/{path}", json=body, headers={"Authorization": f"Bearer {token}"})


def _events(db, instance_id: int) -> list[str]:
    return [e.type for e in db.session.scalars(select(Event).where(Event.instance_id == instance_id)
                                                 .order_by(Event.seq))]


def test_alertmanager_firing_repeated_resolved(client, db, token):
    first = _post(client, "alertmanager", FIRING, token)
    assert first.status_code == 200, first.json
    (raised,) = first.json["incidents"]
    assert raised["business_key"].startswith("INC-") and first.json["results"][0]["action"] == "created"
    incident = db.session.scalar(select(Incident).where(Incident.instance_id == raised["id"]))
    assert incident.channel == "system" and (incident.impact, incident.urgency) == ("high", "high")
    assert [link.ci.code for link in incident.cis] == ["SRV-DB-01"]
    assert incident.organisation.code == "county" and "HostOutOfDiskSpace" in incident.symptoms
    # Raised through incident.bpmn: the county desk records it.
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == raised["id"]))
    assert task.candidate_group == "service_desk" and task.state == "ready"

    again = _post(client, "alertmanager", FIRING, token)
    assert again.json["results"][0]["action"] == "updated" and again.json["results"][0]["count"] == 2
    assert again.json["incidents"][0]["business_key"] == raised["business_key"]
    alert = db.session.scalar(select(MonitoringAlert).where(MonitoringAlert.fingerprint == "a1b2c3d4e5f60718"))
    assert alert.count == 2

    cleared = _post(client, "alertmanager", _resolved(FIRING), token)
    assert cleared.json["results"][0]["action"] == "resolved"
    assert cleared.json["incidents"][0]["business_key"] == raised["business_key"]
    events = _events(db, raised["id"])
    assert events.count("alert_received") == 1 and "alert_repeated" in events and "alert_resolved" in events
    # Not forced: the record task still waits for the desk.
    assert db.session.get(HumanTask, task.id).state == "ready"
    alert = db.session.scalar(select(MonitoringAlert).where(MonitoringAlert.fingerprint == "a1b2c3d4e5f60718"))
    assert alert.status == "resolved" and alert.ends_at is not None
    # The CI's monitoring view lists it.
    page = _login(client, db, "line1").get("/cmdb/SRV-DB-01/monitoring").data.decode()
    assert "HostOutOfDiskSpace" in page and raised["business_key"] in page


def _login(client, db, username: str):
    from app.models import User

    u = db.session.scalar(select(User).where(User.username == username))
    with client.session_transaction() as sess:
        sess["_user_id"] = u.get_id()
        sess["_fresh"] = True
    return client


def test_zabbix_problem_repeated_resolved(client, db, token):
    first = _post(client, "zabbix", ZABBIX_PROBLEM, token)
    assert first.status_code == 200, first.json
    key = first.json["incidents"][0]["business_key"]
    incident = db.session.scalar(select(Incident).where(Incident.number == key))
    assert [link.ci.code for link in incident.cis] == ["NET-CORE-01"]
    assert (incident.impact, incident.urgency) == ("high", "medium")
    assert incident.occurred_at is not None
    repeat = _post(client, "zabbix", ZABBIX_PROBLEM, token)
    assert repeat.json["results"][0] == {"action": "updated", "fingerprint": "48213", "count": 2,
                                         "incident": {"id": incident.instance_id, "business_key": key,
                                                      "status": incident.status}}
    resolved = _post(client, "zabbix", {**ZABBIX_PROBLEM, "status": "RESOLVED",
                                        "recovery_time": "2026.11.25 16:20:00"}, token)
    assert resolved.json["results"][0]["action"] == "resolved"
    assert "alert_resolved" in _events(db, incident.instance_id)
    # Another problem with an unknown host still raises an incident, without CIs, for the account's organisation.
    other = _post(client, "zabbix", {**ZABBIX_PROBLEM, "event_id": "50001", "host": "unknown-host",
                                     "host_ip": "192.0.2.1", "severity": "Warning"}, token)
    inc = db.session.scalar(select(Incident).where(Incident.number == other.json["incidents"][0]["business_key"]))
    assert inc.cis == [] and inc.organisation.code == "mee" and inc.impact == "medium"
    bad = _post(client, "zabbix", {"event_name": "x"}, token)
    assert bad.status_code == 400 and "event_id" in bad.json["errors"]


def test_only_integration_tokens_on_the_webhooks_and_nowhere_else(client, db, token, api_as):
    assert client.post("/api/v1/integrations/alertmanager", json=FIRING).status_code == 401
    assert _post(client, "alertmanager", FIRING, "nonsense").status_code == 401
    user_headers = api_as("service_desk")
    assert client.post("/api/v1/integrations/alertmanager", json=FIRING, headers=user_headers).status_code == 401
    integration = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/tasks", headers=integration).status_code == 401
    assert client.get("/api/v1/cis", headers=integration).status_code == 401


def test_cli_prints_a_working_token(app, db, client):
    result = app.test_cli_runner().invoke(args=["create-integration-token", "zabbix-prod", "--organisation", "county"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    response = _post(client, "zabbix", {**ZABBIX_PROBLEM, "event_id": "777"}, token)
    assert response.status_code == 200 and response.json["results"][0]["action"] == "created"


def test_the_same_first_alert_twice_at_once_counts_as_a_repeat(client, db, token, monkeypatch):
    """Two requests race on a new alert: the one that loses the unique insert becomes a repeat, not a 500."""
    first = _post(client, "zabbix", ZABBIX_PROBLEM, token)
    assert first.status_code == 200 and first.json["results"][0]["action"] == "created"
    # The loser read "no such alert" before the winner committed: replay that by hiding the row from the
    # first lookup only; its insert then hits the unique constraint.
    real_scalar = db.session.scalar
    calls = {"n": 0}

    def stale_first_lookup(stmt, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if "monitoring_alert" in str(stmt) and calls["n"] == 0:
            calls["n"] += 1
            return None
        return real_scalar(stmt, *args, **kwargs)

    monkeypatch.setattr(db.session, "scalar", stale_first_lookup)
    second = _post(client, "zabbix", ZABBIX_PROBLEM, token)
    monkeypatch.undo()
    assert second.status_code == 200, second.json
    assert second.json["results"][0]["action"] == "updated" and second.json["results"][0]["count"] == 2
    alerts = db.session.scalars(select(MonitoringAlert).where(MonitoringAlert.fingerprint.like("%48213%"))).all()
    assert len(alerts) == 1 and alerts[0].count == 2
    assert db.session.scalar(select(Incident.id).where(Incident.id != alerts[0].incident_id,
                                                       Incident.symptoms.like("%High CPU%"))) is None


def test_an_alert_firing_again_after_its_case_was_cancelled_opens_a_new_case(client, db, token, user):
    """A cancelled incident is no longer anyone's work: the alert's next firing must not disappear into it."""
    from app.services import admin

    first = _post(client, "alertmanager", FIRING, token).json["incidents"][0]
    admin.cancel_instance(first["id"], user("admin"), "raised by mistake")
    db.session.commit()
    again = _post(client, "alertmanager", FIRING, token)
    assert again.json["results"][0]["action"] == "created"
    (second,) = again.json["incidents"]
    assert second["business_key"] != first["business_key"]
    assert "alert_repeated" not in _events(db, first["id"])
    assert db.session.scalar(select(Incident).where(Incident.instance_id == first["id"])).status == "cancelled"


def test_alert_severities_read_in_the_ui_language(client, db, token, login_as):
    import copy

    _post(client, "alertmanager", FIRING, token)
    odd = copy.deepcopy(FIRING)
    odd["alerts"][0].update(fingerprint="odd-one", labels={**odd["alerts"][0]["labels"], "severity": "P0-custom",
                                                            "alertname": "Custom"})
    _post(client, "alertmanager", odd, token)
    db.session.commit()
    staff = login_as("configuration_lead")
    page = staff.get("/cmdb/SRV-DB-01/monitoring").get_data(as_text=True)
    assert "<td>严重</td>" in page and "<td>P0-custom</td>" in page  # a level we do not know stays as sent
    assert "<td>Critical</td>" in staff.get("/cmdb/SRV-DB-01/monitoring?lang=en").get_data(as_text=True)
