"""Unit tests of cancellation against a stand-in for the host: `Context.cancel` hands the host the id of the
task it is given, without waiting, and refuses anything that is not a task. Run with the other SDK tests:
`python3 -m unittest discover -s sdk/python/tests`.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keel_sdk  # noqa: E402


class CancellingHost:
    """Hands out task ids in order for timers and event waits, and records the SDK's calls."""

    def __init__(self):
        self.calls = []
        self.next_id = 0

    def _schedule(self, call):
        self.calls.append(call)
        self.next_id += 1
        return self.next_id - 1

    def now_ms(self):
        return 1_000

    def start_timer(self, fire_at_ms):
        return self._schedule(("start_timer", fire_at_ms))

    def wait_event(self, name):
        return self._schedule(("wait_event", name))

    def cancel(self, task_id):
        self.calls.append(("cancel", task_id))

    def wait_all_or_request(self, ids):
        raise AssertionError("cancel must not wait")

    wait_any_or_request = wait_all_or_request


class CancelTest(unittest.TestCase):
    def setUp(self):
        self.saved = keel_sdk._context
        self.host = CancellingHost()
        keel_sdk._context = self.host

    def tearDown(self):
        keel_sdk._context = self.saved

    def test_cancel_hands_the_host_the_task_id(self):
        ctx = keel_sdk.Context()
        timer = ctx.timer(3_600_000)
        first = ctx.wait_event("Go")
        second = ctx.wait_event("Go")
        self.assertIsNone(ctx.cancel(timer))
        ctx.cancel(first)
        ctx.cancel(timer)  # the host leaves a resolved task as it is; the SDK passes the call on
        self.assertEqual(
            self.host.calls,
            [
                ("start_timer", 3_601_000),
                ("wait_event", "Go"),
                ("wait_event", "Go"),
                ("cancel", timer.id),
                ("cancel", first.id),
                ("cancel", timer.id),
            ],
        )
        self.assertEqual((timer.id, first.id, second.id), (0, 1, 2))

    def test_cancel_takes_only_a_task(self):
        ctx = keel_sdk.Context()
        with self.assertRaises(TypeError):
            ctx.cancel(3)
        self.assertEqual(self.host.calls, [])


if __name__ == "__main__":
    unittest.main()
