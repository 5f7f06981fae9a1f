"""Case search (who sees which cases, filters) and notes on a case, through the service."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import Event, HumanTask, Notification, ProcessInstance
from app.services import cases, incident, instances
from app.services.audit import verify_chain
from app.services.demo import USERS
from app.services.errors import Conflict, Forbidden, ValidationFailed
from tests.replay_support import drive
from tests.support import start_data


@pytest.fixture
def spread(db, user):
    """One incident at each level, recorded by that level's desk; the county one reported by `reporter`."""
    made = {}
    for org, desk_name in (("county", "desk"), ("city", "desk_city"), ("prov", "desk_prov"),
                           ("mee", "desk_national")):
        requester = user("reporter") if org == "county" else None
        made[org] = incident.record_incident(user(desk_name), start_data(symptoms=f"{org} 故障"), requester=requester)
    db.session.flush()
    return made


def _found(actor, scope="visible", **filters):
    rows, _more = cases.search(actor, cases.InstanceFilter(**filters), scope, per_page=200)
    return {i.id for i in rows}


@pytest.mark.parametrize("username", sorted({u[0] for u in USERS}))
def test_the_search_finds_exactly_the_cases_the_case_page_shows(db, user, spread, username):
    """The SQL of the list and can_view_instance (the case page's check) agree for every demo user."""
    actor = user(username)
    made = {i.id: i for i in spread.values()}
    expected = {i for i, inst in made.items() if instances.can_view_instance(actor, inst)}
    assert _found(actor) & set(made) == expected


def test_levels_see_the_cases_below_them_not_above(db, user, spread):
    assert _found(user("desk")) >= {spread["county"].id}
    assert not _found(user("desk")) & {spread["city"].id, spread["prov"].id, spread["mee"].id}
    assert _found(user("desk_prov")) >= {spread["county"].id, spread["city"].id, spread["prov"].id}
    assert spread["mee"].id not in _found(user("desk_prov"))
    assert _found(user("auditor")) >= {i.id for i in spread.values()}


def test_a_requester_sees_their_own_requests_only(db, user, spread):
    assert _found(user("reporter")) == {spread["county"].id}
    assert _found(user("reporter"), "mine") == {spread["county"].id}
    # Staff choose "mine" to see only what they recorded or reported themselves.
    assert _found(user("desk_city"), "mine") == {spread["city"].id}


def test_filters(db, user, spread):
    admin = user("admin")
    county = spread["county"]
    assert _found(admin, business_key=county.business_key.lower()) == {county.id}
    assert _found(admin, text="city 故障") == {spread["city"].id}
    assert _found(admin, organisation="prov") == {spread["prov"].id}
    assert _found(admin, priority=county.priority) >= {county.id}
    assert not _found(admin, priority="P4" if county.priority != "P4" else "P1") & {county.id}
    assert _found(admin, status="completed") & set(i.id for i in spread.values()) == set()


def test_typed_wildcards_match_themselves(db, user):
    desk = user("desk")
    literal = incident.record_incident(desk, start_data(symptoms="磁盘使用率 100% 告警"))
    other = incident.record_incident(desk, start_data(symptoms="磁盘使用率 1000 告警"))
    db.session.flush()
    found = _found(user("admin"), text="100%")
    assert literal.id in found and other.id not in found
    assert not _found(user("admin"), text="_") & {literal.id, other.id}


def test_pages_and_has_next(db, user, spread):
    rows, more = cases.search(user("admin"), cases.InstanceFilter(), per_page=2)
    assert len(rows) == 2 and more
    last, more = cases.search(user("admin"), cases.InstanceFilter(), page=2, per_page=2)
    assert {i.id for i in last}.isdisjoint({i.id for i in rows}) and not more


@pytest.mark.parametrize("args, field", [
    ({"status": "open"}, "status"), ({"priority": "P9"}, "priority"),
    ({"created_from": "yesterday"}, "created_from"), ({"version": "x"}, "version")])
def test_bad_filters_name_the_field(app, args, field):
    with app.test_request_context(), pytest.raises(ValidationFailed) as err:
        cases.InstanceFilter.from_args(args)
    assert field in err.value.errors


def test_a_bad_scope_is_refused(db, user):
    with pytest.raises(ValidationFailed):
        cases.search(user("desk"), cases.InstanceFilter(), "everything")


def test_where_each_case_stands_now(db, user):
    instance = drive("desk_solves", steps=1)
    current = cases.open_tasks_of([instance])
    assert [t.spec_id for t in current[instance.id]] == ["classify_and_first_support"]


# --- notes ---------------------------------------------------------------------------------------------

def _notices(db, username, user):
    return db.session.scalars(select(Notification).where(Notification.user_id == user(username).id,
                                                         Notification.kind == "case_note")).all()


def test_a_note_is_an_event_on_the_chain_and_changes_the_case_version(db, user):
    instance = drive("desk_solves", steps=1)
    version = instance.lock_version
    note = cases.add_note(instance.id, user("desk"), "  已电话联系用户，等待回复  ")
    db.session.commit()
    assert note.type == "note_added" and note.actor_id == user("desk").id
    assert note.data == {"text": "已电话联系用户，等待回复", "internal": False}
    events = db.session.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq)).all()
    assert events[-1].seq == note.seq and verify_chain(events, instance.business_key) == (True, None)
    db.session.refresh(instance)
    assert instance.lock_version == version + 1


def test_a_public_note_tells_the_requester_and_a_requesters_note_tells_the_group(db, user):
    instance = drive("desk_solves", steps=1)  # waiting for the desk (unclaimed) to classify
    cases.add_note(instance.id, user("desk"), "请提供报错截图")
    assert len(_notices(db, "reporter", user)) == 1
    assert _notices(db, "desk", user) == []  # not the author
    cases.add_note(instance.id, user("reporter"), "截图已发邮件")
    db.session.flush()
    assert {n.user_id for n in db.session.scalars(select(Notification).where(Notification.kind == "case_note",
                                                                              Notification.instance_id == instance.id))
            } >= {user("desk").id, user("desk_call").id, user("reporter").id}
    assert "截图已发邮件" in _notices(db, "desk", user)[0].body


def test_a_claimed_task_notifies_its_assignee_only(db, user):
    instance = drive("desk_solves", steps=1)
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                     HumanTask.state == "ready"))
    instances.claim_task(task.id, user("desk"))
    cases.add_note(instance.id, user("reporter"), "补充：上午十点开始")
    db.session.flush()
    assert len(_notices(db, "desk", user)) == 1 and _notices(db, "desk_call", user) == []


def test_internal_notes_are_for_staff(db, user):
    instance = drive("desk_solves", steps=1)
    cases.add_note(instance.id, user("desk"), "疑似数据库连接池耗尽", internal=True)
    db.session.flush()
    assert _notices(db, "reporter", user) == []
    assert cases.notes(instance, user("reporter")) == []
    assert "note_added" not in {e.type for e in cases.readable_events(instance, user("reporter"))}
    assert [n.data["text"] for n in cases.notes(instance, user("line1"))] == ["疑似数据库连接池耗尽"]
    assert len(cases.notes(instance, user("auditor"))) == 1
    with pytest.raises(Forbidden):
        cases.add_note(instance.id, user("reporter"), "内部？", internal=True)


@pytest.mark.parametrize("username", ["auditor"])
def test_auditors_write_no_notes(db, user, username):
    instance = drive("desk_solves", steps=1)
    before = db.session.scalar(select(func.count()).select_from(Event))
    with pytest.raises(Forbidden):
        cases.add_note(instance.id, user(username), "审计意见")
    assert db.session.scalar(select(func.count()).select_from(Event)) == before


def test_a_stranger_writes_no_notes(db, user):
    instance = incident.record_incident(user("desk_city"), start_data())
    db.session.flush()
    with pytest.raises(Forbidden):
        cases.add_note(instance.id, user("desk"), "不是我们单位的工单")


@pytest.mark.parametrize("text", ["", "   ", "x" * (cases.NOTE_MAX_LENGTH + 1)])
def test_empty_or_long_notes_are_refused(db, user, text):
    instance = drive("desk_solves", steps=1)
    with pytest.raises(ValidationFailed) as err:
        cases.add_note(instance.id, user("desk"), text)
    assert "text" in err.value.errors


def test_a_closed_case_takes_no_notes(db, user):
    instance = drive("desk_solves")
    assert instance.status == "completed"
    with pytest.raises(Conflict):
        cases.add_note(instance.id, user("desk"), "补记")
    assert not cases.may_add_note(user("desk"), instance)


def test_notes_of_many_cases_stay_apart(db, user):
    first, second = drive("desk_solves", steps=1), drive("desk_solves", steps=1)
    cases.add_note(first.id, user("desk"), "一")
    cases.add_note(second.id, user("desk"), "二")
    db.session.flush()
    assert [n.data["text"] for n in cases.notes(first, user("desk"))] == ["一"]
    assert db.session.get(ProcessInstance, second.id).event_seq == cases.notes(second, user("desk"))[0].seq


def test_an_auditor_replays_a_note_where_it_happened_and_reexecution_still_agrees(db, user):
    from app.services import replay

    instance = drive("desk_solves", steps=1)
    cases.add_note(instance.id, user("desk"), "正在远程排查", internal=True)
    db.session.commit()
    for spec_id, data in (("classify_and_first_support", {"desk_solved": True, "desk_solution": "重启客户端"}),):
        task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                         HumanTask.spec_id == spec_id, HumanTask.state == "ready"))
        instances.complete_task(task.id, user("desk"), data)
        db.session.commit()
    steps = replay.replay_data(instance)["steps"]
    note = next(s for s in steps if s["type"] == "note_added")
    assert note["detail"] == {"text": "正在远程排查", "internal": True} and note["actor"]
    assert steps.index(note) < next(i for i, s in enumerate(steps) if s["type"] == "task_completed"
                                    and s["element"] == "classify_and_first_support")
    assert replay.reexecute(instance).consistent


# --- files with notes -----------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def test_files_come_with_a_note_and_their_digests_are_on_the_chain(db, user):
    import hashlib

    from app.models import CaseAttachment

    instance = drive("desk_solves", steps=1)
    note = cases.add_note(instance.id, user("reporter"), "", files=[("C:\\Users\\me\\截图.png", PNG),
                                                                  ("系统日志.log", "ORA-12170 连接超时\n".encode())])
    db.session.commit()
    assert note.data["text"] == "" and [a["filename"] for a in note.data["attachments"]] == ["截图.png", "系统日志.log"]
    assert note.data["attachments"][0]["sha256"] == hashlib.sha256(PNG).hexdigest()
    stored = db.session.scalars(select(CaseAttachment).where(CaseAttachment.instance_id == instance.id)).all()
    assert [(a.event_seq, a.content_type, a.size) for a in stored] == [
        (note.seq, "image/png", len(PNG)), (note.seq, "text/plain", len("ORA-12170 连接超时\n".encode()))]
    from app.services.audit_trail import verify_instance

    assert verify_instance(instance) == (True, None)


@pytest.mark.parametrize("name, content, problem", [
    ("截图.png", b"GIF89a not a png", "not a valid .png"),
    ("报告.pdf", b"<html><script>alert(1)</script>", "not a valid .pdf"),
    ("payload.exe", b"MZ\x90\x00", "cannot be attached"),
    ("page.html", b"<html>", "cannot be attached"),
    ("image.svg", b"<svg onload=alert(1)>", "cannot be attached"),
    ("noext", b"data", "cannot be attached"),
    ("日志.txt", b"text\x00\x01binary", "not a valid .txt"),
    ("空.txt", b"", "is empty"),
])
def test_files_are_checked_by_name_and_content(db, user, english, name, content, problem):
    instance = drive("desk_solves", steps=1)
    before = db.session.scalar(select(func.count()).select_from(Event))
    with pytest.raises(ValidationFailed) as err:
        cases.add_note(instance.id, user("desk"), "见附件", files=[(name, content)])
    assert problem in " ".join(err.value.errors["files"])
    assert db.session.scalar(select(func.count()).select_from(Event)) == before


def test_file_count_and_size_limits(app, db, user, monkeypatch):
    instance = drive("desk_solves", steps=1)
    with pytest.raises(ValidationFailed):
        cases.add_note(instance.id, user("desk"), "x", files=[(f"{i}.png", PNG) for i in range(6)])
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", 50)
    with pytest.raises(ValidationFailed) as err:
        cases.add_note(instance.id, user("desk"), "x", files=[("大图.png", PNG)])
    assert "大图.png" in err.value.errors["files"][0]


def test_an_internal_notes_files_are_for_staff(db, user):
    from app.services.errors import NotFound

    instance = drive("desk_solves", steps=1)
    cases.add_note(instance.id, user("desk"), "内部分析", internal=True, files=[("分析.pdf", PDF)])
    db.session.flush()
    att = cases.attachments_of(instance, user("line1"))
    (seq, [f]), = att.items()
    assert cases.attachments_of(instance, user("reporter")) == {}
    assert cases.get_attachment(instance.id, f.id, user("auditor")).data == PDF
    with pytest.raises(NotFound):
        cases.get_attachment(instance.id, f.id, user("reporter"))
    other = drive("desk_solves", steps=1)
    with pytest.raises(NotFound):  # a file is reached only through its own case
        cases.get_attachment(other.id, f.id, user("desk"))


@pytest.mark.parametrize("tamper", ["content", "swap"])
def test_verification_finds_an_altered_file(db, user, tamper):
    from sqlalchemy import update

    from app.models import CaseAttachment
    from app.services.audit_trail import verify_instance

    instance = drive("desk_solves", steps=1)
    cases.add_note(instance.id, user("desk"), "证据", files=[("现场.png", PNG)])
    db.session.commit()
    if tamper == "content":  # the bytes changed, the row's digest left alone
        values = {"data": PNG + b"x"}
    else:  # bytes and row digest both replaced: the chain still records the original digest
        import hashlib

        values = {"data": PNG + b"y", "sha256": hashlib.sha256(PNG + b"y").hexdigest()}
    db.session.execute(update(CaseAttachment).where(CaseAttachment.instance_id == instance.id).values(**values))
    ok, problem = verify_instance(instance)
    assert not ok and "现场.png" in problem
