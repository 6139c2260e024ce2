"""The Content-Security-Policy of every page, and pages that work under it: no inline
script, style or handler anywhere (tests/browser runs the pages under it)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from tests import harness

BASE = harness.BASE_DIR
DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy(header: str) -> dict[str, str]:
    directives = (part.strip().split(None, 1) for part in header.split(";"))
    return {d[0]: d[1] if len(d) > 1 else "" for d in directives if d}


@pytest.mark.parametrize("path", ["/login/", "/register/", "/admin/login/"])
def test_pages_carry_the_content_security_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert policy(response["Content-Security-Policy"]).items() >= DIRECTIVES.items()


class Tags(HTMLParser):
    """The script and style elements of a page, and the attributes of every element."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.styles = 0
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))
        elif tag == "style":
            self.styles += 1
        self.attributes += attrs


def test_the_api_docs_page_runs_no_inline_code_and_serves_its_start_up_script(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert "Content-Security-Policy" in response
    page = Tags()
    page.feed(response.content.decode())
    assert page.styles == 0
    assert page.scripts and all(s.get("src") for s in page.scripts), page.scripts
    start_up = page.scripts[-1]["src"]
    script = client.get(start_up)
    assert script.status_code == 200
    assert "javascript" in script["Content-Type"]
    assert b"SwaggerUIBundle(" in script.content
    # its assets come from the site itself (the sidecar): the policy allows no CDN
    assert all(s["src"].startswith("/") for s in page.scripts)


#: what a policy without 'unsafe-inline' blocks, as it appears in templates and scripts
INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I),
    "event handler attribute": re.compile(r"<[a-z][^<>\n]*\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[a-z][^<>\n]*\sstyle\s*=", re.I),
    "style element": re.compile(r"<style[\s>]", re.I),
    "javascript: URL": re.compile(r"[\"'`=]\s*javascript:", re.I),
    "style set as an attribute": re.compile(r"setAttribute\(\s*['\"]style['\"]"),
    "style attribute given to ui.el()": re.compile(r"[{,]\s*style\s*:"),
}


def sources() -> list:
    return [
        *sorted((BASE / "templates").rglob("*.html")),
        *sorted(p for p in (BASE / "static" / "js").glob("*.js")),
    ]


def test_templates_and_scripts_hold_no_code_the_policy_would_block():
    found = [
        f"{path.relative_to(BASE)}: {what}: {match.group(0)!r}"
        for path in sources()
        for what, pattern in INLINE.items()
        for match in pattern.finditer(path.read_text())
    ]
    assert len(sources()) > 10
    assert found == []
