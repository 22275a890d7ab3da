"""Unit tests of local activities against a stand-in for the host: `call_activity(..., local=True)` (or
`ActivityOptions(local=True)`) goes to `call-local-activity` with the same name, payload and call options an
ordinary call gives `call-activity-with`; a call without it still goes to `call-activity-with`; and a durable
HTTP call is never local. Run with the other SDK tests: `python3 -m unittest discover -s sdk/python/tests`.
"""

import os
import sys
import types
import unittest
from datetime import timedelta

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keel_sdk  # noqa: E402
from keel_sdk import ActivityOptions, KeelFailure, RetryPolicy, Task, to_json  # noqa: E402


class _Outcome:
    def __init__(self, value):
        self.value = value


class Outcome_Ok(_Outcome):  # noqa: N801 - named as componentize-py names the variant's cases
    pass


class Outcome_Err(_Outcome):  # noqa: N801
    pass


class FakeHost:
    """The orchestration context's host calls: records each activity call, local or not, hands out task ids
    and resolves every task with the next of ``answers`` (an output, or a ``KeelFailure``)."""

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.calls = []
        self.outcomes = {}

    def _schedule(self, how, name, payload, options):
        self.calls.append((how, name, payload, options))
        task = len(self.calls) - 1
        if how == "timer":
            self.outcomes[task] = Outcome_Ok("null")
        elif self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, KeelFailure):
                failure = types.SimpleNamespace(kind=answer.kind, message=answer.message, details=None)
                self.outcomes[task] = Outcome_Err(failure)
            else:
                self.outcomes[task] = Outcome_Ok(to_json(answer))
        return task

    def call_activity_with(self, name, payload, options):
        return self._schedule("activity", name, payload, options)

    def call_local_activity(self, name, payload, options):
        return self._schedule("local", name, payload, options)

    def start_timer(self, fire_at_ms):
        return self._schedule("timer", fire_at_ms, None, None)

    def now_ms(self):
        return 0

    class AllOrRequest_Done:  # noqa: N801
        def __init__(self, value):
            self.value = value

    class AllOrRequest_Request(AllOrRequest_Done):  # noqa: N801
        pass

    def wait_all_or_request(self, ids):
        return self.AllOrRequest_Done([self.outcomes[i] for i in ids])


def retry_fields(max_attempts, first_interval_ms=0, backoff_coefficient=1.0, non_retryable=()):
    """What the stand-in ``wit.RetryPolicy`` makes of ``RetryPolicy(max_attempts, first_interval_ms, ...)``."""
    return (
        "retry",
        {
            "max_attempts": max_attempts,
            "first_interval_ms": first_interval_ms,
            "backoff_coefficient": backoff_coefficient,
            "max_interval_ms": None,
            "timeout_ms": None,
            "non_retryable": list(non_retryable),
        },
    )


class LocalActivityTest(unittest.TestCase):
    def setUp(self):
        self.saved = (keel_sdk._context, keel_sdk.wit)
        keel_sdk.wit = types.SimpleNamespace(
            Outcome_Ok=Outcome_Ok,
            Outcome_Err=Outcome_Err,
            RetryPolicy=lambda **fields: ("retry", fields),
            CallOptions=lambda **fields: fields,
        )
        self.host = FakeHost()
        keel_sdk._context = self.host
        self.ctx = keel_sdk.Context()

    def tearDown(self):
        keel_sdk._context, keel_sdk.wit = self.saved

    def test_a_local_call_goes_to_call_local_activity_with_its_name_payload_and_options(self):
        task = self.ctx.call_activity(
            "Bump", 41, local=True, retry=RetryPolicy(3, 10, 2.0, non_retryable=["Negative"]), timeout_ms=500
        )
        self.assertEqual(task, Task(0))
        self.assertEqual(
            self.host.calls,
            [
                (
                    "local",
                    "Bump",
                    "41",
                    {
                        "retry": retry_fields(3, 10, 2.0, non_retryable=["Negative"]),
                        "timeout_ms": 500,
                        "heartbeat_timeout_ms": None,
                    },
                )
            ],
        )

    def test_a_local_call_keeps_its_version_range_and_times_as_milliseconds(self):
        self.ctx.call_activity(
            "Lookup", {"id": "ü"}, local=True, version="^2", timeout_ms=timedelta(seconds=1.5)
        )
        self.assertEqual(
            self.host.calls,
            [
                (
                    "local",
                    "Lookup@^2",
                    '{"id":"ü"}',
                    {"retry": None, "timeout_ms": 1_500, "heartbeat_timeout_ms": None},
                )
            ],
        )

    def test_without_local_a_call_still_goes_to_call_activity_with(self):
        self.ctx.call_activity("Bump", 1)
        self.ctx.call_activity("Bump", 2, local=False, retry=RetryPolicy(2), timeout_ms=100)
        self.ctx.call_activity("Bump", 3, ActivityOptions(timeout_ms=100))
        self.assertEqual([call[0] for call in self.host.calls], ["activity", "activity", "activity"])
        options = {"retry": retry_fields(2), "timeout_ms": 100, "heartbeat_timeout_ms": None}
        self.assertEqual(self.host.calls[1], ("activity", "Bump", "2", options))

    def test_activity_options_with_local_make_a_local_call(self):
        options = ActivityOptions(retry=RetryPolicy(2, 5), timeout_ms=200, local=True)
        self.assertFalse(ActivityOptions().local)
        self.ctx.call_activity("Bump", 7, options)
        self.ctx.call_activity("Bump", 8, options=options)
        expected = {"retry": retry_fields(2, 5), "timeout_ms": 200, "heartbeat_timeout_ms": None}
        self.assertEqual(self.host.calls, [("local", "Bump", "7", expected), ("local", "Bump", "8", expected)])

    def test_a_heartbeat_timeout_is_passed_on_for_the_host_to_ignore(self):
        self.ctx.call_activity("Bump", 0, local=True, heartbeat_timeout_ms=1_000)
        expected = {"retry": None, "timeout_ms": None, "heartbeat_timeout_ms": 1_000}
        self.assertEqual(self.host.calls, [("local", "Bump", "0", expected)])

    def test_a_local_task_is_awaited_like_any_other(self):
        self.host.answers = [4, KeelFailure("Negative", "cannot bump a negative number")]
        self.assertEqual(self.ctx.call_activity("Bump", 3, local=True).get(), 4)
        with self.assertRaises(KeelFailure) as raised:
            self.ctx.call_activity("Bump", -1, local=True).get()
        self.assertEqual(raised.exception, KeelFailure("Negative", "cannot bump a negative number"))
        self.assertEqual([call[0] for call in self.host.calls], ["local", "local"])

    def test_a_local_call_with_input_that_is_not_json_schedules_nothing(self):
        with self.assertRaises(TypeError):
            self.ctx.call_activity("Bump", object(), local=True)
        self.assertEqual(self.host.calls, [])

    def test_a_durable_http_call_is_never_local(self):
        self.host.answers = [
            {"status": 202, "location": "http://h/jobs/1", "retryAfterMs": 0},
            {"status": 200, "body": "done"},
        ]
        options = ActivityOptions(timeout_ms=5_000, heartbeat_timeout_ms=1_000, local=True)
        response = self.ctx.call_http("GET", "http://h/jobs", asynchronous=True, options=options).get()
        self.assertEqual((response.status, response.body), (200, "done"))
        # The first request and the poll both go to call-activity-with, without the heartbeat timeout.
        self.assertEqual(
            [call[:2] for call in self.host.calls],
            [("activity", "keel.http"), ("timer", 0), ("activity", "keel.http")],
        )
        expected = {"retry": None, "timeout_ms": 5_000, "heartbeat_timeout_ms": None}
        self.assertEqual([self.host.calls[0][3], self.host.calls[2][3]], [expected, expected])
        self.assertTrue(options.local)  # the caller's options are left as they were

    def test_a_durable_http_call_with_only_local_or_no_options_is_not_local(self):
        self.ctx.call_http("GET", "http://h/x", options=ActivityOptions(local=True))
        self.ctx.call_http("GET", "http://h/x", retry=RetryPolicy(2), timeout_ms=100)
        self.assertEqual(
            [call[:2] for call in self.host.calls], [("activity", "keel.http"), ("activity", "keel.http")]
        )


if __name__ == "__main__":
    unittest.main()
