"""Unit tests of query dispatch against a stand-in for the host: a query handed over inside a wait is
answered by the handler of its name (or with UnknownQuery, or with the handler's failure), and the wait
then goes on to its outcomes. Run with the other SDK tests: `python3 -m unittest discover -s sdk/python/tests`.
"""

import os
import sys
import types
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keel_sdk  # noqa: E402
from keel_sdk import KeelFailure  # noqa: E402


class Ok:
    def __init__(self, value):
        self.value = value


class Err(Ok):
    pass


class Done:
    def __init__(self, value):
        self.value = value


class Request(Done):
    pass


class Query(Done):
    pass


class Update(Done):
    pass


class QueryingHost:
    """Hands over `queries` (name, input JSON) one per wait before answering the wait."""

    AllOrRequest_Request = Request
    AnyOrRequest_Request = Request
    Request_Query = Query
    Request_Update = Update

    def __init__(self, queries):
        self.queries = list(queries)
        self.answers = []

    def wait_all_or_request(self, ids):
        if self.queries:
            name, text = self.queries.pop(0)
            return Request(Query(types.SimpleNamespace(name=name, input=text)))
        return Done([keel_sdk.wit.Outcome_Ok("7") for _ in ids])

    def answer_query(self, answer):
        self.answers.append(answer)


class QueryTest(unittest.TestCase):
    def setUp(self):
        self.saved = (keel_sdk._context, keel_sdk.wit, keel_sdk._Ok, keel_sdk._Err, dict(keel_sdk._QUERIES))
        keel_sdk.wit = types.SimpleNamespace(
            Outcome_Ok=type("Outcome_Ok", (Done,), {}),
            Outcome_Err=type("Outcome_Err", (Done,), {}),
            Failure=lambda kind, message, details: (kind, message, details),
        )
        keel_sdk._Ok, keel_sdk._Err = Ok, Err
        keel_sdk._QUERIES.clear()

    def tearDown(self):
        keel_sdk._context, keel_sdk.wit, keel_sdk._Ok, keel_sdk._Err, queries = self.saved
        keel_sdk._QUERIES.clear()
        keel_sdk._QUERIES.update(queries)

    def test_queries_handed_over_in_a_wait_are_answered_and_the_wait_goes_on(self):
        host = QueryingHost([("Count", "null"), ("Plus", "5"), ("Nope", "null"), ("Fail", "null")])
        keel_sdk._context = host
        ctx = keel_sdk.Context()
        state = {"count": 2}
        ctx.on_query("Count", lambda _input: state["count"])
        ctx.on_query("Plus", lambda n: state["count"] + n)

        def fail(_input):
            raise KeelFailure("NotToday", "this query always fails")

        ctx.on_query("Fail", fail)
        self.assertEqual(keel_sdk.Task(0).get(), 7)
        self.assertEqual([type(a) for a in host.answers], [Ok, Ok, Err, Err])
        self.assertEqual(host.answers[0].value, "2")
        self.assertEqual(host.answers[1].value, "7")
        self.assertEqual(host.answers[2].value[0], "UnknownQuery")
        self.assertEqual(host.answers[3].value[:2], ("NotToday", "this query always fails"))


if __name__ == "__main__":
    unittest.main()
