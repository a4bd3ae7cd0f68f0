"""Tests for duplex.http.static: every rule of the static file responder, with exact statuses and headers."""

from __future__ import annotations

import errno
import mimetypes
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from duplex.http.static import StaticFiles, StaticResponse, http_date

# Sun, 06 Nov 1994 08:49:37 GMT, plus a sub-second part so the ETag shows it uses nanoseconds.
MTIME = 784111777
MTIME_NS = MTIME * 1_000_000_000 + 123_456_789
DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
HELLO = b"Hello, world!\n"  # 14 bytes
HELLO_ETAG = f'"{MTIME_NS:x}-e"'
SECRET = b"TOP SECRET\n"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(MTIME_NS, MTIME_NS))
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A site root, with a secret file and folder beside it (outside)."""
    write(tmp_path / "secret", SECRET)
    write(tmp_path / "outside" / "index.html", SECRET)
    site = tmp_path / "site"
    write(site / "index.html", b"<h1>home</h1>\n")
    write(site / "hello.txt", HELLO)
    write(site / "empty.txt", b"")
    write(site / "sub" / "index.html", b"<h1>sub</h1>\n")
    write(site / "sub" / "page.txt", b"page\n")
    write(site / "sub" / ".secret", SECRET)
    write(site / "nohome" / "file.txt", b"file\n")
    write(site / "evil.com" / "index.html", b"not evil\n")
    write(site / "caf\u00e9 dir" / "index.html", b"cafe\n")
    write(site / "caf\u00e9.txt", b"cafe\n")
    write(site / "space name.txt", b"space\n")
    write(site / ".env", SECRET)
    write(site / ".hidden" / "x.txt", SECRET)
    (site / "escape").symlink_to(tmp_path / "secret")
    (site / "escape_dir").symlink_to(tmp_path / "outside")
    (site / "inner_link.txt").symlink_to(site / "hello.txt")
    (site / "homedir" / "index.html").mkdir(parents=True)  # a "homepage" that is a folder
    (site / "linkhome").mkdir()
    (site / "linkhome" / "index.html").symlink_to(tmp_path / "secret")
    return site


@pytest.fixture
def files(root: Path) -> StaticFiles:
    return StaticFiles(root)


def get(
    files: StaticFiles, path: str, headers: Mapping[str, str] | None = None, method: str = "GET"
) -> StaticResponse:
    return files.respond(method, path, headers or {})


def header_map(response: StaticResponse) -> dict[str, str]:
    names = [name.lower() for name, _ in response.headers]
    assert len(names) == len(set(names)), f"repeated header in {response.headers}"
    return {name: value for name, value in response.headers}


def assert_error(response: StaticResponse, status: int, reason: str) -> None:
    body = f"{status} {reason}\n".encode()
    assert response.status == status
    assert response.body == body
    assert response.file_path is None
    assert response.length == 0
    headers = header_map(response)
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Length"] == str(len(body))


def assert_not_served(response: StaticResponse) -> None:
    """A refused request: 404 with the short text body, and nothing of the secret."""
    assert_error(response, 404, "Not Found")
    assert SECRET not in response.body


# --- GET and HEAD ---------------------------------------------------------------------------------


def test_get_file(files: StaticFiles, root: Path) -> None:
    response = get(files, "/hello.txt")
    assert response.status == 200
    assert response.headers == [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Accept-Ranges", "bytes"),
        ("Last-Modified", DATE),
        ("ETag", HELLO_ETAG),
        ("Content-Length", "14"),
    ]
    assert response.body == b""
    assert response.file_path == os.path.realpath(root / "hello.txt")
    assert (response.offset, response.length) == (0, 14)


def test_head_is_get_without_sending_the_body(files: StaticFiles) -> None:
    assert get(files, "/hello.txt", method="HEAD") == get(files, "/hello.txt")
    assert get(files, "/sub", method="HEAD") == get(files, "/sub")
    assert get(files, "/missing", method="HEAD") == get(files, "/missing")


def test_empty_file(files: StaticFiles) -> None:
    response = get(files, "/empty.txt")
    assert response.status == 200
    assert header_map(response)["Content-Length"] == "0"
    assert (response.offset, response.length) == (0, 0)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "get", "head", ""])
def test_other_methods_are_405(files: StaticFiles, method: str) -> None:
    response = get(files, "/hello.txt", method=method)
    assert_error(response, 405, "Method Not Allowed")
    assert header_map(response)["Allow"] == "GET, HEAD"


def test_missing_file_is_404(files: StaticFiles) -> None:
    response = get(files, "/missing.txt")
    assert_error(response, 404, "Not Found")
    assert response.body == b"404 Not Found\n"
    assert header_map(response)["Content-Length"] == "14"


def test_missing_root_is_404(tmp_path: Path) -> None:
    files = StaticFiles(tmp_path / "nowhere")
    assert_error(get(files, "/"), 404, "Not Found")
    assert_error(get(files, "/x.txt"), 404, "Not Found")


def test_query_string_left_on_is_ignored(files: StaticFiles) -> None:
    assert get(files, "/hello.txt?download=1").status == 200


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/caf%C3%A9.txt", "caf\u00e9.txt"),
        ("/space%20name.txt", "space name.txt"),
        ("/%68ello.txt", "hello.txt"),
        ("//hello.txt", "hello.txt"),
        ("/sub//page.txt", "sub/page.txt"),
        ("/sub%2Fpage.txt", "sub/page.txt"),
    ],
)
def test_encoded_and_doubled_paths(files: StaticFiles, root: Path, path: str, name: str) -> None:
    response = get(files, path)
    assert response.status == 200
    assert response.file_path == os.path.realpath(root / name)


def test_path_that_is_not_a_file_name(files: StaticFiles) -> None:
    assert_error(get(files, "/hello.txt+"), 404, "Not Found")  # "+" is not a space in a path


# --- Content-Type ----------------------------------------------------------------------------------

CONTENT_TYPES = [
    ("app.js", "text/javascript; charset=utf-8"),
    ("UPPER.JS", "text/javascript; charset=utf-8"),
    ("module.mjs", "text/javascript; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("page.html", "text/html; charset=utf-8"),
    ("page.htm", "text/html; charset=utf-8"),
    ("notes.txt", "text/plain; charset=utf-8"),
    ("picture.svg", "image/svg+xml"),
    ("code.wasm", "application/wasm"),
    ("data.json", "application/json"),
    ("image.png", "image/png"),
    ("font.woff2", "font/woff2"),
    ("archive.tar.gz", "application/gzip"),
    ("archive.tgz", "application/gzip"),
    ("blob.qqqzz", "application/octet-stream"),
    ("no_extension", "application/octet-stream"),
]


@pytest.mark.parametrize(("name", "content_type"), CONTENT_TYPES)
def test_content_type(files: StaticFiles, root: Path, name: str, content_type: str) -> None:
    write(root / name, b"x")
    assert header_map(get(files, "/" + name))["Content-Type"] == content_type


def test_web_types_do_not_depend_on_host_tables(
    files: StaticFiles, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A host whose tables call everything text/plain (old Windows registries did so for .js).
    def host_guess(url: str, strict: bool = True) -> tuple[str | None, str | None]:
        return "text/plain", None

    monkeypatch.setattr(mimetypes, "guess_type", host_guess)
    for name, content_type in CONTENT_TYPES[:11]:
        write(root / name, b"x")
        assert header_map(get(files, "/" + name))["Content-Type"] == content_type
    write(root / "readme.md", b"x")
    assert header_map(get(files, "/readme.md"))["Content-Type"] == "text/plain; charset=utf-8"


def test_file_names_that_look_like_urls(files: StaticFiles, root: Path) -> None:
    write(root / "data:text.png", b"x")
    assert header_map(get(files, "/data:text.png"))["Content-Type"] == "image/png"


# --- validators and conditional requests -----------------------------------------------------------


def test_etag_is_strong_and_follows_mtime_and_size(files: StaticFiles, root: Path) -> None:
    assert header_map(get(files, "/hello.txt"))["ETag"] == HELLO_ETAG
    write(root / "hello.txt", b"Hello, world!!\n")
    assert header_map(get(files, "/hello.txt"))["ETag"] == f'"{MTIME_NS:x}-f"'
    os.utime(root / "hello.txt", ns=(MTIME_NS, MTIME_NS + 1))
    assert header_map(get(files, "/hello.txt"))["ETag"] == f'"{MTIME_NS + 1:x}-f"'


def assert_not_modified(response: StaticResponse) -> None:
    assert response.status == 304
    # RFC 9110 section 15.4.5: no body; validators only; no Content-Length.
    assert response.headers == [("Last-Modified", DATE), ("ETag", HELLO_ETAG)]
    assert response.body == b""
    assert response.file_path is None
    assert response.length == 0


@pytest.mark.parametrize(
    "if_none_match",
    [
        HELLO_ETAG,
        "W/" + HELLO_ETAG,
        f'"other", {HELLO_ETAG}',
        f'"a,b",W/{HELLO_ETAG} , "c"',
        "*",
        " * ",
    ],
)
def test_if_none_match_gives_304(files: StaticFiles, if_none_match: str) -> None:
    assert_not_modified(get(files, "/hello.txt", {"if-none-match": if_none_match}))
    assert_not_modified(get(files, "/hello.txt", {"if-none-match": if_none_match}, method="HEAD"))


@pytest.mark.parametrize("if_none_match", ['"other"', 'W/"x"', HELLO_ETAG[1:-1], "", "garbage", '"'])
def test_if_none_match_without_match_gives_200(files: StaticFiles, if_none_match: str) -> None:
    assert get(files, "/hello.txt", {"if-none-match": if_none_match}).status == 200


def test_if_none_match_on_directory_homepage(files: StaticFiles, root: Path) -> None:
    etag = header_map(get(files, "/"))["ETag"]
    response = get(files, "/", {"if-none-match": etag})
    assert response.status == 304
    assert header_map(response)["ETag"] == etag


@pytest.mark.parametrize(
    "date",
    [
        DATE,
        "Sun, 06 Nov 1994 08:49:38 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",  # RFC 850
        "Sun Nov  6 08:49:37 1994",  # asctime
        "Fri, 01 Jan 2100 00:00:00 GMT",
    ],
)
def test_if_modified_since_not_modified_gives_304(files: StaticFiles, date: str) -> None:
    assert_not_modified(get(files, "/hello.txt", {"if-modified-since": date}))
    assert_not_modified(get(files, "/hello.txt", {"if-modified-since": date}, method="HEAD"))


@pytest.mark.parametrize(
    "date",
    [
        "Sun, 06 Nov 1994 08:49:36 GMT",
        "Thu, 01 Jan 1970 00:00:00 GMT",
        "garbage",
        "",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Nov 1994",
        "1994-11-06T08:49:37Z",
    ],
)
def test_if_modified_since_modified_or_unparsable_gives_200(files: StaticFiles, date: str) -> None:
    assert get(files, "/hello.txt", {"if-modified-since": date}).status == 200


def test_if_modified_since_ignored_when_if_none_match_present(files: StaticFiles) -> None:
    response = get(files, "/hello.txt", {"if-none-match": '"other"', "if-modified-since": DATE})
    assert response.status == 200


def test_if_match(files: StaticFiles) -> None:
    assert get(files, "/hello.txt", {"if-match": HELLO_ETAG}).status == 200
    assert get(files, "/hello.txt", {"if-match": f'"x", {HELLO_ETAG}'}).status == 200
    assert get(files, "/hello.txt", {"if-match": "*"}).status == 200
    assert_error(get(files, "/hello.txt", {"if-match": '"other"'}), 412, "Precondition Failed")
    # If-Match uses the strong comparison: a weak tag never matches.
    assert_error(get(files, "/hello.txt", {"if-match": "W/" + HELLO_ETAG}), 412, "Precondition Failed")


def test_if_unmodified_since(files: StaticFiles) -> None:
    assert get(files, "/hello.txt", {"if-unmodified-since": DATE}).status == 200
    assert get(files, "/hello.txt", {"if-unmodified-since": "garbage"}).status == 200
    earlier = {"if-unmodified-since": "Sun, 06 Nov 1994 08:49:36 GMT"}
    assert_error(get(files, "/hello.txt", earlier), 412, "Precondition Failed")
    # Ignored when If-Match is present (RFC 9110 section 13.1.4).
    assert get(files, "/hello.txt", {**earlier, "if-match": HELLO_ETAG}).status == 200


def test_precondition_order(files: StaticFiles) -> None:
    # If-Match fails before If-None-Match is looked at.
    response = get(files, "/hello.txt", {"if-match": '"other"', "if-none-match": HELLO_ETAG})
    assert response.status == 412
    # A 304 wins over Range.
    response = get(files, "/hello.txt", {"if-none-match": HELLO_ETAG, "range": "bytes=0-1"})
    assert_not_modified(response)


# --- Range -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_field", "first", "last"),
    [
        ("bytes=0-4", 0, 4),
        ("bytes=0-0", 0, 0),
        ("bytes=13-13", 13, 13),
        ("bytes=5-1000", 5, 13),
        ("bytes=0-99999999999999999999999999", 0, 13),
        ("bytes=7-", 7, 13),
        ("bytes=0-", 0, 13),
        ("bytes=-6", 8, 13),
        ("bytes=-14", 0, 13),
        ("bytes=-100", 0, 13),
        ("Bytes=2-3", 2, 3),
        (" bytes=2-3 ", 2, 3),
        ("bytes=2-3, ,", 2, 3),
        ("bytes= 2-3", 2, 3),
    ],
)
def test_single_range_gives_206(
    files: StaticFiles, root: Path, range_field: str, first: int, last: int
) -> None:
    response = get(files, "/hello.txt", {"range": range_field})
    assert response.status == 206
    assert response.headers == [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Accept-Ranges", "bytes"),
        ("Last-Modified", DATE),
        ("ETag", HELLO_ETAG),
        ("Content-Range", f"bytes {first}-{last}/14"),
        ("Content-Length", str(last - first + 1)),
    ]
    assert response.file_path == os.path.realpath(root / "hello.txt")
    assert (response.offset, response.length) == (first, last - first + 1)
    assert response.body == b""


@pytest.mark.parametrize(
    "range_field", ["bytes=14-", "bytes=14-20", "bytes=100-200", "bytes=-0", "bytes=99999999999999999999999-"]
)
def test_unsatisfiable_range_gives_416(files: StaticFiles, range_field: str) -> None:
    response = get(files, "/hello.txt", {"range": range_field})
    assert_error(response, 416, "Range Not Satisfiable")
    assert header_map(response)["Content-Range"] == "bytes */14"


@pytest.mark.parametrize(
    "range_field",
    [
        "bytes=0-1,3-4",  # several ranges: the whole file
        "bytes=0-1, 20-30",
        "bytes=20-30,40-50",
        "bytes=abc",
        "bytes=5-2",
        "bytes=",
        "bytes=-",
        "bytes=--1",
        "bytes=1-2-3",
        "bytes=+1-2",
        "bytes=0x1-2",
        "bytes=\u0661-2",  # ARABIC-INDIC DIGIT ONE is not an ASCII digit
        "bytes 0-1",
        "items=0-1",
        "",
        "bytes=" + "9" * 5000 + "-",  # too many digits for int()
    ],
)
def test_multiple_or_malformed_range_gives_whole_file(files: StaticFiles, range_field: str) -> None:
    response = get(files, "/hello.txt", {"range": range_field})
    assert response.status == 200
    assert (response.offset, response.length) == (0, 14)
    assert "Content-Range" not in header_map(response)


def test_head_ignores_range(files: StaticFiles) -> None:
    # RFC 9110 section 14.2: range handling is defined for GET only.
    response = get(files, "/hello.txt", {"range": "bytes=0-4"}, method="HEAD")
    assert response == get(files, "/hello.txt", method="HEAD")
    assert response.status == 200


def test_range_on_empty_file_is_ignored(files: StaticFiles) -> None:
    for range_field in ["bytes=0-", "bytes=-5", "bytes=3-4"]:
        response = get(files, "/empty.txt", {"range": range_field})
        assert response.status == 200
        assert header_map(response)["Content-Length"] == "0"


@pytest.mark.parametrize("if_range", [HELLO_ETAG, DATE, f" {HELLO_ETAG} "])
def test_if_range_matching_keeps_range(files: StaticFiles, if_range: str) -> None:
    response = get(files, "/hello.txt", {"range": "bytes=0-4", "if-range": if_range})
    assert response.status == 206
    assert header_map(response)["Content-Range"] == "bytes 0-4/14"


@pytest.mark.parametrize(
    "if_range",
    [
        '"other"',
        "W/" + HELLO_ETAG,  # weak tags never match in If-Range
        "Sun, 06 Nov 1994 08:49:38 GMT",  # later than Last-Modified: not an exact match
        "Sun, 06 Nov 1994 08:49:36 GMT",
        "garbage",
        "",
    ],
)
def test_if_range_not_matching_gives_whole_file(files: StaticFiles, if_range: str) -> None:
    response = get(files, "/hello.txt", {"range": "bytes=0-4", "if-range": if_range})
    assert response.status == 200
    assert (response.offset, response.length) == (0, 14)


def test_if_range_without_range_is_ignored(files: StaticFiles) -> None:
    assert get(files, "/hello.txt", {"if-range": '"other"'}).status == 200


# --- traversal, symlinks, dotfiles -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/../secret",
        "/%2e%2e/secret",
        "/%2E%2e/secret",
        "/sub/%2E%2E/%2e%2e/secret",
        "/sub/../../secret",
        "/..%2fsecret",
        "/%2E%2e%2fsecret",
        "/sub/..%2F..%2Fsecret",
        "/..",
        "/../",
        "/sub/..",
        "/./hello.txt",
        "/%2e/hello.txt",
        "/..\\secret",
        "/%5c..%5csecret",
        "/sub%5C..%5C..%5Csecret",
        "/hello.txt\\",
        "/../outside/",
        "/%2e%2e/outside/index.html",
    ],
)
def test_traversal_is_404(files: StaticFiles, path: str) -> None:
    assert_not_served(get(files, path))
    assert_not_served(get(files, path, method="HEAD"))


@pytest.mark.parametrize(
    "path",
    [
        "/hello.txt%00",
        "/hello.txt%00.html",
        "/%00/../secret",
        "/a%0ab",
        "/a%0D%0AX-Injected: 1",
        "/a%7f",
        "/%ff",  # not UTF-8
        "/%C3%28",  # not UTF-8
        "/%",
        "/%2",
        "/%zz",
        "/100%",
        "hello.txt",
        "",
        "*",
        "http://example.com/hello.txt",
    ],
)
def test_malformed_path_is_400(files: StaticFiles, path: str) -> None:
    assert_error(get(files, path), 400, "Bad Request")


def test_symlink_inside_root_is_served(files: StaticFiles, root: Path) -> None:
    response = get(files, "/inner_link.txt")
    assert response.status == 200
    assert response.file_path == os.path.realpath(root / "hello.txt")


@pytest.mark.parametrize(
    "path",
    [
        "/escape",
        "/escape_dir/",
        "/escape_dir",
        "/escape_dir/index.html",
        "/linkhome/",
        "/linkhome/index.html",
    ],
)
def test_symlink_out_of_root_is_404(files: StaticFiles, path: str) -> None:
    assert_not_served(get(files, path))


def test_symlinked_root(tmp_path: Path, root: Path) -> None:
    link = tmp_path / "link_to_site"
    link.symlink_to(root)
    files = StaticFiles(link)
    response = get(files, "/hello.txt")
    assert response.status == 200
    assert response.file_path == os.path.realpath(root / "hello.txt")
    assert_not_served(get(files, "/escape"))


def test_root_given_with_dots_and_slash(root: Path) -> None:
    files = StaticFiles(str(root / "sub" / "..") + "/")
    assert get(files, "/hello.txt").status == 200
    assert_not_served(get(files, "/escape"))


@pytest.mark.parametrize(
    "path", ["/.env", "/%2eenv", "/.hidden/x.txt", "/.hidden/", "/sub/.secret", "/.missing"]
)
def test_dotfiles_are_404(files: StaticFiles, path: str) -> None:
    assert_not_served(get(files, path))


# --- directories -----------------------------------------------------------------------------------


def test_root_serves_homepage(files: StaticFiles, root: Path) -> None:
    response = get(files, "/")
    assert response.status == 200
    assert response.file_path == os.path.realpath(root / "index.html")
    headers = header_map(response)
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Length"] == "14"
    assert response.length == 14


def test_directory_with_slash_serves_homepage(files: StaticFiles, root: Path) -> None:
    response = get(files, "/sub/")
    assert response.status == 200
    assert response.file_path == os.path.realpath(root / "sub" / "index.html")


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/sub", "/sub/"),
        ("//sub", "/sub/"),
        ("/sub%2F%2F..", None),  # dot segment: refused before any redirect
        ("//evil.com", "/evil.com/"),
        ("///evil.com", "/evil.com/"),
        ("/evil.com", "/evil.com/"),
        ("/caf%C3%A9%20dir", "/caf%C3%A9%20dir/"),
    ],
)
def test_directory_without_slash_redirects(files: StaticFiles, path: str, location: str | None) -> None:
    response = get(files, path)
    if location is None:
        assert_not_served(response)
        return
    assert_error(response, 301, "Moved Permanently")
    assert header_map(response)["Location"] == location
    assert not header_map(response)["Location"].startswith("//")


@pytest.mark.parametrize("path", ["/nohome/", "/nohome", "/homedir/", "/homedir"])
def test_directory_without_homepage_is_404(files: StaticFiles, path: str) -> None:
    assert_not_served(get(files, path))


def test_file_with_trailing_slash_is_404(files: StaticFiles) -> None:
    assert_not_served(get(files, "/hello.txt/"))
    assert_not_served(get(files, "/sub/page.txt/"))


def test_custom_homepage(root: Path) -> None:
    write(root / "sub" / "home.htm", b"home")
    files = StaticFiles(root, default_homepage="home.htm")
    assert files.default_homepage == "home.htm"
    assert files.root == os.fspath(root)
    response = get(files, "/sub/")
    assert response.status == 200
    assert response.file_path == os.path.realpath(root / "sub" / "home.htm")
    assert_not_served(get(files, "/"))


def test_homepage_in_a_subfolder(root: Path) -> None:
    write(root / "docs" / "pages" / "start.html", b"start")
    files = StaticFiles(root, default_homepage="pages/start.html")
    response = get(files, "/docs/")
    assert response.status == 200
    assert response.file_path == os.path.realpath(root / "docs" / "pages" / "start.html")


def test_no_homepage(root: Path) -> None:
    files = StaticFiles(root, default_homepage="")
    assert_not_served(get(files, "/"))
    assert_not_served(get(files, "/sub/"))
    assert get(files, "/hello.txt").status == 200


@pytest.mark.parametrize("homepage", ["/etc/passwd", "../secret", "a/../../b", "\\x"])
def test_homepage_outside_root_is_refused(root: Path, homepage: str) -> None:
    with pytest.raises(ValueError, match="default_homepage"):
        StaticFiles(root, default_homepage=homepage)


# --- file system errors ----------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_are_404(files: StaticFiles, root: Path) -> None:
    os.mkfifo(root / "pipe")
    assert_not_served(get(files, "/pipe"))


def test_unreadable_file_is_403(files: StaticFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    real_access = os.access

    def access(path: str, mode: int, **kwargs: object) -> bool:
        if path.endswith("hello.txt"):
            return False
        return real_access(path, mode)

    monkeypatch.setattr(os, "access", access)
    assert_error(get(files, "/hello.txt"), 403, "Forbidden")
    assert get(files, "/sub/page.txt").status == 200


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads everything")
def test_unreadable_file_on_disk_is_403(files: StaticFiles, root: Path) -> None:
    (root / "hello.txt").chmod(0)
    try:
        assert_error(get(files, "/hello.txt"), 403, "Forbidden")
    finally:
        (root / "hello.txt").chmod(0o644)


def failing_stat(failure: OSError) -> Callable[..., os.stat_result]:
    real_stat = os.stat

    def stat(path: str, *args: object, **kwargs: object) -> os.stat_result:
        if os.fspath(path).endswith("hello.txt"):
            raise failure
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    return stat


@pytest.mark.parametrize(
    ("failure", "status", "reason"),
    [
        (PermissionError(errno.EACCES, "denied"), 403, "Forbidden"),
        (FileNotFoundError(errno.ENOENT, "gone"), 404, "Not Found"),
        (OSError(errno.ENAMETOOLONG, "long"), 404, "Not Found"),
        (OSError(errno.ELOOP, "loop"), 404, "Not Found"),
        (OSError(errno.EIO, "disk"), 500, "Internal Server Error"),
    ],
)
def test_os_errors(
    files: StaticFiles, monkeypatch: pytest.MonkeyPatch, failure: OSError, status: int, reason: str
) -> None:
    monkeypatch.setattr(os, "stat", failing_stat(failure))
    assert_error(get(files, "/hello.txt"), status, reason)


def test_real_name_too_long_is_404(files: StaticFiles) -> None:
    assert_not_served(get(files, "/" + "a" * 5000))
    assert_not_served(get(files, "/" + "a/" * 3000))


def test_symlink_loop_is_404(files: StaticFiles, root: Path) -> None:
    (root / "loop_a").symlink_to(root / "loop_b")
    (root / "loop_b").symlink_to(root / "loop_a")
    assert_not_served(get(files, "/loop_a"))


def test_extreme_mtime_still_answers(files: StaticFiles, root: Path) -> None:
    huge = 10**17 * 1_000_000_000  # far past year 9999: no HTTP date can say it
    try:
        os.utime(root / "hello.txt", ns=(huge, huge))
    except (OSError, OverflowError, ValueError):
        pytest.skip("the file system refuses such a date")
    response = get(files, "/hello.txt")
    assert response.status == 200
    headers = header_map(response)
    assert headers["ETag"] == f'"{os.stat(root / "hello.txt").st_mtime_ns:x}-e"'


def test_never_raises(files: StaticFiles) -> None:
    paths = [
        "/",
        "/hello.txt",
        "/%",
        "/%ff%fe",
        "/\u00e9",
        "/\ud800",
        "/" + "%2e" * 100,
        "/a" * 2000,
        "/\x00",
    ]
    values = ["", "*", '"', "W/", ",,,", "bytes=", "\u00e9", "Sun, 99 Zzz 9999 99:99:99 GMT", "0 Jan 0000"]
    names = ["range", "if-range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"]
    for path in paths:
        for value in values:
            for method in ["GET", "HEAD"]:
                response = files.respond(method, path, dict.fromkeys(names, value))
                assert 200 <= response.status < 600


# --- http_date -------------------------------------------------------------------------------------


def test_http_date() -> None:
    assert http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert http_date(MTIME) == DATE
    assert http_date(MTIME + 0.9) == DATE
