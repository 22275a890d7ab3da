"""Unit tests of heartbeats against a stand-in for the host: `heartbeat` hands the host its details as JSON and
returns the host's answer (True: stop), `last_heartbeat` parses what the host recorded, and the heartbeat
timeout of an activity call reaches `call-activity-with`, through which every activity is scheduled. Run with
the other SDK tests: `python3 -m unittest discover -s sdk/python/tests`.
"""

import os
import sys
import types
import unittest
from datetime import timedelta

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keel_sdk  # noqa: E402
from keel_sdk import ActivityOptions, KeelFailure, RetryPolicy, heartbeat, last_heartbeat  # noqa: E402


class ActivityHost:
    """The activity context's host calls: records each heartbeat's details and answers `stop`; `last` is what
    an earlier attempt recorded (JSON text or None)."""

    def __init__(self, stop=False, last=None):
        self.stop = stop
        self.last = last
        self.details = []

    def heartbeat(self, details):
        self.details.append(details)
        return self.stop

    def last_heartbeat(self):
        return self.last


class SchedulingHost:
    """The orchestration context's scheduling calls: records each activity call and hands out task ids."""

    def __init__(self):
        self.calls = []

    def call_activity_with(self, name, payload, options):
        self.calls.append((name, payload, options))
        return len(self.calls) - 1


class HeartbeatTest(unittest.TestCase):
    def setUp(self):
        self.saved = keel_sdk._activity_context

    def tearDown(self):
        keel_sdk._activity_context = self.saved

    def host(self, **answers):
        keel_sdk._activity_context = ActivityHost(**answers)
        return keel_sdk._activity_context

    def test_heartbeat_sends_its_details_as_json_and_returns_the_hosts_answer(self):
        host = self.host()
        self.assertIs(heartbeat({"done": 3, "of": "ünïcode"}), False)
        self.assertIs(heartbeat(), False)
        host.stop = True
        self.assertIs(heartbeat([1, 2]), True)
        self.assertEqual(host.details, ['{"done":3,"of":"ünïcode"}', "null", "[1,2]"])

    def test_heartbeat_refuses_details_that_are_not_json(self):
        host = self.host()
        with self.assertRaises(TypeError):
            heartbeat({"when": object()})
        self.assertEqual(host.details, [])

    def test_last_heartbeat_parses_the_recorded_details(self):
        self.host(last='{"done":3}')
        self.assertEqual(last_heartbeat(), {"done": 3})
        self.host(last="null")
        self.assertIsNone(last_heartbeat())

    def test_last_heartbeat_is_none_when_no_attempt_heartbeated(self):
        self.host(last=None)
        self.assertIsNone(last_heartbeat())

    def test_last_heartbeat_that_is_not_json_is_invalid_input(self):
        self.host(last="{done")
        with self.assertRaises(KeelFailure) as raised:
            last_heartbeat()
        self.assertEqual(raised.exception.kind, keel_sdk.INVALID_INPUT)

    def test_outside_a_component_there_is_no_activity_context(self):
        keel_sdk._activity_context = None
        with self.assertRaises(RuntimeError):
            heartbeat({"done": 1})
        with self.assertRaises(RuntimeError):
            last_heartbeat()

    def test_both_are_exported(self):
        self.assertIn("heartbeat", keel_sdk.__all__)
        self.assertIn("last_heartbeat", keel_sdk.__all__)


class HeartbeatTimeoutTest(unittest.TestCase):
    def setUp(self):
        self.saved = (keel_sdk._context, keel_sdk.wit)
        keel_sdk.wit = types.SimpleNamespace(
            RetryPolicy=lambda **fields: ("retry", fields),
            CallOptions=lambda **fields: fields,
        )
        self.host = SchedulingHost()
        keel_sdk._context = self.host
        self.ctx = keel_sdk.Context()

    def tearDown(self):
        keel_sdk._context, keel_sdk.wit = self.saved

    def test_the_heartbeat_timeout_reaches_call_activity_with(self):
        self.ctx.call_activity("Progress", {"steps": 5}, heartbeat_timeout_ms=30_000, timeout_ms=60_000)
        self.ctx.call_activity("Progress", None, heartbeat_timeout_ms=timedelta(seconds=2.5))
        self.ctx.call_activity("Progress", None, ActivityOptions(heartbeat_timeout_ms=timedelta(minutes=1)))
        self.assertEqual(
            self.host.calls,
            [
                ("Progress", '{"steps":5}', {"retry": None, "timeout_ms": 60_000, "heartbeat_timeout_ms": 30_000}),
                ("Progress", "null", {"retry": None, "timeout_ms": None, "heartbeat_timeout_ms": 2_500}),
                ("Progress", "null", {"retry": None, "timeout_ms": None, "heartbeat_timeout_ms": 60_000}),
            ],
        )

    def test_a_plain_call_has_no_heartbeat_timeout(self):
        task = self.ctx.call_activity("Greet", "Ada", retry=RetryPolicy(2, 10), version="^2")
        self.assertEqual(task, keel_sdk.Task(0))
        name, payload, options = self.host.calls[0]
        self.assertEqual((name, payload), ("Greet@^2", '"Ada"'))
        self.assertIsNone(options["heartbeat_timeout_ms"])
        self.assertIsNone(options["timeout_ms"])
        self.assertEqual(options["retry"][1]["max_attempts"], 2)

    def test_a_durable_http_call_has_no_heartbeat_timeout(self):
        # keel.http sends no heartbeats: a timeout in the options given would fail every slow response.
        options = ActivityOptions(timeout_ms=5_000, heartbeat_timeout_ms=1_000)
        self.ctx.call_http("GET", "http://h/x", options=options)
        self.assertEqual(
            self.host.calls[0][2], {"retry": None, "timeout_ms": 5_000, "heartbeat_timeout_ms": None}
        )
        self.assertEqual(options.heartbeat_timeout_ms, 1_000)  # the caller's options are left as they were


if __name__ == "__main__":
    unittest.main()
