"""Knowledge base over HTTP: search page and API, article page hits and feedback, uploads, the desk's lookup."""
from __future__ import annotations

import io

from sqlalchemy import select

from app.models import HumanTask, KnowledgeArticle
from app.services.incident import record_incident


def _demo_article(db) -> KnowledgeArticle:
    return db.session.scalar(select(KnowledgeArticle).where(KnowledgeArticle.title == "数据库连接超时的处理方法"))


def test_api_search_ranks_the_article_for_words_and_near_misses(client, api_as, db):
    art = _demo_article(db)
    for q in ("数据库 超时", "数据裤连接超时", "数据库链接超时"):
        response = client.get("/api/v1/knowledge", query_string={"q": q}, headers=api_as("service_desk"))
        assert response.status_code == 200
        assert response.json[0]["ref"] == f"KB-{art.id}" and response.json[0]["kind"] == "article", q
    assert client.get("/api/v1/knowledge?q=x").status_code == 401


def test_search_page_article_page_feedback_and_upload(login_as, db):
    art = _demo_article(db)
    desk = login_as("service_desk")
    assert f"KB-{art.id}" in desk.get("/knowledge", query_string={"q": "数据库链接超时"}).data.decode()
    before = art.hits
    assert desk.get(f"/knowledge/{art.id}").status_code == 200
    assert db.session.get(KnowledgeArticle, art.id).hits == before + 1
    desk.post(f"/knowledge/{art.id}/feedback", data={"helpful": "yes"})
    login_as("support_line_1").post(f"/knowledge/{art.id}/feedback", data={"helpful": "no"})
    assert (art.helpful_count, art.not_helpful_count) == (1, 1)
    upload = {"file": (io.BytesIO("监听器日志路径说明".encode()), "log.txt")}
    up = desk.post(f"/knowledge/{art.id}/attachments", data=upload, content_type="multipart/form-data",
                   follow_redirects=True)
    assert "log.txt" in up.data.decode()
    assert f"KB-{art.id}" in desk.get("/knowledge", query_string={"q": "监听器日志"}).data.decode()
    refused = login_as("requester").post(f"/knowledge/{art.id}/attachments",
                                         data={"file": (io.BytesIO(b"x"), "a.txt")}, content_type="multipart/form-data")
    assert refused.status_code == 403


def test_the_desk_lookup_on_the_task_page_uses_the_ranked_search(login_as, db, user):
    from app.services.instances import complete_task
    from tests.support import record, start_data

    art = _demo_article(db)
    desk_user = user("desk")
    instance = record_incident(desk_user, start_data(symptoms="监测系统报数据库链接超时"))
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id, HumanTask.state == "ready"))
    complete_task(task.id, desk_user, record(symptoms="监测系统报数据库链接超时"))
    db.session.commit()
    lookup = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                       HumanTask.state == "ready"))
    assert lookup.spec_id == "classify_and_first_support"
    desk = login_as("service_desk")
    assert f"KB-{art.id}" in desk.get(f"/tasks/{lookup.id}").data.decode()  # from the symptoms (near miss)
    assert f"KB-{art.id}" in desk.get(f"/tasks/{lookup.id}", query_string={"q": "数据裤连接超时"}).data.decode()
