"""Unit tests of the HTTP parts that need no wasi:http bindings: URLs, headers and bodies as sent, responses
and their failures, the durable request as the Rust SDK serialises it, and the polling of an asynchronous
durable call against a stand-in for the host. Run with the other SDK tests:
`python3 -m unittest discover -s sdk/python/tests`.
"""

import dataclasses
import os
import sys
import types
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keel_sdk  # noqa: E402
from keel_sdk import KeelFailure, RetryPolicy, http, to_json  # noqa: E402
from keel_sdk.http import HttpError, HttpResponse, HttpStatusError, Response  # noqa: E402


class UrlTest(unittest.TestCase):
    def test_urls_split_into_scheme_authority_and_path(self):
        self.assertEqual(
            http.split_url("http://127.0.0.1:8080/pay?x=1"), ("http", "127.0.0.1:8080", "/pay?x=1")
        )
        self.assertEqual(http.split_url("HTTPS://example.com"), ("https", "example.com", "/"))
        self.assertEqual(http.split_url("http://example.com?q=1"), ("http", "example.com", "?q=1"))
        with self.assertRaisesRegex(ValueError, "is not an absolute URL"):
            http.split_url("example.com/x")
        with self.assertRaisesRegex(ValueError, "names no host"):
            http.split_url("http:///x")

    def test_a_bad_url_is_an_http_error_before_anything_is_sent(self):
        with self.assertRaises(HttpError) as raised:
            http.request("get", "example.com/x")
        failure = raised.exception
        self.assertIsInstance(failure, KeelFailure)
        self.assertEqual(failure.kind, "HttpError")
        self.assertEqual(failure.message, 'GET example.com/x failed: "example.com/x" is not an absolute URL')


class PrepareTest(unittest.TestCase):
    def test_a_json_body_is_compact_typed_and_has_a_length(self):
        method, url, headers, body = http.prepare(
            "post", "http://h/p", {"authorization": "Bearer t"}, json={"orderId": "o", "amount": 25.0}
        )
        self.assertEqual((method, url), ("POST", "http://h/p"))
        self.assertEqual(body, b'{"orderId":"o","amount":25.0}')
        self.assertEqual(
            headers,
            [
                ("content-length", str(len(body))),
                ("authorization", "Bearer t"),
                ("content-type", "application/json"),
            ],
        )

    def test_text_bytes_and_no_body(self):
        self.assertEqual(http.prepare("PUT", "u", None, "é")[2:], ([("content-length", "2")], "é".encode()))
        self.assertEqual(
            http.prepare("PUT", "u", [("x", "1")], b"ab")[2:], ([("content-length", "2"), ("x", "1")], b"ab")
        )
        self.assertEqual(http.prepare("GET", "u")[2:], ([], b""))

    def test_headers_given_by_the_caller_win(self):
        _, _, headers, _ = http.prepare(
            "POST", "u", {"Content-Type": "application/vnd+json", "Content-Length": "2"}, json=[]
        )
        self.assertEqual(headers, [("Content-Type", "application/vnd+json"), ("Content-Length", "2")])

    def test_unserialisable_json_and_two_bodies_are_refused(self):
        with self.assertRaises(KeelFailure) as raised:
            http.prepare("POST", "u", json={"x": float("nan")})
        self.assertEqual(raised.exception.kind, "InvalidInput")
        with self.assertRaises(ValueError):
            http.prepare("POST", "u", body="a", json={})


class ResponseTest(unittest.TestCase):
    def test_headers_text_and_json(self):
        response = Response(200, [("content-type", "application/json"), ("x", "1"), ("x", "2")], b'{"a":1}')
        self.assertTrue(response.ok)
        self.assertEqual(response.header("Content-Type"), "application/json")
        self.assertEqual(response.header("X"), "1")
        self.assertIsNone(response.header("missing"))
        self.assertEqual(response.json(), {"a": 1})
        self.assertEqual(Response(200, [], b"caf\xc3\xa9 \xff").text(), "café \ufffd")
        self.assertIs(response.raise_for_status(), response)

    def test_a_body_that_is_not_json_is_invalid_output(self):
        for body in (b"nope", b"\xff"):
            with self.assertRaises(KeelFailure) as raised:
                Response(200, [], body).json()
            self.assertEqual(raised.exception.kind, "InvalidOutput")
            self.assertTrue(raised.exception.message.startswith("the response body is not the expected JSON: "))

    def test_an_error_status_is_the_http_status_failure_of_every_sdk(self):
        with self.assertRaises(HttpStatusError) as raised:
            Response(503, [], b'{"error":"busy"}').raise_for_status()
        failure = raised.exception
        body = '{"error":"busy"}'
        self.assertEqual(
            failure, KeelFailure("HttpStatus", f"the server answered 503: {body}", {"status": 503, "body": body})
        )
        self.assertEqual(failure.status, 503)
        # The details serialise with status first, as serde_json writes them.
        self.assertEqual(to_json(failure.details), '{"status":503,"body":"{\\"error\\":\\"busy\\"}"}')

    def test_the_excerpt_is_512_characters(self):
        body = ("é" * 600).encode()
        with self.assertRaises(HttpStatusError) as raised:
            Response(404, [], body).raise_for_status()
        self.assertEqual(raised.exception.details["body"], "é" * 512)
        self.assertEqual(raised.exception.message, "the server answered 404: " + "é" * 512)
        self.assertEqual(Response(400, [], b"").ok, False)


class DescribeTest(unittest.TestCase):
    def test_variant_cases_by_name_with_their_payload(self):
        @dataclasses.dataclass
        class ErrorCode_ConnectionRefused:
            pass

        @dataclasses.dataclass
        class ErrorCode_InternalError:
            value: object

        self.assertEqual(http.describe(ErrorCode_ConnectionRefused()), "ConnectionRefused")
        self.assertEqual(http.describe(ErrorCode_InternalError("boom")), "InternalError('boom')")
        self.assertEqual(
            str(HttpError("GET http://h/", "ConnectionRefused")), "HttpError: GET http://h/ failed: ConnectionRefused"
        )


class DurableRequestTest(unittest.TestCase):
    def test_defaults_are_omitted(self):
        self.assertEqual(
            to_json(http.durable_request("get", "http://h/x")), '{"method":"GET","url":"http://h/x"}'
        )

    def test_every_field_in_the_rust_sdk_order(self):
        request = http.durable_request(
            "post",
            "http://h/jobs",
            {"x-b": "2", "authorization": "Bearer {{secret:API_TOKEN}}"},
            json={"k": [1]},
            asynchronous=True,
            retry_on=(503, 429),
        )
        self.assertEqual(
            to_json(request),
            '{"method":"POST","url":"http://h/jobs","headers":{"authorization":"Bearer {{secret:API_TOKEN}}",'
            '"x-b":"2"},"json":{"k":[1]},"asynchronous":true,"retryOn":[503,429]}',
        )
        self.assertEqual(
            to_json(http.durable_request("POST", "u", body="start")),
            '{"method":"POST","url":"u","body":"start"}',
        )
        with self.assertRaises(ValueError):
            http.durable_request("POST", "u", body="a", json=1)

    def test_responses_read_from_the_history(self):
        response = HttpResponse.from_output(
            {
                "status": 202,
                "headers": {"location": "/jobs/1"},
                "body": "",
                "location": "http://h/jobs/1",
                "retryAfterMs": 10,
            }
        )
        self.assertEqual(response, HttpResponse(202, {"location": "/jobs/1"}, "", "http://h/jobs/1", 10))
        self.assertEqual(response.header("Location"), "/jobs/1")
        self.assertEqual(HttpResponse.from_output({"status": 200, "body": "[1]"}).json(), [1])
        for bad in (None, {}, {"status": "200"}, {"status": 200, "body": 1}):
            with self.assertRaises(KeelFailure) as raised:
                HttpResponse.from_output(bad)
            self.assertEqual(raised.exception.kind, "InvalidOutput")


class _Outcome:
    def __init__(self, value):
        self.value = value


class Outcome_Ok(_Outcome):
    pass


class Outcome_Err(_Outcome):
    pass


class FakeHost:
    """The orchestration context's host calls, answering keel.http calls from a script of responses."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []
        self.outcomes = {}
        self.clock = 1_000

    def call_activity_with(self, name, payload, options):
        self.calls.append(("call", name, payload, options))
        task = len(self.calls)
        self.outcomes[task] = Outcome_Ok(to_json(self.answers.pop(0)))
        return task

    def start_timer(self, fire_at_ms):
        self.calls.append(("timer", fire_at_ms - self.clock))
        task = len(self.calls)
        self.outcomes[task] = Outcome_Ok("null")
        return task

    def now_ms(self):
        return self.clock

    class AllOrRequest_Done:  # noqa: N801 - named as componentize-py names the variant's cases
        def __init__(self, value):
            self.value = value

    class AllOrRequest_Request(AllOrRequest_Done):  # noqa: N801
        pass

    def wait_all_or_request(self, ids):
        return self.AllOrRequest_Done([self.outcomes[i] for i in ids])


class CallHttpTest(unittest.TestCase):
    def setUp(self):
        self.saved = (keel_sdk._context, keel_sdk.wit)
        keel_sdk.wit = types.SimpleNamespace(
            Outcome_Ok=Outcome_Ok,
            Outcome_Err=Outcome_Err,
            RetryPolicy=lambda **fields: ("retry", fields),
            CallOptions=lambda **fields: ("options", fields),
        )

    def tearDown(self):
        keel_sdk._context, keel_sdk.wit = self.saved

    def host(self, answers):
        keel_sdk._context = FakeHost(answers)
        return keel_sdk._context

    def test_an_asynchronous_call_polls_the_location_after_durable_timers(self):
        host = self.host(
            [
                {"status": 202, "headers": {}, "body": "", "location": "http://h/jobs/1", "retryAfterMs": 50},
                {"status": 202, "headers": {}, "body": "", "location": "http://h/jobs/1"},
                {"status": 200, "headers": {}, "body": "job done"},
            ]
        )
        call = keel_sdk.Context().call_http(
            "post",
            "http://h/jobs",
            headers={"authorization": "Bearer {{secret:API_TOKEN}}"},
            body="start",
            asynchronous=True,
            retry=RetryPolicy(2, 10, non_retryable="Nope"),
        )
        response = call.get()
        self.assertEqual((response.status, response.body), (200, "job done"))
        options = ("options", {"retry": ("retry", {
            "max_attempts": 2, "first_interval_ms": 10, "backoff_coefficient": 1.0, "max_interval_ms": None,
            "timeout_ms": None, "non_retryable": ["Nope"]}), "timeout_ms": None,
            "heartbeat_timeout_ms": None})
        poll = (
            '{"method":"GET","url":"http://h/jobs/1","headers":{"authorization":"Bearer {{secret:API_TOKEN}}"},'
            '"asynchronous":true}'
        )
        self.assertEqual(
            host.calls,
            [
                ("call", "keel.http", '{"method":"POST","url":"http://h/jobs","headers":{"authorization":'
                 '"Bearer {{secret:API_TOKEN}}"},"body":"start","asynchronous":true}', options),
                ("timer", 50),
                ("call", "keel.http", poll, options),
                ("timer", 1000),
                ("call", "keel.http", poll, options),
            ],
        )

    def test_a_synchronous_call_returns_the_202_and_so_does_one_without_a_location(self):
        host = self.host([{"status": 202, "location": "http://h/x"}, {"status": 202}])
        ctx = keel_sdk.Context()
        self.assertEqual(ctx.call_http("GET", "http://h/x").get().status, 202)
        polled = ctx.call_http("GET", "http://h/x", asynchronous=True, retry_on=[503]).get()
        self.assertEqual(polled.status, 202)
        self.assertEqual([call[0] for call in host.calls], ["call", "call"])
        self.assertEqual(
            host.calls[1][2], '{"method":"GET","url":"http://h/x","asynchronous":true,"retryOn":[503]}'
        )
        self.assertEqual(
            host.calls[0][3], ("options", {"retry": None, "timeout_ms": None, "heartbeat_timeout_ms": None})
        )

    def test_get_twice_gives_the_same_response_without_polling_again(self):
        host = self.host(
            [{"status": 202, "location": "http://h/x", "retryAfterMs": 5}, {"status": 200, "body": "done"}]
        )
        call = keel_sdk.Context().call_http(
            "GET", "http://h/x", asynchronous=True, retry=RetryPolicy(3, 100, 2.0, non_retryable=["A", "B"])
        )
        self.assertEqual(call.get(), call.get())
        self.assertEqual([c[0] for c in host.calls], ["call", "timer", "call"])
        self.assertEqual(host.calls[0][3][1]["retry"][1]["non_retryable"], ["A", "B"])

    def test_a_failed_call_raises_its_failure(self):
        host = self.host([])
        host.call_activity_with = lambda *args: 7
        denied = types.SimpleNamespace(kind="HttpDenied", message="no grant", details=None)
        host.outcomes[7] = Outcome_Err(denied)
        with self.assertRaises(KeelFailure) as raised:
            keel_sdk.Context().call_http("GET", "http://h/x").get()
        self.assertEqual(raised.exception, KeelFailure("HttpDenied", "no grant"))


if __name__ == "__main__":
    unittest.main()
