"""Unit tests of update dispatch against a stand-in for the host: an update handed over inside a wait gets
the validator's verdict (accept-update) and, when the host says to run it, the handler's result
(answer-update); queries handed over in the same wait are still answered, and the wait then goes on to its
outcomes. Run with the other SDK tests: `python3 -m unittest discover -s sdk/python/tests`.
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

    def __eq__(self, other):
        return type(other) is type(self) and other.value == self.value

    def __repr__(self):
        return f"{type(self).__name__}({self.value!r})"


class Err(Ok):
    pass


class Case:
    """A case of a WIT variant, as componentize-py generates it: a class per case with a ``value``."""

    def __init__(self, value):
        self.value = value


class Done(Case):
    pass


class Request(Case):
    pass


class Query(Case):
    pass


class Update(Case):
    pass


def query(name, text="null"):
    return Query(types.SimpleNamespace(name=name, input=text))


def update(name, text="null", update_id="u-1"):
    return Update(types.SimpleNamespace(id=update_id, name=name, input=text))


class RequestingHost:
    """Hands over `requests` one per wait before the wait's outcome (every task resolves with 7), and records
    the SDK's calls. `accept_update` accepts an `Ok` verdict; `replaying=True` makes it run the handler
    whatever the verdict, as the host does when it replays an update the history records as accepted."""

    AllOrRequest_Request = Request
    AnyOrRequest_Request = Request
    Request_Query = Query
    Request_Update = Update

    def __init__(self, requests, replaying=False):
        self.requests = list(requests)
        self.replaying = replaying
        self.calls = []

    def wait_all_or_request(self, ids):
        if self.requests:
            return Request(self.requests.pop(0))
        return Done([keel_sdk.wit.Outcome_Ok("7") for _ in ids])

    def wait_any_or_request(self, ids):
        if self.requests:
            return Request(self.requests.pop(0))
        return Done((ids[-1], keel_sdk.wit.Outcome_Ok("7")))

    def accept_update(self, verdict):
        self.calls.append(("accept", verdict))
        return self.replaying or not isinstance(verdict, Err)

    def answer_update(self, answer):
        self.calls.append(("update", answer))

    def answer_query(self, answer):
        self.calls.append(("query", answer))


def failure(kind, message, details=None):
    """A failure as the stand-in `wit.Failure` builds it."""
    return (kind, message, details)


class UpdateTest(unittest.TestCase):
    def setUp(self):
        self.saved = (
            keel_sdk._context,
            keel_sdk.wit,
            keel_sdk._Ok,
            keel_sdk._Err,
            dict(keel_sdk._QUERIES),
            dict(keel_sdk._UPDATES),
        )
        keel_sdk.wit = types.SimpleNamespace(
            Outcome_Ok=type("Outcome_Ok", (Case,), {}),
            Outcome_Err=type("Outcome_Err", (Case,), {}),
            Failure=failure,
        )
        keel_sdk._Ok, keel_sdk._Err = Ok, Err
        keel_sdk._QUERIES.clear()
        keel_sdk._UPDATES.clear()
        self.comments = []
        self.ctx = keel_sdk.Context()
        self.ctx.on_update("AddComment", self.add_comment, validator=self.check_comment)

    def tearDown(self):
        keel_sdk._context, keel_sdk.wit, keel_sdk._Ok, keel_sdk._Err, queries, updates = self.saved
        keel_sdk._QUERIES.clear()
        keel_sdk._QUERIES.update(queries)
        keel_sdk._UPDATES.clear()
        keel_sdk._UPDATES.update(updates)

    def add_comment(self, comment):
        self.comments.append(comment)
        return {"comments": len(self.comments)}

    @staticmethod
    def check_comment(comment):
        if not comment.get("text"):
            raise KeelFailure("EmptyComment", "a comment needs text")

    def wait(self, requests, replaying=False):
        """Waits on one task while the stand-in host hands over `requests`; returns the host's record."""
        host = RequestingHost(requests, replaying)
        keel_sdk._context = host
        self.assertEqual(keel_sdk.Task(0).get(), 7)
        return host.calls

    def test_an_accepted_update_runs_its_handler_and_answers_its_result(self):
        calls = self.wait([update("AddComment", '{"by":"ada","text":"fine"}')])
        self.assertEqual(calls, [("accept", Ok(None)), ("update", Ok('{"comments":1}'))])
        self.assertEqual(self.comments, [{"by": "ada", "text": "fine"}])

    def test_an_update_without_a_validator_is_accepted(self):
        self.ctx.on_update("Clear", lambda _input: self.comments.clear())
        self.comments.append({"by": "ada", "text": "fine"})
        calls = self.wait([update("Clear")])
        self.assertEqual(calls, [("accept", Ok(None)), ("update", Ok("null"))])
        self.assertEqual(self.comments, [])

    def test_a_validators_failure_rejects_the_update_and_the_handler_does_not_run(self):
        calls = self.wait([update("AddComment", '{"by":"ada","text":""}')])
        self.assertEqual(calls, [("accept", Err(failure("EmptyComment", "a comment needs text")))])
        self.assertEqual(self.comments, [])

    def test_another_exception_of_a_validator_rejects_with_its_class_name(self):
        calls = self.wait([update("AddComment", "[]")])  # a list has no .get: AttributeError
        self.assertEqual(len(calls), 1)
        verdict = calls[0][1]
        self.assertIsInstance(verdict, Err)
        self.assertEqual(verdict.value[0], "AttributeError")
        self.assertEqual(self.comments, [])

    def test_an_update_no_handler_has_is_rejected_as_unknown(self):
        calls = self.wait([update("Nope")])
        unknown = failure("UnknownUpdate", 'the orchestrator registered no update named "Nope"')
        self.assertEqual(calls, [("accept", Err(unknown))])
        self.assertEqual(keel_sdk.UNKNOWN_UPDATE, "UnknownUpdate")

    def test_an_input_that_is_not_json_is_rejected_as_invalid(self):
        calls = self.wait([update("AddComment", "{not json")])
        self.assertEqual(len(calls), 1)
        self.assertEqual(calls[0][0], "accept")
        self.assertIsInstance(calls[0][1], Err)
        self.assertEqual(calls[0][1].value[0], "InvalidInput")
        self.assertEqual(self.comments, [])

    def test_a_replayed_update_runs_its_handler_whatever_the_verdict(self):
        calls = self.wait([update("AddComment", '{"by":"ada","text":""}')], replaying=True)
        self.assertEqual(
            calls,
            [
                ("accept", Err(failure("EmptyComment", "a comment needs text"))),
                ("update", Ok('{"comments":1}')),
            ],
        )
        self.assertEqual(self.comments, [{"by": "ada", "text": ""}])

    def test_a_replayed_update_no_handler_has_is_answered_with_the_verdicts_failure(self):
        calls = self.wait([update("Nope")], replaying=True)
        unknown = Err(failure("UnknownUpdate", 'the orchestrator registered no update named "Nope"'))
        self.assertEqual(calls, [("accept", unknown), ("update", unknown)])

    def test_a_handlers_failure_is_the_updates_answer(self):
        def refuse(_input):
            raise KeelFailure("Closed", "the request is closed", {"state": "applying"})

        self.ctx.on_update("AddComment", refuse)
        calls = self.wait([update("AddComment", '{"by":"ada","text":"late"}')])
        closed = failure("Closed", "the request is closed", '{"state":"applying"}')
        self.assertEqual(calls, [("accept", Ok(None)), ("update", Err(closed))])

    def test_an_output_that_is_not_json_is_an_invalid_output_answer(self):
        self.ctx.on_update("Odd", lambda _input: {1, 2})
        calls = self.wait([update("Odd")])
        self.assertEqual(calls[0], ("accept", Ok(None)))
        self.assertIsInstance(calls[1][1], Err)
        self.assertEqual(calls[1][1].value[0], "InvalidOutput")

    def test_queries_and_updates_in_one_wait_are_served_then_the_outcome_returned(self):
        self.ctx.on_query("Comments", lambda _input: len(self.comments))
        host = RequestingHost(
            [
                query("Comments"),
                update("AddComment", '{"by":"ada","text":"one"}', "u-1"),
                query("Comments"),
                update("AddComment", '{"by":"alan","text":""}', "u-2"),
                update("AddComment", '{"by":"alan","text":"two"}', "u-3"),
                query("Comments"),
            ]
        )
        keel_sdk._context = host
        self.assertEqual(self.ctx.any([keel_sdk.Task(0), keel_sdk.Task(1)]), (1, 7))
        self.assertEqual(
            host.calls,
            [
                ("query", Ok("0")),
                ("accept", Ok(None)),
                ("update", Ok('{"comments":1}')),
                ("query", Ok("1")),
                ("accept", Err(failure("EmptyComment", "a comment needs text"))),
                ("accept", Ok(None)),
                ("update", Ok('{"comments":2}')),
                ("query", Ok("2")),
            ],
        )

    def test_a_new_run_of_an_orchestrator_starts_without_update_handlers(self):
        seen = []
        keel_sdk._ORCHESTRATORS["SeesUpdates"] = lambda ctx, _input: seen.append(sorted(keel_sdk._UPDATES))
        try:
            keel_sdk._run_orchestrator("SeesUpdates", "null")
        finally:
            del keel_sdk._ORCHESTRATORS["SeesUpdates"]
        self.assertEqual(seen, [[]])


if __name__ == "__main__":
    unittest.main()
