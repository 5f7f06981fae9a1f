"""Knowledge search: jieba words, BM25 ranking, fuzzy bigrams, known errors, attachments, feedback, hits."""
from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import select

from app.models import KnowledgeArticle, KnowledgeTerm, KnownError
from app.services import knowledge
from app.services.errors import Forbidden, ValidationFailed
from app.services.incident import report_fault


def _article(db, title: str, body: str, status: str = "published") -> KnowledgeArticle:
    art = KnowledgeArticle(title=title, body=body, category="other", status=status)
    db.session.add(art)
    db.session.flush()
    return art


def _refs(query: str, limit: int = 10) -> list[str]:
    return [h.ref for h in knowledge.search(query, limit)]


def test_segmentation_works_offline_with_the_bundled_dictionary():
    assert {"数据库", "连接", "超时"} <= set(knowledge.words("数据库连接超时"))
    assert "#裤连" in knowledge.bigrams("数据裤连接超时")


@pytest.mark.parametrize("query", ["数据库 超时", "数据库连接超时", "数据裤连接超时", "数据库链接超时", "连接 超时"])
def test_an_article_is_found_by_words_and_near_misses(db, query):
    target = _article(db, "监测平台数据库连接超时", "应用访问 Oracle 时报连接超时，检查监听和连接池。")
    _article(db, "打印机卡纸处理", "打开前盖取出卡纸。")
    _article(db, "数据中心空调告警", "检查空调制冷和温度传感器。")
    refs = _refs(query)
    assert refs and refs[0] == f"KB-{target.id}", refs


def test_unrelated_queries_find_nothing_and_ranking_prefers_the_title(db):
    strong = _article(db, "交换机端口故障", "端口灯不亮时检查光模块。")
    weak = _article(db, "机房巡检记录", "巡检时顺带看了交换机。")
    ranked = [h.ref for h in knowledge.search("交换机", 10)]
    assert ranked.index(f"KB-{strong.id}") < ranked.index(f"KB-{weak.id}")  # in the title beats in the body
    assert _refs("量子纠缠通信卫星") == []
    draft = _article(db, "草稿里的量子纠缠", "未发布", status="draft")
    assert f"KB-{draft.id}" not in _refs("量子纠缠")


def test_the_index_follows_edits(db):
    art = _article(db, "邮件服务器证书过期", "更新证书。")
    assert f"KB-{art.id}" in _refs("证书过期")
    art.title, art.body = "邮件服务器磁盘已满", "清理日志。"
    db.session.flush()
    assert f"KB-{art.id}" not in _refs("证书过期") and f"KB-{art.id}" in _refs("磁盘已满")
    terms = set(db.session.scalars(select(KnowledgeTerm.term).where(KnowledgeTerm.article_id == art.id)))
    assert "磁盘" in terms and "证书" not in terms


def test_known_errors_are_searchable_from_the_same_box(db, user):
    instance = report_fault(user("reporter"), {"symptoms": "占位", "reporter_name": "r", "reporter_contact": "r"})
    db.session.add(KnownError(instance_id=instance.id, problem_key="PRB-20261125-0099", title="中间件线程池耗尽",
                              root_cause="线程池配置过小", workaround="临时调大线程池并重启中间件"))
    db.session.flush()
    hits = knowledge.search("线程池耗尽")
    assert [(h.kind, h.ref) for h in hits][:1] == [("known_error", "PRB-20261125-0099")]


def _docx(paragraphs: list[str]) -> bytes:
    body = "".join(f'<w:p><w:r><w:t xml:space="preserve">{p}</w:t></w:r></w:p>' for p in paragraphs)
    xml = ('<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
           f'wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>')
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", xml)
    return buf.getvalue()


def _xlsx(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_attachment_text_is_extracted_and_indexed(db, user):
    art = _article(db, "备份作业说明", "见附件。")
    op = user("knowledge_operator")
    knowledge.add_attachment(op, art, "步骤.docx", _docx(["第一步：停止归档进程", "第二步：校验&amp;恢复"]))
    knowledge.add_attachment(op, art, "清单.xlsx", _xlsx([["设备", "磁带库"], ["容量", "120TB"]]))
    knowledge.add_attachment(op, art, "说明.txt", "联系存储厂商工程师".encode("gb18030"))
    db.session.flush()
    assert "停止归档进程" in art.attachment_text and "校验&恢复" in art.attachment_text
    for query in ("归档进程", "磁带库", "存储厂商"):
        assert f"KB-{art.id}" in _refs(query), query
    assert [a.filename for a in knowledge.attachments(art)] == ["步骤.docx", "清单.xlsx", "说明.txt"]
    with pytest.raises(ValidationFailed):
        knowledge.add_attachment(user("knowledge_operator"), art, "x.exe", b"MZ")
    with pytest.raises(ValidationFailed):
        knowledge.add_attachment(user("knowledge_operator"), art, "bad.docx", b"not a zip")
    with pytest.raises(Forbidden):
        knowledge.add_attachment(user("reporter"), art, "a.txt", b"x")


def test_feedback_and_hits(db, user):
    art = _article(db, "VPN无法连接", "重新导入证书。")
    knowledge.give_feedback(user("line1"), art, True)
    knowledge.give_feedback(user("line2"), art, False)
    knowledge.give_feedback(user("line2"), art, True)  # changed their mind
    knowledge.give_feedback(user("line1"), art, True)  # same verdict twice counts once
    assert (art.helpful_count, art.not_helpful_count) == (2, 0)
    knowledge.record_view(art)
    knowledge.record_view(art)
    assert art.hits == 2
    with pytest.raises(Forbidden):
        knowledge.give_feedback(user("auditor"), art, True)


def test_reindex_rebuilds_the_index_after_an_upgrade(app, db):
    from sqlalchemy import delete, func, select

    from app.models import KnowledgeArticle
    from app.models.knowledge import KnowledgeTerm
    from app.services.knowledge import reindex_all, search

    db.session.add(KnowledgeArticle(title="数据库连接超时的处理", body="重启监听器", category="database",
                                    status="published"))
    db.session.flush()
    db.session.execute(delete(KnowledgeTerm))  # as after the migration: articles but no index
    assert not [h for h in search("数据库 超时") if h.kind == "article"]
    assert reindex_all() >= 1
    assert db.session.scalar(select(func.count()).select_from(KnowledgeTerm)) > 0
    assert [h for h in search("数据库 超时") if h.kind == "article"]
    result = app.test_cli_runner().invoke(args=["knowledge-reindex"])
    assert result.exit_code == 0 and "reindexed" in result.output
