"""Outgoing HTTP for activities: a small blocking client over ``wasi:http/outgoing-handler``, which the host
allows only towards the origins granted to the activity (``keel grant NAME URL``).
It must never be used from an orchestrator: the host fails the instance (``KEEL-O1``); orchestrators
schedule durable calls with :meth:`keel_sdk.Context.call_http` instead.

::

    import os
    from keel_sdk import KeelFailure, activity, http

    @activity("VerifyPayment")
    def verify_payment(order):
        response = http.post(os.environ["PAYMENT_URL"], json=order)
        if response.status == 402:
            raise KeelFailure("PaymentDeclined", response.text())
        return response.raise_for_status().json()

Conventions shared with every Keel SDK (histories and failures are compared across languages): a request
that gets no response fails with kind ``HttpError``; :meth:`Response.raise_for_status` fails a status of
400 or more with kind ``HttpStatus``, message ``the server answered {status}: {excerpt}`` (the first 512
characters of the body) and details ``{"status": status, "body": excerpt}``; a known body is sent with
``content-length`` rather than chunked.
"""

from __future__ import annotations

import dataclasses
import json as _json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from keel_sdk import INVALID_INPUT, INVALID_OUTPUT, KeelFailure, to_json

# The generated wasi:http bindings, imported at module level for the same reason as in keel_sdk (the
# interpreter is snapshotted after the imports); absent outside a component.
try:
    from componentize_py_types import Err as _Err
    from componentize_py_types import Ok as _Ok
    from wit_world.imports import outgoing_handler as _handler
    from wit_world.imports import streams as _streams
    from wit_world.imports import wasi_http_types as _types
except ImportError:  # pragma: no cover - only outside a component
    _Err = _Ok = _handler = _streams = _types = None  # type: ignore[assignment]

__all__ = [
    "HTTP_ERROR",
    "HTTP_STATUS",
    "HttpError",
    "HttpStatusError",
    "Response",
    "delete",
    "get",
    "post",
    "put",
    "request",
]

#: The failure kind of a request that did not get a response (refused, timed out, malformed).
HTTP_ERROR = "HttpError"
#: The failure kind :meth:`Response.raise_for_status` gives a status of 400 or more.
HTTP_STATUS = "HttpStatus"

# How much of the body an HttpStatus failure carries, in characters.
EXCERPT_CHARS = 512
# Bytes per write: wasi:io's blocking-write-and-flush takes at most 4096 at a time.
WRITE_CHUNK = 4096
READ_CHUNK = 64 * 1024

Headers = Union[Mapping[str, str], Iterable[Tuple[str, str]], None]


class HttpError(KeelFailure):
    """A request got no response (kind ``HttpError``): ``code`` says why (e.g. ``ConnectionRefused``),
    ``request`` which request it was (``"GET http://..."``)."""

    def __init__(self, request: str, code: str):
        super().__init__(HTTP_ERROR, f"{request} failed: {code}")
        self.request = request
        self.code = code


class HttpStatusError(KeelFailure):
    """A response whose status is 400 or more (kind ``HttpStatus``), raised by
    :meth:`Response.raise_for_status`; retried under the activity's retry policy like any failure."""

    def __init__(self, response: "Response"):
        excerpt = _excerpt(response.text())
        super().__init__(
            HTTP_STATUS,
            f"the server answered {response.status}: {excerpt}",
            {"status": response.status, "body": excerpt},
        )
        self.response = response
        self.status = response.status


def _excerpt(text: str) -> str:
    return text[:EXCERPT_CHARS]


def _not_json(error: Exception) -> KeelFailure:
    return KeelFailure(INVALID_OUTPUT, f"the response body is not the expected JSON: {error}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass
class Response:
    """A complete HTTP response: ``status``, ``headers`` (``(name, value)`` pairs, names in lower case,
    in the order received) and ``body`` (bytes)."""

    status: int
    headers: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        """True if the status is below 400."""
        return self.status < 400

    def header(self, name: str) -> Optional[str]:
        """The first header called ``name`` (any case), or ``None``."""
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    def text(self) -> str:
        """The body as text (invalid UTF-8 replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; a failure of kind ``InvalidOutput`` if it is not JSON."""
        try:
            return _json.loads(self.body.decode("utf-8"))
        except ValueError as error:  # UnicodeDecodeError and JSONDecodeError alike
            raise _not_json(error) from None

    def raise_for_status(self) -> "Response":
        """The response itself if its status is below 400, else raises :class:`HttpStatusError`
        (kind ``HttpStatus``) carrying the status and the start of the body."""
        if self.status >= 400:
            raise HttpStatusError(self)
        return self


# ---------------------------------------------------------------------------------------------------------
# Pure parts: URLs, headers, bodies (tested without the bindings)


def split_url(url: str) -> Tuple[str, str, str]:
    """``(scheme, authority, path and query)`` of an absolute URL; ``ValueError`` if it is not one."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"{to_json(url)} is not an absolute URL")
    ends = [i for i in (rest.find("/"), rest.find("?")) if i >= 0]
    split = min(ends) if ends else len(rest)
    authority, path = rest[:split], rest[split:]
    if not authority:
        raise ValueError(f"{to_json(url)} names no host")
    return scheme.lower(), authority, path or "/"


def header_list(headers: Headers) -> List[Tuple[str, str]]:
    """Headers given as a mapping or as ``(name, value)`` pairs, as a list of string pairs."""
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(name), str(value)) for name, value in items]


def prepare(
    method: str,
    url: str,
    headers: Headers = None,
    body: Union[bytes, bytearray, str, None] = None,
    json: Any = None,
) -> Tuple[str, str, List[Tuple[str, str]], bytes]:
    """``(METHOD, url, headers, body bytes)`` as sent: a ``json`` body is serialised compactly with
    ``content-type: application/json`` (unless a header sets one); a known non-empty body gets
    ``content-length`` first (unless a header sets one)."""
    method = str(method).upper()
    pairs = header_list(headers)
    names = {name.lower() for name, _ in pairs}
    if json is not None:
        if body is not None:
            raise ValueError("keel: give a request either body= or json=, not both")
        try:
            body = to_json(json)
        except (TypeError, ValueError) as error:
            raise KeelFailure(INVALID_INPUT, f"the request body does not serialise: {error}") from None
        if "content-type" not in names:
            pairs.append(("content-type", "application/json"))
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = body.encode("utf-8")
    else:
        data = bytes(body)
    if data and "content-length" not in names:
        # A known length instead of chunked encoding, which some servers do not read.
        pairs.insert(0, ("content-length", str(len(data))))
    return method, url, pairs, data


def describe(value: Any) -> str:
    """A WIT variant (an error code, a header or stream error) as its case name, with its payload."""
    name = type(value).__name__
    for prefix in ("ErrorCode_", "HeaderError_", "StreamError_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    if dataclasses.is_dataclass(value) and dataclasses.fields(value):
        payload = getattr(value, "value", None)
        if hasattr(payload, "to_debug_string"):  # a wasi:io error resource
            return f"{name}({payload.to_debug_string()})"
        return f"{name}({payload!r})"
    return name


# ---------------------------------------------------------------------------------------------------------
# Sending


def request(
    method: str,
    url: str,
    headers: Headers = None,
    body: Union[bytes, bytearray, str, None] = None,
    *,
    json: Any = None,
) -> Response:
    """Sends a request and reads the whole response: ``method`` (e.g. ``"PATCH"``) to ``url``
    (``http://`` or ``https://``), with ``headers`` (a dict or ``(name, value)`` pairs) and a ``body``
    (bytes or text), or a ``json`` body.

    Any status comes back as a :class:`Response` (see :meth:`Response.raise_for_status`); a request that
    gets no response raises :class:`HttpError` (kind ``HttpError``). A denied origin also fails the whole
    attempt with ``HttpDenied``, whatever the activity does with that error.
    """
    method, url, pairs, data = prepare(method, url, headers, body, json)
    shown = f"{method} {url}"
    try:
        scheme, authority, path = split_url(url)
    except ValueError as error:
        raise HttpError(shown, str(error)) from None
    if _types is None:
        raise RuntimeError("keel: outgoing HTTP exists only inside a Keel component")
    try:
        return _send(method, scheme, authority, path, pairs, data)
    except _Failed as failed:
        raise HttpError(shown, failed.code) from None


def get(url: str, headers: Headers = None) -> Response:
    """A ``GET`` request."""
    return request("GET", url, headers)


def post(url: str, headers: Headers = None, body=None, *, json: Any = None) -> Response:
    """A ``POST`` request."""
    return request("POST", url, headers, body, json=json)


def put(url: str, headers: Headers = None, body=None, *, json: Any = None) -> Response:
    """A ``PUT`` request."""
    return request("PUT", url, headers, body, json=json)


def delete(url: str, headers: Headers = None, body=None, *, json: Any = None) -> Response:
    """A ``DELETE`` request."""
    return request("DELETE", url, headers, body, json=json)


class _Failed(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _method(name: str):
    known = {
        "GET": _types.Method_Get,
        "HEAD": _types.Method_Head,
        "POST": _types.Method_Post,
        "PUT": _types.Method_Put,
        "DELETE": _types.Method_Delete,
        "CONNECT": _types.Method_Connect,
        "OPTIONS": _types.Method_Options,
        "TRACE": _types.Method_Trace,
        "PATCH": _types.Method_Patch,
    }
    case = known.get(name)
    return case() if case is not None else _types.Method_Other(name)


def _scheme(name: str):
    if name == "http":
        return _types.Scheme_Http()
    if name == "https":
        return _types.Scheme_Https()
    return _types.Scheme_Other(name)


def _send(method, scheme, authority, path, pairs, data) -> Response:
    # Child resources are dropped (`with`) before their parents are finished or dropped, as wasi:http
    # requires; resources handed to the host (fields, request, bodies) are moved, not dropped.
    fields = _types.Fields()
    for name, value in pairs:
        try:
            fields.append(name, value.encode("utf-8"))
        except _Err as error:
            raise _Failed(f"header {name}: {describe(error.value)}") from None
    outgoing = _types.OutgoingRequest(fields)
    try:
        outgoing.set_method(_method(method))
        outgoing.set_scheme(_scheme(scheme))
        outgoing.set_authority(authority)
        outgoing.set_path_with_query(path)
    except _Err:
        raise _Failed("the URL or method is not valid") from None
    try:
        body = outgoing.body()
    except _Err:
        raise _Failed("the request body was taken") from None
    try:
        pending = _handler.handle(outgoing, None)
    except _Err as error:
        raise _Failed(describe(error.value)) from None
    with pending:
        _write_body(body, data)
        try:
            _types.OutgoingBody.finish(body, None)
        except _Err as error:
            raise _Failed(describe(error.value)) from None
        with pending.subscribe() as ready:
            ready.block()
        result = pending.get()
        if result is None or isinstance(result, _Err):
            raise _Failed("the response was already taken")
        inner = result.value if isinstance(result, _Ok) else result
        if isinstance(inner, _Err):
            raise _Failed(describe(inner.value))
        incoming = inner.value if isinstance(inner, _Ok) else inner
        with incoming:
            status = incoming.status()
            with incoming.headers() as received:
                headers = [
                    (name.lower(), value.decode("utf-8", errors="replace"))
                    for name, value in received.entries()
                ]
            try:
                incoming_body = incoming.consume()
            except _Err:
                raise _Failed("the response body was taken") from None
            content = _read_body(incoming_body)
            with _types.IncomingBody.finish(incoming_body):
                pass  # the trailers are not read
    return Response(status, headers, content)


def _write_body(body, data: bytes) -> None:
    if not data:
        return
    try:
        stream = body.write()
    except _Err:
        raise _Failed("the request body stream was taken") from None
    with stream:
        for start in range(0, len(data), WRITE_CHUNK):
            try:
                stream.blocking_write_and_flush(data[start : start + WRITE_CHUNK])
            except _Err as error:
                raise _Failed(f"writing the request body failed: {_stream_error(error.value)}") from None


def _read_body(body) -> bytes:
    try:
        stream = body.stream()
    except _Err:
        raise _Failed("the response body stream was taken") from None
    chunks = []
    with stream:
        while True:
            try:
                chunks.append(stream.blocking_read(READ_CHUNK))
            except _Err as error:
                if isinstance(error.value, _streams.StreamError_Closed):
                    return b"".join(chunks)
                raise _Failed(f"reading the response body failed: {_stream_error(error.value)}") from None


def _stream_error(error) -> str:
    if isinstance(error, _streams.StreamError_Closed):
        return "the stream is closed"
    return error.value.to_debug_string()


# ---------------------------------------------------------------------------------------------------------
# Durable HTTP (orchestrators): the request the host's built-in activity `keel.http` receives


def durable_request(
    method: str,
    url: str,
    headers: Headers = None,
    body: Union[str, bytes, None] = None,
    json: Any = None,
    asynchronous: bool = False,
    retry_on: Optional[Iterable[int]] = None,
) -> Dict[str, Any]:
    """The input of ``keel.http`` exactly as the Rust SDK serialises it (histories are compared across
    languages): keys in this order, headers sorted by name, defaults omitted."""
    if body is not None and json is not None:
        raise ValueError("keel: give an HTTP call either body= or json=, not both")
    payload: Dict[str, Any] = {"method": str(method).upper(), "url": str(url)}
    pairs = dict(header_list(headers))  # a repeated name keeps its last value
    if pairs:
        payload["headers"] = dict(sorted(pairs.items(), key=lambda item: item[0].encode("utf-8")))
    if body is not None:
        payload["body"] = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body)
    if json is not None:
        payload["json"] = json
    if asynchronous:
        payload["asynchronous"] = True
    if retry_on is not None:
        payload["retryOn"] = [int(status) for status in retry_on]
    return payload


@dataclasses.dataclass
class HttpResponse:
    """The response of a durable HTTP call as recorded in the history: ``status``, ``headers`` (names in
    lower case, repeated headers joined with ``", "``), ``body`` (text), ``location`` (the ``Location``
    header made absolute) and ``retry_after_ms`` (the ``Retry-After`` header), when they came."""

    status: int
    headers: Dict[str, str] = dataclasses.field(default_factory=dict)
    body: str = ""
    location: Optional[str] = None
    retry_after_ms: Optional[int] = None

    @classmethod
    def from_output(cls, value: Any) -> "HttpResponse":
        """Reads the output of ``keel.http``; a failure of kind ``InvalidOutput`` if it is not one."""
        try:
            status = value["status"]
            headers = value.get("headers") or {}
            body = value.get("body") or ""
            location = value.get("location")
            retry_after = value.get("retryAfterMs")
            if (
                not _is_int(status)
                or not isinstance(headers, dict)
                or not isinstance(body, str)
                or not (location is None or isinstance(location, str))
                or not (retry_after is None or _is_int(retry_after))
            ):
                raise TypeError("unexpected field types")
        except (KeyError, TypeError, AttributeError) as error:
            raise KeelFailure(
                INVALID_OUTPUT, f"the output of keel.http is not an HTTP response: {error} ({value!r:.200})"
            ) from None
        return cls(status, dict(headers), body, location, retry_after)

    def header(self, name: str) -> Optional[str]:
        """The header called ``name`` (any case), or ``None``."""
        return self.headers.get(name.lower())

    def text(self) -> str:
        return self.body

    def json(self) -> Any:
        """The body as JSON; a failure of kind ``InvalidOutput`` if it is not JSON."""
        try:
            return _json.loads(self.body)
        except ValueError as error:
            raise _not_json(error) from None
