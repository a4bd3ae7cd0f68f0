"""Static files from one root folder: request in, :class:`StaticResponse` out.

Theory of operation: :meth:`StaticFiles.respond` takes the method, the raw (still percent-encoded)
path and the request headers, looks at the file system with ``realpath``/``stat``/``access`` only,
and returns the status, the headers and either a small generated body or the slice of a file
(``file_path``, ``offset``, ``length``) for the HTTP server to send. It never opens a file, never
touches a socket and never raises for anything a client can send.

Decisions (each one is tested in ``tests/web/test_static.py``):

- Methods: GET and HEAD; anything else is 405 with ``Allow: GET, HEAD``. Method names are
  case-sensitive (RFC 9110 section 9.1), so ``get`` is 405 too.
- Malformed paths are 400: not starting with ``/``, a ``%`` not followed by two hex digits,
  percent-decoded bytes that are not UTF-8, or a control character (``%00`` to ``%1F``, ``%7F``).
- Paths that are well formed but never served are 404, so a prober learns nothing more than "not
  here": a ``..`` segment (raw or encoded, ``%2F`` counts as ``/`` since decoding comes first), a
  backslash anywhere, any segment starting with ``.`` (dotfiles and dot folders such as ``.git``
  or ``.env``), and any path whose ``realpath`` is outside the root's ``realpath`` (a symlink inside
  the root that points outside it). Symlinks that stay inside the root are followed. The dotfile
  rule looks at the request path, not at the target of a symlink the site owner made.
- Empty segments are dropped, so ``/a//b`` is ``/a/b``.
- A directory with a trailing slash (``/`` included) serves its ``default_homepage``; without the
  slash it gets a 301 to the slash form, so relative links in the page resolve. The ``Location``
  is rebuilt from the cleaned, re-encoded segments: it always starts with exactly one ``/``, so it
  cannot become ``//evil.com``; the query string (which this module never sees) is not kept. A
  directory without a homepage is 404, with or without the slash (no listings).
- A file asked for with a trailing slash, and anything that is not a regular file or directory
  (FIFOs, devices, sockets), is 404.
- ``PermissionError`` (a file that is not readable, a folder that cannot be searched) is 403;
  "no such file"-like errors are 404; any other ``OSError`` (such as EIO) is 500.
- ``Content-Type``: a built-in table for the web's own types wins over the host's ``mimetypes``
  tables (which on some systems map ``.js`` to ``text/plain``); a compressed file (``.gz``,
  ``.tgz``, ...) is served as its compression format, never with ``Content-Encoding``; unknown is
  ``application/octet-stream``. Only ``text/*`` gets ``; charset=utf-8``: JSON is UTF-8 by
  definition and has no charset parameter (RFC 8259 section 11), XML/SVG declare their own.
- Validators: ``Last-Modified`` (seconds) and a strong ``ETag`` ``"<mtime_ns hex>-<size hex>"``.
- Preconditions in RFC 9110 section 13.2.2 order: ``If-Match`` (strong), else
  ``If-Unmodified-Since``, failing is 412; then ``If-None-Match`` (weak comparison, ``*`` matches),
  else ``If-Modified-Since``, matching is 304. Dates that do not parse are ignored.
- A 304 has no body and no ``Content-Length`` (RFC 9110 section 8.6 allows one only if it equals
  the 200's length; leaving it out is simplest), only ``ETag`` and ``Last-Modified``.
- ``Range`` is honoured for GET only: RFC 9110 section 14.2 defines range handling for GET alone,
  so HEAD with ``Range`` answers like a plain HEAD (200). One range (``a-b``, ``a-``, ``-n``) is
  206 with ``Content-Range``; an unsatisfiable one is 416 with ``Content-Range: bytes */size``.
  Several ranges: the whole file with 200 (allowed by RFC 9110, and no multipart bodies to build).
  A malformed ``Range``, one with another unit, or one on an empty file is ignored (200).
  ``If-Range`` that does not match (a weak or different ETag, a date other than
  ``Last-Modified``, garbage) also means 200 with the whole file.
- Error bodies are one line of ``text/plain`` such as ``404 Not Found``.
- The file is checked at request time; it may still change before the server sends it, which the
  server must tolerate (send at most ``length`` bytes).
"""

from __future__ import annotations

import calendar
import contextlib
import errno
import mimetypes
import os
import re
import stat
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_tz

__all__ = ["StaticFiles", "StaticResponse", "http_date"]

_NO_HEADERS: Mapping[str, str] = {}


@dataclass(frozen=True)
class StaticResponse:
    """What to answer to one static-file request.

    Attributes:
        status: The HTTP status code.
        headers: Response headers, ``Content-Length`` included (except on 304, which has none).
        body: A small generated body (error pages, redirects); empty when ``file_path`` is set.
        file_path: The resolved path of the file to send a slice of, or ``None``.
        offset: The first byte of the file to send.
        length: How many bytes of the file to send.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    file_path: str | None = None
    offset: int = 0
    length: int = 0


def http_date(timestamp: float) -> str:
    """Format a POSIX timestamp as an HTTP date (IMF-fixdate, RFC 9110 section 5.6.7).

    Args:
        timestamp: Seconds since the epoch.

    Returns:
        A date such as ``"Sun, 06 Nov 1994 08:49:37 GMT"``.
    """
    return formatdate(timestamp, usegmt=True)


_REASONS = {
    301: "Moved Permanently",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    416: "Range Not Satisfiable",
    500: "Internal Server Error",
}

# The web's own types, fixed here because host tables differ (Windows registries have long mapped
# .js to text/plain, which browsers refuse for module scripts). RFC 9239 makes text/javascript the
# one JavaScript type.
_CONTENT_TYPES = {
    ".html": "text/html",
    ".htm": "text/html",
    ".css": "text/css",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".cjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
    ".xml": "application/xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/vnd.microsoft.icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".pdf": "application/pdf",
}

# mimetypes reports .gz and friends as an "encoding" of the inner type; sending that inner type
# without Content-Encoding would make the browser misread the bytes, so the file is its archive.
_COMPRESSED_TYPES = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
    "compress": "application/x-compress",
}

_DEFAULT_TYPE = "application/octet-stream"

_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
# RFC 3986 pchar minus the unreserved characters that quote() keeps anyway.
_PATH_SAFE = "!$&'()*+,;=:@"
# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE (RFC 9110 section 8.8.3); etagc allows commas, so a
# list cannot be split on commas.
_ENTITY_TAG = re.compile(r'(W/)?"([^"]*)"')
# ASCII digits only: \d and int() would also accept other scripts' digits.
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")

_NOT_FOUND_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EINVAL})


class _Unsatisfiable:
    """Marker: the ``Range`` header is valid but asks for nothing the file has."""


_UNSATISFIABLE = _Unsatisfiable()


def _error(status: int, extra_headers: list[tuple[str, str]] | None = None) -> StaticResponse:
    body = f"{status} {_REASONS[status]}\n".encode("ascii")
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    if extra_headers:
        headers.extend(extra_headers)
    return StaticResponse(status, headers, body)


def _content_type(path: str) -> str:
    extension = os.path.splitext(path)[1].lower()
    content_type = _CONTENT_TYPES.get(extension)
    if content_type is None:
        # Only the extension is passed: guess_type reads its argument as a URL, and a file named
        # "data:..." or holding "?" would be misparsed.
        guessed, encoding = mimetypes.guess_type("file" + extension)
        if encoding is not None:
            content_type = _COMPRESSED_TYPES.get(encoding, _DEFAULT_TYPE)
        else:
            content_type = guessed or _DEFAULT_TYPE
    if content_type.startswith("text/"):
        return content_type + "; charset=utf-8"
    return content_type


def _parse_http_date(value: str | None) -> int | None:
    """Return the timestamp of an HTTP date (any of the three RFC 9110 forms), or None."""
    if value is None:
        return None
    try:
        parts = parsedate_tz(value)
        if parts is None:
            return None
        year, month, day, hour, minute, second = parts[:6]
        if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60):
            return None
        # HTTP dates are always GMT; an offset, though not valid HTTP, is honoured rather than lost.
        offset = parts[9] or 0
        return calendar.timegm((year, month, day, hour, minute, second, 0, 1, 0)) - offset
    except (ValueError, TypeError, IndexError, OverflowError):
        return None


def _etag_listed(field: str, etag: str, *, weak: bool) -> bool:
    """Whether ``field`` (``*`` or a list of entity tags) matches ``etag`` (RFC 9110 section 8.8.3.2)."""
    if field.strip() == "*":
        return True
    opaque = etag[1:-1]
    for match in _ENTITY_TAG.finditer(field):
        if match.group(2) == opaque and (weak or match.group(1) is None):
            return True
    return False


def _parse_range(field: str, size: int) -> tuple[int, int] | _Unsatisfiable | None:
    """Return ``(first, last)`` inclusive, ``_UNSATISFIABLE``, or None to ignore the header."""
    unit, equals, range_set = field.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    # Empty list elements are legal (RFC 9110 section 5.6.1) and are skipped.
    specs = [spec.strip() for spec in range_set.split(",") if spec.strip()]
    if len(specs) != 1:
        return None  # none (malformed) or several (answered with the whole file)
    match = _RANGE_SPEC.fullmatch(specs[0])
    if match is None:
        return None
    first_text, last_text = match.groups()
    try:
        if not first_text:
            if not last_text:
                return None
            suffix = int(last_text)
            if suffix == 0:
                return _UNSATISFIABLE
            return max(0, size - suffix), size - 1
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:  # more digits than int() accepts
        return None
    if last_text and last < first:
        return None  # an invalid range-spec makes the whole header invalid
    if first >= size:
        return _UNSATISFIABLE
    return first, min(last, size - 1)


def _error_for(exception: OSError) -> StaticResponse:
    if isinstance(exception, PermissionError):
        return _error(403)
    if exception.errno in _NOT_FOUND_ERRNOS or isinstance(exception, FileNotFoundError):
        return _error(404)
    return _error(500)


class StaticFiles:
    """Serves the files under one root folder, and nothing outside it.

    Args:
        root: The folder to serve. It need not exist yet; until it does, every request is 404.
        default_homepage: The file served for a directory, as a relative path; ``""`` for none.

    Raises:
        ValueError: If ``default_homepage`` is absolute or climbs out with ``..``.
    """

    def __init__(self, root: str | os.PathLike[str], default_homepage: str = "index.html") -> None:
        self._root = os.fspath(root)
        # Resolved once: every candidate is compared with this, so a symlinked root still works.
        self._real_root = os.path.realpath(self._root)
        prefix = os.path.join(self._real_root, "")
        self._root_prefix = os.path.normcase(prefix)
        homepage_parts = [part for part in default_homepage.replace("\\", "/").split("/") if part]
        if default_homepage.startswith(("/", "\\")) or os.path.isabs(default_homepage):
            raise ValueError(f"default_homepage must be relative to the root, not {default_homepage!r}")
        if ".." in homepage_parts:
            raise ValueError(f"default_homepage must stay inside the root, not {default_homepage!r}")
        self._default_homepage = default_homepage
        self._homepage_parts = homepage_parts

    @property
    def root(self) -> str:
        """The root folder, as given."""
        return self._root

    @property
    def default_homepage(self) -> str:
        """The file served for a directory request ("" for none)."""
        return self._default_homepage

    def respond(self, method: str, raw_path: str, headers: Mapping[str, str]) -> StaticResponse:
        """Answer one request for a static file.

        Args:
            method: The request method.
            raw_path: The path part of the request target, still percent-encoded, no query string.
            headers: Request headers with lower-case names, one value each.

        Returns:
            The response to send. For HEAD, the caller sends the headers only.
        """
        if method not in ("GET", "HEAD"):
            return _error(405, [("Allow", "GET, HEAD")])
        parsed = self._parse_path(raw_path)
        if isinstance(parsed, StaticResponse):
            return parsed
        segments, wants_directory = parsed

        found = self._locate(os.path.join(self._real_root, *segments))
        if isinstance(found, StaticResponse):
            return found
        real_path, status = found

        if stat.S_ISDIR(status.st_mode):
            if not self._homepage_parts:
                return _error(404)
            found = self._locate(os.path.join(real_path, *self._homepage_parts))
            if isinstance(found, StaticResponse):
                return found
            real_path, status = found
            if not stat.S_ISREG(status.st_mode):
                return _error(404)
            if not wants_directory:
                location = "/" + "".join(urllib.parse.quote(s, safe=_PATH_SAFE) + "/" for s in segments)
                return _error(301, [("Location", location)])
        elif not stat.S_ISREG(status.st_mode) or wants_directory:
            return _error(404)

        # stat() succeeds on files the server cannot read; find out now rather than mid-response.
        if not os.access(real_path, os.R_OK):
            return _error(403)
        return self._serve_file(method, real_path, status, headers)

    def serves(self, raw_path: str) -> bool:
        """Whether a GET of ``raw_path`` finds something here (a file, a folder's homepage, the
        redirect to it, or a refusal such as 403), rather than 404 or a malformed path's 400: the
        web server hands what is not here to its application, when it has one."""
        return self.respond("GET", raw_path, _NO_HEADERS).status not in (400, 404)

    def _parse_path(self, raw_path: str) -> tuple[list[str], bool] | StaticResponse:
        """Decode the path into safe segments, and whether it ended with a slash."""
        raw_path = raw_path.partition("?")[0]  # in case the caller left a query string on
        if not raw_path.startswith("/") or _BAD_PERCENT.search(raw_path):
            return _error(400)
        try:
            path = urllib.parse.unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeError:
            return _error(400)
        if _CONTROL_CHARACTER.search(path):
            return _error(400)
        # A backslash is a separator on Windows: refused everywhere so no host can be walked out of.
        if "\\" in path:
            return _error(404)
        segments = [segment for segment in path.split("/") if segment]
        # Covers ".." and "." as well as dotfiles such as .env or .git.
        if any(segment.startswith(".") for segment in segments):
            return _error(404)
        return segments, path.endswith("/")

    def _locate(self, path: str) -> tuple[str, os.stat_result] | StaticResponse:
        """Resolve ``path``, make sure it is under the root, and stat it."""
        try:
            real_path = os.path.realpath(path)
            if not self._is_inside_root(real_path):
                return _error(404)
            return real_path, os.stat(real_path)
        except OSError as exception:
            return _error_for(exception)
        except ValueError:  # a name the platform cannot represent
            return _error(404)

    def _is_inside_root(self, real_path: str) -> bool:
        candidate = os.path.normcase(real_path)
        return candidate == os.path.normcase(self._real_root) or candidate.startswith(self._root_prefix)

    def _serve_file(
        self, method: str, path: str, status: os.stat_result, headers: Mapping[str, str]
    ) -> StaticResponse:
        size = status.st_size
        modified = status.st_mtime_ns // 1_000_000_000  # Last-Modified has one-second resolution
        etag = f'"{status.st_mtime_ns:x}-{size:x}"'
        validators = [("ETag", etag)]
        # An mtime too far from now has no HTTP date: leave Last-Modified out, the ETag still validates.
        with contextlib.suppress(OverflowError, ValueError, OSError):
            validators.insert(0, ("Last-Modified", http_date(modified)))

        # RFC 9110 section 13.2.2: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since,
        # If-Range, in that order.
        if_match = headers.get("if-match")
        if if_match is not None:
            if not _etag_listed(if_match, etag, weak=False):
                return _error(412)
        else:
            unmodified_since = _parse_http_date(headers.get("if-unmodified-since"))
            if unmodified_since is not None and modified > unmodified_since:
                return _error(412)

        if_none_match = headers.get("if-none-match")
        if if_none_match is not None:
            if _etag_listed(if_none_match, etag, weak=True):
                return StaticResponse(304, validators)
        else:
            modified_since = _parse_http_date(headers.get("if-modified-since"))
            if modified_since is not None and modified <= modified_since:
                return StaticResponse(304, validators)

        response_headers = [("Content-Type", _content_type(path)), ("Accept-Ranges", "bytes"), *validators]
        range_field = headers.get("range")
        if (
            range_field is not None
            and method == "GET"
            and size > 0
            and self._if_range_holds(headers.get("if-range"), etag, modified)
        ):
            chosen = _parse_range(range_field, size)
            if isinstance(chosen, _Unsatisfiable):
                return _error(416, [("Content-Range", f"bytes */{size}")])
            if chosen is not None:
                first, last = chosen
                length = last - first + 1
                response_headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
                response_headers.append(("Content-Length", str(length)))
                return StaticResponse(206, response_headers, file_path=path, offset=first, length=length)
        response_headers.append(("Content-Length", str(size)))
        return StaticResponse(200, response_headers, file_path=path, offset=0, length=size)

    @staticmethod
    def _if_range_holds(field: str | None, etag: str, modified: int) -> bool:
        """RFC 9110 section 13.1.5: the Range applies only if the validator matches exactly."""
        if field is None:
            return True
        field = field.strip()
        if field.startswith(('"', "W/")):
            return field == etag  # strong comparison: a weak tag never matches
        return _parse_http_date(field) == modified
