"""Static files are cache-busted by their content."""

from __future__ import annotations

from cati.web.routes import static_token


def test_static_token_follows_content(tmp_path):
    (tmp_path / "a.css").write_text("body { color: black; }")
    first = static_token(tmp_path)
    assert static_token(tmp_path) == first
    (tmp_path / "a.css").write_text("body { color: navy; }")
    assert static_token(tmp_path) != first
