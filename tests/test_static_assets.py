"""Static files: content-hashed URLs cached for good, plain URLs revalidated, gzip for those who take it."""
from __future__ import annotations

import re
from pathlib import Path

import httpx

from server.serve import RunningServer
from server.web.static_assets import StaticAssets
from tests.helpers import WAIT_S


def test_a_script_that_imports_a_changed_file_gets_a_new_hash(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text('<script type="module" src="/static/main.js"></script>')
    (tmp_path / "main.js").write_text('import { x } from "/static/lib.js";\nconsole.log(x);\n')
    (tmp_path / "lib.js").write_text("export const x = 1;\n")
    before = StaticAssets(tmp_path)
    main = before.find("main.js")
    assert main is not None and f'from "{before.url("lib.js")}"' in main[0].body.decode()
    assert before.url("main.js") in before.page("page.html")
    (tmp_path / "lib.js").write_text("export const x = 2;\n")
    after = StaticAssets(tmp_path)
    assert after.url("lib.js") != before.url("lib.js")
    assert after.url("main.js") != before.url("main.js")  # its import changed, so its hash did
    assert before.find("../page.html") is None and before.find("nope.js") is None


async def test_pages_load_their_files_by_hash_once_and_revalidate_the_rest(server: RunningServer) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT_S) as http:
        page = await http.get("/", headers={"Accept-Encoding": "gzip"})
        assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
        assert page.headers["content-encoding"] == "gzip" and "Accept-Encoding" in page.headers["vary"]
        hashed = re.findall(r'(?:src|href)="(/static/[^"]+\.[0-9a-f]{10}\.(?:js|css))"', page.text)
        assert any(url.startswith("/static/student.") for url in hashed) and len(hashed) >= 3
        total_wire = int(page.headers["content-length"])  # httpx has decompressed `.content`
        queue, seen = list(hashed), set(hashed)
        while queue:  # the page's files and what their scripts import, as a phone loads them
            url = queue.pop()
            response = await http.get(url, headers={"Accept-Encoding": "gzip"})
            assert response.status_code == 200, url
            assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert response.headers.get("content-encoding") == "gzip"
            total_wire += int(response.headers["content-length"])
            # Its imports point at hashed URLs too, so nothing it loads needs revalidating.
            assert '"/static/common.js"' not in response.text and '"/static/i18n.js"' not in response.text
            for imported in re.findall(r'"(/static/[^"]+\.[0-9a-f]{10}\.js)"', response.text):
                if imported not in seen:
                    seen.add(imported)
                    queue.append(imported)
        catalog = await http.get("/static/locales/en.json", headers={"Accept-Encoding": "gzip"})
        total_wire += int(catalog.headers["content-length"])
        plain = await http.get("/static/locales/en.json", headers={"Accept-Encoding": "identity"})
        assert plain.headers["cache-control"] == "no-cache" and "content-encoding" not in plain.headers
        again = await http.get("/static/locales/en.json", headers={"If-None-Match": plain.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert (await http.get("/static/nope.js")).status_code == 404
        raw = await http.get(hashed[0], headers={"Accept-Encoding": "identity"})
        zipped = await http.get(hashed[0], headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in raw.headers and zipped.headers["content-encoding"] == "gzip"
        assert zipped.content == raw.content and int(zipped.headers["content-length"]) < len(raw.content)
        print(f"\nstudent page on the wire: {total_wire} bytes in {len(seen) + 2} files (gzip)")
        assert total_wire < 60_000  # about 130 KB uncompressed
