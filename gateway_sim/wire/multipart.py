"""`multipart/form-data` bodies, parsed with python-multipart's streaming parser.

Driven directly, not through `request.form()`: the vendor's own MMS example has file parts with no
`name=`, which form helpers reject. A part with a `filename=` or without a `name=` is a content
file, kept with its filename, content type and bytes, in order; other parts are fields. Names,
values and filenames come out storable (`domain/text.py`); a content type only as a checked
media type.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header

from gateway_sim.domain.content import UploadedFile
from gateway_sim.domain.records import ContentPart
from gateway_sim.domain.text import OCTET_STREAM, charset_of, checked_media_type, decode_field
from gateway_sim.wire.form import Fields, add_field

PLAIN_ENCODINGS = frozenset({"", "binary", "8bit", "7bit"})


@lru_cache(maxsize=1024)
def _disposition(header: bytes) -> tuple[bytes | None, bytes | None]:
    """`name` and `filename` of a Content-Disposition (the same few recur in every request)."""
    _, options = parse_options_header(header.decode("latin-1"))
    return options.get(b"name"), options.get(b"filename")


class MalformedBody(Exception):
    """The body is not well-formed multipart; the gateway answers `ERR:INVALID_REQUEST`."""


class MultipartReader:
    """Feed body chunks as they arrive; `finish()` gives the fields and the content files."""

    def __init__(self, content_type: str, charset: str | None) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise MalformedBody("multipart body without a boundary in its Content-Type")
        self.fields: Fields = {}
        self.files: list[UploadedFile] = []
        self._charset = charset
        self._headers: dict[str, bytes] = {}
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._data: list[bytes] = []
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._part_begin,
                    "on_header_field": self._header_field,
                    "on_header_value": self._header_value_data,
                    "on_header_end": self._header_end,
                    "on_part_data": self._part_data,
                    "on_part_end": self._part_end,
                },
            )
        except (FormParserError, ValueError) as exc:
            raise MalformedBody(f"unusable multipart boundary: {exc}") from exc

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except (MultipartParseError, FormParserError) as exc:
            raise MalformedBody(f"malformed multipart body: {exc}") from exc

    def finish(self) -> tuple[Fields, list[UploadedFile]]:
        if self._parser.state != MultipartState.END:
            raise MalformedBody("multipart body ends before its closing boundary")
        return self.fields, self.files

    def _part_begin(self) -> None:
        self._headers = {}
        self._data = []

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        name = self._header_name.decode("latin-1").strip().lower()
        self._headers[name] = bytes(self._header_value).strip()
        self._header_name.clear()
        self._header_value.clear()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._data.append(data[start:end])

    def _part_end(self) -> None:
        name, filename = _disposition(self._headers.get("content-disposition", b""))
        content_type = self._header("content-type")
        data = b"".join(self._data)
        if filename is None and name:
            charset = charset_of(content_type) or self._charset
            add_field(self.fields, decode_field(name).lower(), decode_field(data, charset))
            return
        self.files.append(self._content_file(filename, content_type, data))

    def _content_file(self, filename: bytes | None, content_type: str, data: bytes) -> UploadedFile:
        encoding = self._header("content-transfer-encoding").lower()
        problem = None
        if encoding == "base64":
            try:
                data = base64.b64decode(data, validate=False)
            except binascii.Error:
                problem = "a content part's base64 does not decode"
        elif encoding not in PLAIN_ENCODINGS:
            problem = f"unsupported Content-Transfer-Encoding {encoding!r}"
        # Only a media type is kept (a response header carries it later): its `type/subtype`,
        # once the whole value parses; anything else is kept as octets, and said so.
        checked = checked_media_type(content_type)
        media_type = checked.split(";", 1)[0].rstrip(" \t") if checked else OCTET_STREAM
        unusable = None if checked or not content_type.strip() else content_type
        part = ContentPart(decode_field(filename or b""), media_type, data)
        return UploadedFile(part, problem, unusable)

    def _header(self, name: str) -> str:
        """A part header as text; latin-1 keeps every byte for re-decoding names later."""
        return self._headers.get(name, b"").decode("latin-1")
