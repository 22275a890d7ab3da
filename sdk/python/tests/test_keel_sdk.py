"""Unit tests of the SDK's pure parts (JSON, failures, registration, dispatch, activity information), run
with plain CPython outside a component: `python3 -m unittest discover -s sdk/python/tests`.
They must never need the generated bindings; the end-to-end behaviour is tested in tests/all/languages.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keel_sdk  # noqa: E402
from keel_sdk import KeelFailure, activity, activity_info, from_json, orchestrator, to_json  # noqa: E402


class JsonTest(unittest.TestCase):
    def test_compact_like_serde_json(self):
        self.assertEqual(to_json({"a": [1, 2.5], "b": "é"}), '{"a":[1,2.5],"b":"é"}')

    def test_empty_input_reads_as_null(self):
        self.assertIsNone(from_json("  "))

    def test_nan_is_refused(self):
        with self.assertRaises(ValueError):
            to_json(float("nan"))


class DispatchTest(unittest.TestCase):
    def setUp(self):
        keel_sdk._ACTIVITIES.clear()
        keel_sdk._ORCHESTRATORS.clear()

    def call(self, name, text):
        return keel_sdk._run("activity", keel_sdk._ACTIVITIES, name, text, lambda fn, value: fn(value))

    def test_registration_by_name_or_function_name(self):
        @activity("Double")
        def double(n):
            return n * 2

        @orchestrator
        def Flow(ctx, value):
            return value

        self.assertEqual(list(keel_sdk._ACTIVITIES), ["Double"])
        self.assertEqual(list(keel_sdk._ORCHESTRATORS), ["Flow"])
        self.assertEqual(self.call("Double", "21"), "42")
        with self.assertRaises(ValueError):
            activity("Double")(double)

    def test_failures(self):
        @activity("Boom")
        def boom(_):
            raise KeelFailure("Boom", "deliberate", {"n": 1})

        @activity("Crash")
        def crash(value):
            return value["missing"]

        with self.assertRaises(KeelFailure) as raised:
            self.call("Boom", "null")
        self.assertEqual(raised.exception, KeelFailure("Boom", "deliberate", {"n": 1}))
        with self.assertRaises(KeelFailure) as raised:
            self.call("Crash", "{}")
        self.assertEqual((raised.exception.kind, raised.exception.message), ("KeyError", "'missing'"))
        with self.assertRaises(KeelFailure) as raised:
            self.call("Crash", "{not json")
        self.assertEqual(raised.exception.kind, "InvalidInput")
        with self.assertRaises(KeelFailure) as raised:
            self.call("Nope", "null")
        self.assertEqual(raised.exception.kind, "UnknownFunction")


class ActivityInfoTest(unittest.TestCase):
    def test_reads_every_variable(self):
        env = {"KEEL_INSTANCE_ID": "i", "KEEL_TASK_ID": "3", "KEEL_ATTEMPT": "2", "KEEL_IDEMPOTENCY_KEY": "i/3"}
        self.assertEqual(activity_info(env), keel_sdk.ActivityInfo("i", 3, 2, "i/3"))

    def test_derives_the_key_and_rejects_malformed_values(self):
        self.assertEqual(
            activity_info({"KEEL_INSTANCE_ID": "i", "KEEL_TASK_ID": "7", "KEEL_ATTEMPT": "1"}).idempotency_key,
            "i/7",
        )
        self.assertIsNone(activity_info({"KEEL_INSTANCE_ID": "i", "KEEL_TASK_ID": "x", "KEEL_ATTEMPT": "1"}))
        self.assertIsNone(activity_info({}))


if __name__ == "__main__":
    unittest.main()
