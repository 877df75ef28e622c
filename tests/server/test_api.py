"""The JSON API through the real app: auth, roles, tenants, limits, ask/search/feedback/traces."""

from __future__ import annotations

import io
import json

import pytest

from tests.server.conftest import auth

QUESTION = "How many days of paid vacation does every employee get?"


def test_healthz_is_the_only_route_without_credentials(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    schema = client.get("/openapi.json", headers=auth(client.keys.admin) if hasattr(client, "keys") else {})
    paths = client.app.openapi()["paths"]
    assert len(paths) >= 14
    for path, ops in paths.items():
        concrete = path.replace("{doc_id}", "x").replace("{trace_id}", "x").replace("{upload_id}", "x") \
            .replace("{page}", "1")
        for method in ops:
            r = client.request(method.upper(), concrete)
            if path == "/healthz":
                assert r.status_code == 200
            else:
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                assert r.json()["error"]["type"] == "AuthError"
    assert schema.status_code == 200  # the schema itself describes the API, no data


def test_bad_credentials_are_401(client, leak_corpus):
    keys, _ = leak_corpus
    for headers in ({"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"},
                    {"Authorization": "Bearer cl_deadbeef_wrong"}, auth(keys.revoked),
                    auth(keys.member[:-3] + "xyz")):
        r = client.get("/api/me", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["www-authenticate"] == "Bearer"
        assert keys.member not in r.text


def test_roles(client, leak_corpus):
    keys, docs = leak_corpus
    member = auth(keys.member)
    assert client.get("/metrics", headers=member).status_code == 403
    assert client.delete(f"/api/documents/{docs['benefits.md']}", headers=member).status_code == 403
    r = client.post("/api/documents", headers=member, files={"file": ("a.md", b"# hi\n\nsome text")})
    assert r.status_code == 403
    assert client.get("/api/uploads", headers=member).status_code == 403
    assert client.get("/api/me", headers=member).json()["role"] == "member"
    assert client.get("/metrics", headers=auth(keys.admin)).status_code == 200


def test_other_tenant_and_unreadable_documents_are_404(client, leak_corpus):
    keys, docs = leak_corpus
    member, acme = auth(keys.member), auth(keys.acme_admin)
    for doc_id in (docs["salary-bands.md"], docs["acme-salaries.md"], "no-such-document"):
        for url in (f"/api/documents/{doc_id}", f"/api/documents/{doc_id}/pages/1"):
            r = client.get(url, headers=member)
            assert r.status_code == 404, url
            assert "Salary" not in r.text and "ZEBRA" not in r.text
    # the HR member reads the HR document; the acme admin cannot see default's, nor delete it
    assert client.get(f"/api/documents/{docs['salary-bands.md']}/pages/1", headers=auth(keys.hr)).status_code == 200
    assert client.get(f"/api/documents/{docs['benefits.md']}", headers=acme).status_code == 404
    assert client.delete(f"/api/documents/{docs['benefits.md']}", headers=acme).status_code == 404
    assert client.get(f"/api/documents/{docs['acme-salaries.md']}", headers=acme).status_code == 200


def test_ask_returns_a_cited_answer_and_stores_a_trace(client, leak_corpus):
    keys, docs = leak_corpus
    r = client.post("/api/ask", json={"question": QUESTION}, headers=auth(keys.member))
    assert r.status_code == 200
    body = r.json()
    assert body["decision"] == "answered"
    assert "25 days" in body["answer"]
    c = body["citations"][0]
    assert c["document_id"] == docs["benefits.md"]
    page = client.get(f"/api/documents/{c['document_id']}/pages/{c['page']}", headers=auth(keys.member)).json()
    assert page["text"][c["start"]:c["end"]] == c["quote"]
    trace = client.get(f"/api/traces/{body['trace_id']}", headers=auth(keys.member)).json()
    assert trace["question"] == QUESTION and trace["decision"] == "answered"
    assert trace["response"]["retrieved"] and trace["response"]["timings_ms"]["total"] > 0
    assert trace["config_hash"] and trace["cost_usd"] == 0.0
    assert trace["groups"] == ["everyone"]


def test_ask_streams_server_sent_events(client, leak_corpus):
    keys, _ = leak_corpus
    with client.stream("POST", "/api/ask", json={"question": QUESTION, "stream": True},
                       headers=auth(keys.member)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = r.read().decode()
    events = [block for block in text.split("\n\n") if block.strip()]
    assert events[-1].startswith("event: final\ndata: ")
    final = json.loads(events[-1].split("data: ", 1)[1])
    assert final["decision"] == "answered" and final["trace_id"]


@pytest.mark.parametrize("question", ["", "   ", "\x00\x01\x02", "x" * 9000, "¿Cuántos días de vacaciones?"])
def test_odd_questions_get_a_clear_decision(client, leak_corpus, question):
    keys, _ = leak_corpus
    r = client.post("/api/ask", json={"question": question}, headers=auth(keys.member))
    assert r.status_code == 200
    body = r.json()
    assert body["decision"] in ("answered", "declined")
    if body["decision"] == "declined":
        assert body["reason"]


def test_bad_payloads(client, leak_corpus):
    keys, _ = leak_corpus
    h = auth(keys.member) | {"content-type": "application/json"}
    r = client.post("/api/ask", content=b"{not json", headers=h)
    assert r.status_code == 422 and r.json()["error"]["type"] == "ValidationError"
    r = client.post("/api/ask", json={"q": "where"}, headers=auth(keys.member))
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "body.question"
    r = client.post("/api/ask", json={"question": 42}, headers=auth(keys.member))
    assert r.status_code == 422
    r = client.post("/api/ask", content=b'{"question": "' + b"a" * 300_000 + b'"}', headers=h)
    assert r.status_code == 413 and "256 KB" in r.json()["error"]["message"]
    r = client.post("/api/feedback", json={"trace_id": "x", "rating": "sideways"}, headers=auth(keys.member))
    assert r.status_code == 422 and "rating" in r.json()["error"]["message"]
    r = client.get("/api/search", params={"q": "vacation", "k": 500}, headers=auth(keys.member))
    assert r.status_code == 422


def test_feedback_attaches_to_own_traces_only(client, leak_corpus):
    keys, _ = leak_corpus
    tid = client.post("/api/ask", json={"question": QUESTION}, headers=auth(keys.member)).json()["trace_id"]
    r = client.post("/api/feedback", json={"trace_id": tid, "rating": "down", "comment": "too short"},
                    headers=auth(keys.member))
    assert r.status_code == 200 and r.json()["stored"]
    # again: replaces, never duplicates
    client.post("/api/feedback", json={"trace_id": tid, "rating": "down", "comment": "far too short"},
                headers=auth(keys.member))
    fb = client.get(f"/api/traces/{tid}", headers=auth(keys.member)).json()["feedback"]
    assert [f["comment"] for f in fb] == ["far too short"]
    # another member, another tenant, an unknown trace: 404
    for key, trace_id in ((keys.member2, tid), (keys.acme_admin, tid), (keys.member, "0" * 32)):
        r = client.post("/api/feedback", json={"trace_id": trace_id, "rating": "up"}, headers=auth(key))
        assert r.status_code == 404
        assert client.get(f"/api/traces/{trace_id}", headers=auth(key)).status_code == 404
    # the admin of the tenant sees it, with the thumbs-down, and can filter on it
    admin = auth(keys.admin)
    assert client.get(f"/api/traces/{tid}", headers=admin).status_code == 200
    down = client.get("/api/traces", params={"rating": "down"}, headers=admin).json()["traces"]
    assert tid in [t["id"] for t in down]
    mine = client.get("/api/traces", headers=auth(keys.member2)).json()["traces"]
    assert tid not in [t["id"] for t in mine]
    metrics = client.get("/metrics", headers=admin).text
    assert 'citeline_feedback_total{rating="down"}' in metrics
    assert 'citeline_answers_total{answerer="extractive",decision="answered"}' in metrics
    assert 'citeline_stage_seconds_bucket{le="0.005",stage="keyword"}' in metrics


def test_search_is_permission_filtered(client, leak_corpus):
    keys, docs = leak_corpus
    hits = client.get("/api/search", params={"q": "salary band senior engineer"}, headers=auth(keys.member)).json()
    assert docs["salary-bands.md"] not in [h["document_id"] for h in hits["hits"]]
    hits = client.get("/api/search", params={"q": "salary band senior engineer"}, headers=auth(keys.hr)).json()
    assert hits["hits"][0]["document_id"] == docs["salary-bands.md"]


def test_documents_listing(client, leak_corpus):
    keys, docs = leak_corpus
    member = client.get("/api/documents", headers=auth(keys.member)).json()["documents"]
    assert {d["id"] for d in member} == {docs["careers.md"], docs["benefits.md"]}
    assert all("acl" not in d for d in member)
    admin = client.get("/api/documents", headers=auth(keys.admin)).json()["documents"]
    assert {d["id"] for d in admin} == {docs[n] for n in ("careers.md", "benefits.md", "salary-bands.md",
                                                            "litigation.md")}


def test_upload_limits_and_background_ingestion(client, leak_corpus):
    keys, _ = leak_corpus
    admin = auth(keys.admin)
    r = client.post("/api/documents", headers=admin, files={"file": ("big.md", io.BytesIO(b"a" * (1024 * 1024 + 10)))})
    assert r.status_code == 413 and "1 MB" in r.json()["error"]["message"]
    r = client.post("/api/documents", headers=admin, files={"file": ("tool.exe", b"MZ\x90\x00")})
    assert r.status_code == 415 and ".pdf" in r.json()["error"]["message"]
    r = client.post("/api/documents", headers=admin, files={"file": ("empty.md", b"")})
    assert r.status_code == 415
    r = client.post("/api/documents", headers=admin, data={"acl": "ops"},
                    files={"file": ("../../runbook.md", b"# Runbook\n\nRestart the billing daemon with the blue "
                                                        b"lever, code RUNBOOK-LEVER-88.")})
    assert r.status_code == 202
    up = r.json()
    assert up["status"] == "queued" and up["acl"] == ["ops"]
    broken = client.post("/api/documents", headers=admin, files={"file": ("broken.pdf", b"%PDF-1.7 garbage")}).json()
    assert client.app.state.citeline.uploads.wait_idle(120)
    done = client.get(f"/api/uploads/{up['id']}", headers=admin).json()
    assert done["status"] == "done", done
    failed = client.get(f"/api/uploads/{broken['id']}", headers=admin).json()
    assert failed["status"] == "failed" and failed["error"]
    path = client.app.state.citeline.store.get_upload(up["id"], tenant="default").path
    assert "/uploads/default/" in path and ".." not in path
    # readable by its group only; searchable at once
    hits = client.get("/api/search", params={"q": "billing daemon lever"}, headers=admin).json()["hits"]
    assert hits and hits[0]["document_id"] == done["document_id"]
    hits = client.get("/api/search", params={"q": "billing daemon lever"}, headers=auth(keys.member)).json()["hits"]
    assert done["document_id"] not in [h["document_id"] for h in hits]
    assert client.delete(f"/api/documents/{done['document_id']}", headers=admin).status_code == 204
    assert client.get(f"/api/documents/{done['document_id']}", headers=admin).status_code == 404


def test_openai_compatible_chat(client, leak_corpus):
    keys, _ = leak_corpus
    h = auth(keys.member)
    models = client.get("/v1/models", headers=h).json()
    assert models["object"] == "list" and models["data"][0]["id"] == "citeline"
    body = {"model": "citeline", "messages": [{"role": "system", "content": "be brief"},
                                              {"role": "user", "content": QUESTION}]}
    r = client.post("/v1/chat/completions", json=body, headers=h).json()
    assert r["object"] == "chat.completion"
    content = r["choices"][0]["message"]["content"]
    assert "25 days" in content and "Sources:\n[1]" in content
    assert r["citations"][0]["quote"] and r["citeline"]["decision"] == "answered"
    assert client.get(f"/api/traces/{r['citeline']['trace_id']}", headers=h).json()["route"] == "/v1/chat/completions"
    with client.stream("POST", "/v1/chat/completions", json=body | {"stream": True}, headers=h) as s:
        lines = [ln for ln in s.read().decode().splitlines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(ln[6:]) for ln in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "25 days" in "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    r = client.post("/v1/chat/completions", json=body | {"model": "gpt-5"}, headers=h)
    assert r.status_code == 400 and "citeline" in r.json()["error"]["message"]
    r = client.post("/v1/chat/completions", json={"model": "citeline", "messages": []}, headers=h)
    assert r.status_code == 422


def test_web_session_cookie_and_csrf(client, leak_corpus):
    keys, _ = leak_corpus
    client.cookies.clear()
    r = client.get("/", headers={"accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = client.post("/login", data={"key": "cl_bad_key", "next": "/"}, follow_redirects=False)
    assert r.status_code == 401
    r = client.post("/login", data={"key": keys.member, "next": "//evil.example/"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get("/")
    assert page.status_code == 200 and "content-security-policy" in page.headers
    csrf = page.text.split('window.CSRF = "', 1)[1].split('"', 1)[0]
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 403
    assert client.post("/api/ask", json={"question": QUESTION}, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/admin/traces", headers={"accept": "text/html"}).status_code == 403
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False).status_code == 303
    client.cookies.clear()


def test_rate_limit_per_key(server_settings, leak_corpus, embedder):
    from fastapi.testclient import TestClient

    from citeline.server.app import create_app

    keys, _ = leak_corpus
    limited = server_settings.model_copy(update={"server": server_settings.server.model_copy(
        update={"rate_limit_per_minute": 60, "rate_limit_burst": 3})})
    with TestClient(create_app(limited, embedder=embedder)) as c:
        codes = [c.get("/api/me", headers=auth(keys.member2)).status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[-1] == 429
        r = c.get("/api/me", headers=auth(keys.member2))
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert c.get("/api/me", headers=auth(keys.admin)).status_code == 200  # per key
