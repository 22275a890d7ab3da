"""Keel's Python SDK: decorators and a synchronous ``Context`` over the ``keel:workflow`` WIT bindings, for
orchestrators and activities built into one WebAssembly component with componentize-py.
It must never cache a host answer or read time and randomness itself: orchestrators stay deterministic only
because every such value comes from the host (or from the WASI the host virtualises).

Writing a module (``app.py``)::

    from keel_sdk import orchestrator, activity, KeelFailure

    @orchestrator("GreetAll")
    def greet_all(ctx, names):
        # Schedule every call first, then wait: the activities run in parallel.
        return ctx.all([ctx.call_activity("Greet", name) for name in names])

    @activity("Greet")
    def greet(name):
        if not name:
            raise KeelFailure("NoName", "cannot greet nobody")
        return f"hello, {name}"

Build it with ``sdk/python/build.sh APP_DIR OUT.wasm``. Activities send HTTP requests with
:mod:`keel_sdk.http`; orchestrators schedule durable ones with :meth:`Context.call_http`. A long activity
reports progress with :func:`heartbeat` (which tells it when to stop) and resumes from
:func:`last_heartbeat`. A short activity that is safe to repeat can run as a local activity
(``ctx.call_activity(..., local=True)``), inline in the worker holding the orchestrator.

Scheduling calls (``call_activity``, ``timer``, ``wait_event``, ...) return a :class:`Task` at once; only
``Task.get``, ``Context.all``, ``Context.all_settled`` and ``Context.any`` block, while the host suspends
the whole component, so plain synchronous code is enough.
"""

from __future__ import annotations

import json
import os
import random
import traceback
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

# The generated bindings, imported at module level on purpose: componentize-py snapshots the interpreter
# after importing the app, and a module first imported at run time would not be found in the component.
# Outside a component build (unit tests, editors) they are absent and the SDK still imports.
try:
    from componentize_py_types import Err as _Err
    from componentize_py_types import Ok as _Ok
    from wit_world.imports import activity_context as _activity_context
    from wit_world.imports import context as _context

    # keel:workflow/types, named after its package because the world also imports wasi:http/types.
    from wit_world.imports import keel_workflow_types as wit
except ImportError:  # pragma: no cover - only outside a component
    _Err = _Ok = _activity_context = _context = wit = None  # type: ignore[assignment]

__all__ = [
    "ActivityInfo",
    "ActivityOptions",
    "Context",
    "HttpCall",
    "HttpResponse",
    "KeelFailure",
    "LogLevel",
    "RetryPolicy",
    "Task",
    "activity",
    "activity_info",
    "from_json",
    "heartbeat",
    "http",
    "last_heartbeat",
    "orchestrator",
    "to_json",
]

# Failure kinds the SDK itself produces, the same as the Rust SDK's.
INVALID_INPUT = "InvalidInput"
INVALID_OUTPUT = "InvalidOutput"
UNKNOWN_FUNCTION = "UnknownFunction"
UNKNOWN_QUERY = "UnknownQuery"
UNKNOWN_UPDATE = "UnknownUpdate"

# Environment variables the host sets for each activity attempt.
INSTANCE_ID_VAR = "KEEL_INSTANCE_ID"
TASK_ID_VAR = "KEEL_TASK_ID"
ATTEMPT_VAR = "KEEL_ATTEMPT"
IDEMPOTENCY_KEY_VAR = "KEEL_IDEMPOTENCY_KEY"

U64_MAX = 2**64 - 1

# The host's built-in activity behind Context.call_http, and the polling interval of an asynchronous call
# whose 202 carries no Retry-After.
HTTP_ACTIVITY = "keel.http"
DEFAULT_POLL_MS = 1000


# ---------------------------------------------------------------------------------------------------------
# JSON


def to_json(value: Any) -> str:
    """Serialises a payload the way the Rust SDK (serde_json) does: compact, UTF-8, no NaN."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def from_json(text: str) -> Any:
    """Parses a payload; empty text reads as ``null`` (some clients send no input at all)."""
    return json.loads(text) if text.strip() else None


def _truncate(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# ---------------------------------------------------------------------------------------------------------
# Failures


class KeelFailure(Exception):
    """Why something did not succeed: a machine-readable ``kind``, a human-readable ``message`` and
    optional JSON-serialisable ``details``.

    Raised from an activity it fails that attempt (and, once retries are exhausted, the orchestrator's
    task); raised from an orchestrator it fails the instance. Awaiting a failed task raises it, so
    orchestrators can ``except KeelFailure as failure`` and look at ``failure.kind``.
    """

    def __init__(self, kind: str, message: str, details: Any = None):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.details = details

    def is_kind(self, kind: str) -> bool:
        return self.kind == kind

    def __repr__(self) -> str:
        return f"KeelFailure({self.kind!r}, {self.message!r}, {self.details!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, KeelFailure)
            and (self.kind, self.message, self.details) == (other.kind, other.message, other.details)
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def from_exception(cls, error: BaseException) -> "KeelFailure":
        """A ``KeelFailure`` as is; any other exception as a failure of kind = its class name."""
        if isinstance(error, KeelFailure):
            return error
        try:
            details = {"traceback": "".join(traceback.format_exception(error))}
        except Exception:  # noqa: BLE001 - a failure path must not fail itself
            details = None
        return cls(type(error).__name__, str(error), details)

    def _to_wit(self):
        if self.details is None:
            details = None
        else:
            try:
                details = to_json(self.details)
            except (TypeError, ValueError) as error:
                # A failure path must not fail itself.
                details = to_json(f"details could not be serialised: {error}")
        return wit.Failure(kind=str(self.kind), message=str(self.message), details=details)

    @classmethod
    def _from_wit(cls, failure) -> "KeelFailure":
        details = failure.details
        if details is not None:
            try:
                details = json.loads(details)
            except ValueError:
                pass  # not JSON (another SDK or the host may send text): kept as text
        return cls(failure.kind, failure.message, details)


# ---------------------------------------------------------------------------------------------------------
# Options


def _millis(value: Union[int, float, timedelta, None]) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds() * 1000
    return max(0, min(U64_MAX, int(value)))


@dataclass
class RetryPolicy:
    """How an activity is retried after a failed attempt; the host applies it and records each attempt.

    ``RetryPolicy(3, 100, backoff_coefficient=2.0)``: 3 attempts, the second 100 ms after the first
    failure, the third 200 ms after the second. Intervals are milliseconds or ``timedelta``s.
    ``non_retryable=["PaymentDeclined"]``: failure kinds that end the task at once, without another
    attempt.
    """

    max_attempts: int
    first_interval_ms: Union[int, timedelta] = 0
    backoff_coefficient: float = 1.0
    max_interval_ms: Union[int, timedelta, None] = None
    timeout_ms: Union[int, timedelta, None] = None
    non_retryable: Sequence[str] = ()

    def _to_wit(self):
        kinds = [self.non_retryable] if isinstance(self.non_retryable, str) else self.non_retryable
        return wit.RetryPolicy(
            max_attempts=max(1, int(self.max_attempts)),  # there is always a first attempt
            first_interval_ms=_millis(self.first_interval_ms) or 0,
            backoff_coefficient=float(self.backoff_coefficient),
            max_interval_ms=_millis(self.max_interval_ms),
            timeout_ms=_millis(self.timeout_ms),
            non_retryable=[str(kind) for kind in kinds],
        )


@dataclass
class ActivityOptions:
    """Options of one activity call: its retry policy, the time limit of one attempt (ms), the versions
    of the activity it accepts (a semver range such as ``"^2"``: the active version if it matches, else
    the highest deployed version that does) and its heartbeat timeout (ms): an attempt that goes longer
    than that without a :func:`heartbeat` (counted from its start) fails with kind ``HeartbeatTimeout``,
    and the retry policy decides what follows. Times are milliseconds or ``timedelta``s.

    ``local=True`` makes it a local (inline) activity: the worker running the orchestrator runs it as soon
    as the orchestrator waits, without a work item of its own, and records its result with the turn's
    commit. A crash before that commit runs the turn's local activities again, so they must be short and
    safe to repeat. Retries with a short delay run in place; a longer one continues as an ordinary activity
    call. Heartbeats (and the heartbeat timeout) are ignored."""

    retry: Optional[RetryPolicy] = None
    timeout_ms: Union[int, timedelta, None] = None
    version: Optional[str] = None
    heartbeat_timeout_ms: Union[int, timedelta, None] = None
    local: bool = False

    def _to_wit(self):
        """The WIT ``call-options`` of ``call-activity-with`` (or ``call-local-activity`` when ``local``),
        through which every activity is scheduled."""
        return wit.CallOptions(
            retry=self.retry._to_wit() if self.retry is not None else None,
            timeout_ms=_millis(self.timeout_ms),
            heartbeat_timeout_ms=_millis(self.heartbeat_timeout_ms),
        )


# ---------------------------------------------------------------------------------------------------------
# Activity information and heartbeats


@dataclass(frozen=True)
class ActivityInfo:
    """The instance, task and attempt (1-based) an activity attempt belongs to, and a key stable across
    every attempt of the call and new for each incarnation of the instance id (``instance/run/task-id``,
    ``instance/run@execution/task-id`` after a continue-as-new) for deduplicating side effects."""

    instance_id: str
    task_id: int
    attempt: int
    idempotency_key: str


def activity_info(environ: Optional[Dict[str, str]] = None) -> Optional[ActivityInfo]:
    """The current attempt's information, or ``None`` outside an activity attempt run by Keel (a missing
    or malformed variable also gives ``None``)."""
    env = os.environ if environ is None else environ
    try:
        instance_id = env[INSTANCE_ID_VAR]
        task_id = int(env[TASK_ID_VAR].strip())
        attempt = int(env[ATTEMPT_VAR].strip())
    except (KeyError, ValueError):
        return None
    key = env.get(IDEMPOTENCY_KEY_VAR) or f"{instance_id}/{task_id}"
    return ActivityInfo(instance_id, task_id, attempt, key)


def _activity_host():
    if _activity_context is None:
        raise RuntimeError("keel: the activity context exists only inside a Keel component")
    return _activity_context


def heartbeat(details: Any = None) -> bool:
    """Reports that the running activity attempt is alive, with progress ``details`` (any JSON value).
    The latest details show in the instance's status (``keel status``) and are given to the next attempt
    of the task (:func:`last_heartbeat`); an attempt called with ``heartbeat_timeout_ms`` must heartbeat
    at least that often. Returns True when the attempt should stop: its task was canceled, its instance
    terminated, or another worker took it over. The attempt may then clean up and return (what it
    returns is dropped); one that goes on is stopped a few seconds later. For activities only: an
    orchestrator calling it fails."""
    return bool(_activity_host().heartbeat(_encode(details, "heartbeat details")))


def last_heartbeat() -> Any:
    """The details of the last heartbeat an earlier attempt of this task recorded (or an earlier run of
    this attempt whose worker stopped), parsed from JSON; ``None`` when there was none. Raises a
    ``KeelFailure`` of kind ``InvalidInput`` if the recorded details are not JSON."""
    text = _activity_host().last_heartbeat()
    if text is None:
        return None
    try:
        return from_json(text)
    except ValueError as error:
        raise KeelFailure(
            INVALID_INPUT,
            f"the details of the last heartbeat are not valid JSON: {error} (details: {_truncate(text)})",
        ) from None


# ---------------------------------------------------------------------------------------------------------
# Orchestration context


class LogLevel:
    """Severity of a log line written with :meth:`Context.log`."""

    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


def _host():
    if _context is None:
        raise RuntimeError("keel: the orchestration context exists only inside a Keel component")
    return _context


def _decode_outcome(outcome) -> Any:
    """An outcome's value, or its failure raised as a ``KeelFailure``."""
    if isinstance(outcome, wit.Outcome_Err):
        raise KeelFailure._from_wit(outcome.value)
    try:
        return from_json(outcome.value)
    except ValueError as error:
        raise KeelFailure(
            INVALID_OUTPUT, f"task output is not valid JSON: {error} (output: {_truncate(outcome.value)})"
        ) from None


def _settle(outcome) -> Any:
    try:
        return _decode_outcome(outcome)
    except KeelFailure as failure:
        return failure


class Task:
    """A task an orchestrator can wait on: an activity call, a sub-orchestration, a timer or an event.
    It is only an id; awaiting it several times gives the same outcome."""

    __slots__ = ("id",)

    def __init__(self, task_id: int):
        self.id = task_id

    def get(self) -> Any:
        """Waits for this task and returns its output, or raises its ``KeelFailure``."""
        return _decode_outcome(_await_all([self])[0])

    def __repr__(self) -> str:
        return f"Task({self.id})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Task) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)


def _task_id(task: Task) -> int:
    if not isinstance(task, Task):
        raise TypeError(f"keel: expected a Task returned by a Context scheduling call, got {task!r}")
    return task.id


def _await_all(tasks: Sequence[Task]) -> list:
    if not tasks:
        return []  # nothing to wait for: spares the host a call
    ids = [task.id for task in tasks]
    outcomes = _wait(lambda host: host.wait_all_or_request(ids), "AllOrRequest_Request")
    if len(outcomes) != len(ids):
        raise RuntimeError(f"keel: await-all returned {len(outcomes)} outcomes for {len(ids)} tasks")
    return outcomes


def _wait(call: Callable[[Any], Any], request_case: str) -> Any:
    """``wait-all-or-request``/``wait-any-or-request``: serves the queries and updates the host hands over
    until the wait is done."""
    host = _host()
    while True:
        woken = call(host)
        if not isinstance(woken, getattr(host, request_case)):
            return woken.value
        _serve(woken.value)


def _serve(request) -> None:
    """Serves a request the host handed over: answers a query, or validates and runs an update."""
    if isinstance(request, _host().Request_Update):
        _serve_update(request.value)
    else:
        _answer_query(request.value)


# Query handlers of the running orchestrator (``Context.on_query``), by name.
_QUERIES: Dict[str, Callable[[Any], Any]] = {}

# Update handlers and their validators (or ``None``) of the running orchestrator (``Context.on_update``),
# by name.
_UPDATES: Dict[str, Tuple[Callable[[Any], Any], Optional[Callable[[Any], Any]]]] = {}


def _result(compute: Callable[[], Any]):
    """``compute()`` as a WIT ``result``: ``Ok`` of its value, or ``Err`` of the ``KeelFailure`` it raised."""
    try:
        return _Ok(compute())
    except KeelFailure as failure:
        return _fail(failure)


def _answer_query(query) -> None:
    """Answers a query the host handed over with the handler of its name."""

    def answer() -> str:
        if query.name not in _QUERIES:
            raise KeelFailure(
                UNKNOWN_QUERY, f"the orchestrator registered no query named {to_json(query.name)}"
            )
        return _run("query", _QUERIES, query.name, query.input, lambda fn, value: fn(value))

    _host().answer_query(_result(answer))


def _serve_update(update) -> None:
    """Serves an update the host handed over: gives the host the validator's verdict and, when the host says
    to run the handler (accepted, or replaying an accepted update), answers with the handler's result."""
    host = _host()
    try:
        handler, validator = _update_handlers(update.name)
        value = _parse(update.name, update.input)
    except KeelFailure as failure:
        # No handler can run: the host says to run one only when replaying an update accepted before.
        if host.accept_update(_fail(failure)):
            host.answer_update(_fail(failure))
        return
    if host.accept_update(_result(lambda: _validate(validator, value))):
        host.answer_update(_result(lambda: _output(update.name, _guarded(handler, value))))


def _update_handlers(name: str) -> Tuple[Callable[[Any], Any], Optional[Callable[[Any], Any]]]:
    """The handler and the validator registered for the update ``name``; ``UnknownUpdate`` if none is."""
    if name not in _UPDATES:
        raise KeelFailure(UNKNOWN_UPDATE, f"the orchestrator registered no update named {to_json(name)}")
    return _UPDATES[name]


def _validate(validator: Optional[Callable[[Any], Any]], value: Any) -> None:
    """Runs an update's validator, if any, on its input: its return value is ignored, a raise rejects."""
    if validator is not None:
        _guarded(validator, value)


class Context:
    """The orchestration context: schedules tasks, awaits them and reads replay-safe time and randomness.

    Orchestrator code must be deterministic: take time, randomness and ids from the context (or from
    ``time``/``random``, which the host virtualises for orchestrators), and make the same calls in the
    same order on every replay.
    """

    # -- scheduling: never blocks ------------------------------------------------------------------------

    def call_activity(
        self,
        name: str,
        input: Any = None,
        options: Optional[ActivityOptions] = None,
        *,
        retry: Optional[RetryPolicy] = None,
        timeout_ms: Union[int, timedelta, None] = None,
        heartbeat_timeout_ms: Union[int, timedelta, None] = None,
        version: Optional[str] = None,
        local: bool = False,
    ) -> Task:
        """Schedules the activity ``name`` with ``input``: one attempt with the module's default time
        limit and no heartbeat timeout on the active version, unless ``options`` (or ``retry``/
        ``timeout_ms``/``heartbeat_timeout_ms``/``version``/``local``) say otherwise.

        With ``local=True`` it is a local activity (see :class:`ActivityOptions`): run by this worker when
        the orchestrator next waits and recorded with the turn's commit, so it must be short and safe to
        repeat. Its task is awaited like any other."""
        if options is None:
            options = ActivityOptions(
                retry=retry,
                timeout_ms=timeout_ms,
                version=version,
                heartbeat_timeout_ms=heartbeat_timeout_ms,
                local=local,
            )
        payload = _encode(input, f"input of activity {name}")
        target = f"{name}@{options.version}" if options.version else name
        if options.local:
            return Task(_host().call_local_activity(target, payload, options._to_wit()))
        # Otherwise always call-activity-with: without a heartbeat timeout the host records what
        # call-activity would.
        return Task(_host().call_activity_with(target, payload, options._to_wit()))

    def call_orchestrator(self, name: str, input: Any = None, instance_id: Optional[str] = None) -> Task:
        """Starts the sub-orchestration ``name`` as ``instance_id`` or, with ``None``, an instance id the
        host derives deterministically."""
        payload = _encode(input, f"input of orchestrator {name}")
        return Task(_host().call_orchestrator(name, instance_id, payload))

    def timer_at(self, fire_at_ms: int) -> Task:
        """A durable timer that fires at ``fire_at_ms`` (orchestration time, ms since the Unix epoch);
        it resolves with ``None``."""
        return Task(_host().start_timer(max(0, min(U64_MAX, int(fire_at_ms)))))

    def timer(self, delay: Union[int, float, timedelta]) -> Task:
        """A durable timer that fires ``delay`` (milliseconds or a ``timedelta``) after now."""
        return self.timer_at(min(U64_MAX, self.now() + (_millis(delay) or 0)))

    def wait_event(self, name: str) -> Task:
        """Waits for the next external event raised with ``name``; it resolves with the event's data."""
        return Task(_host().wait_event(name))

    def cancel(self, task: Task) -> None:
        """Cancels ``task``, which this orchestrator scheduled; never blocks.

        If it has not resolved, it resolves at once with a ``KeelFailure`` of kind ``Canceled`` (awaiting
        it raises that failure) and what it stands for stops: an activity is stopped (one not started never
        runs), a timer's firing is ignored, a sub-orchestration is terminated with its own children, and a
        wait for an event takes none (the next event of that name goes to the next wait). A task that has
        resolved is left as it is, so cancelling twice does nothing more. Recorded in the history and
        checked on replay."""
        _host().cancel(_task_id(task))

    def call_http(
        self,
        method: str,
        url: str,
        *,
        headers: Any = None,
        body: Union[str, bytes, None] = None,
        json: Any = None,
        asynchronous: bool = False,
        retry_on: Optional[Sequence[int]] = None,
        options: Optional[ActivityOptions] = None,
        retry: Optional[RetryPolicy] = None,
        timeout_ms: Union[int, timedelta, None] = None,
    ) -> "HttpCall":
        """Schedules a durable HTTP call: the host's built-in activity ``keel.http`` sends it once, under
        this orchestrator's grants (``keel grant ORCHESTRATOR URL``), and replays answer from the history.
        The orchestrator itself must never send a request (the host fails the instance, ``KEEL-O1``).

        ``headers`` (a dict) may name a secret of the orchestrator in a value, ``{{secret:NAME}}``, which
        the host fills in when it sends the request: the history holds only the placeholder. ``body`` is
        text; ``json`` a JSON body. With ``asynchronous=True``, a ``202 Accepted`` with a ``Location`` is
        followed by polling that location after durable timers (``Retry-After``, else 1 s) until the
        status is not 202. ``retry_on``: statuses that fail the attempt so that the retry policy applies
        (default 408, 429, 500, 502, 503, 504); other statuses are returned. ``options``/``retry``/
        ``timeout_ms`` as for :meth:`call_activity` (a single attempt unless they say otherwise; no heartbeat
        timeout, as ``keel.http`` sends no heartbeats; never local, as a request is not safe to repeat).
        Returns an :class:`HttpCall`; its ``get()`` gives an :class:`HttpResponse`.
        """
        request = http.durable_request(method, url, headers, body, json, asynchronous, retry_on)
        if options is None:
            options = ActivityOptions(retry=retry, timeout_ms=timeout_ms)
        elif options.heartbeat_timeout_ms is not None or options.local:
            # keel.http sends no heartbeats: a heartbeat timeout would fail every slow response. Nor is it
            # ever local: a crash before the turn's commit would send the request again.
            options = replace(options, heartbeat_timeout_ms=None, local=False)
        return HttpCall(self, self.call_activity(HTTP_ACTIVITY, request, options), request, options)

    # -- waiting: blocks ---------------------------------------------------------------------------------

    def all(self, tasks: Sequence[Task]) -> List[Any]:
        """Waits until every task has resolved and returns their outputs in the order of ``tasks``;
        raises the first failure in that order (after all have resolved)."""
        return [_decode_outcome(outcome) for outcome in _await_all(list(tasks))]

    def all_settled(self, tasks: Sequence[Task]) -> List[Any]:
        """Like :meth:`all`, but a failed task gives its ``KeelFailure`` in place of an output."""
        return [_settle(outcome) for outcome in _await_all(list(tasks))]

    def any(self, tasks: Sequence[Task]) -> Tuple[int, Any]:
        """Waits until at least one task has resolved; returns the index in ``tasks`` of the first to have
        done so and its output, or raises its failure (with ``failure.index`` set to that index). The other
        tasks keep running and can be awaited later."""
        tasks = list(tasks)
        if not tasks:
            raise ValueError("keel: Context.any needs at least one task")
        ids = [task.id for task in tasks]
        winner, outcome = _wait(lambda host: host.wait_any_or_request(ids), "AnyOrRequest_Request")
        if winner not in ids:
            raise RuntimeError(f"keel: await-any returned task {winner}, which is not one of {ids}")
        index = ids.index(winner)
        try:
            return index, _decode_outcome(outcome)
        except KeelFailure as failure:
            failure.index = index
            raise

    # -- queries -----------------------------------------------------------------------------------------

    def on_query(self, name: str, handler: Callable[[Any], Any]) -> None:
        """Registers ``handler(input)`` to answer the query ``name`` (``keel query ID NAME --input JSON``)
        from the orchestrator's state, replacing any handler of that name.

        A query is answered while the orchestrator waits, in a copy of it replayed to its current state,
        so the handler sees what the orchestrator has done so far (close over a dict or an object). A
        handler must only read: scheduling a task, waiting, setting the custom status or continuing as
        new fails the query with ``QueryNotReadOnly``, never the instance. A ``KeelFailure`` it raises is
        the query's failure; a query no handler has fails with ``UnknownQuery``."""
        _QUERIES[name] = handler

    # -- updates -----------------------------------------------------------------------------------------

    def on_update(
        self, name: str, handler: Callable[[Any], Any], validator: Optional[Callable[[Any], Any]] = None
    ) -> None:
        """Registers ``handler(input)`` to apply the update ``name`` (``keel update ID NAME --input JSON``),
        with an optional ``validator(input)``, replacing any handler of that name.

        An update is handed over while the orchestrator waits. The validator runs first, in the real
        orchestrator, and must only read: scheduling, waiting, setting the custom status or continuing as
        new in it fails the *instance*. It returns nothing to accept the update or raises a ``KeelFailure``
        to reject it; a rejected update records nothing and its failure goes to the client (so does
        ``UnknownUpdate`` for a name no handler has, and ``InvalidInput`` for input that is not JSON).
        An accepted update is recorded and its handler runs: it may change the orchestrator's state,
        schedule tasks and set the custom status, but must not wait (waiting in a handler fails the
        instance). Its JSON-serialisable result, or the ``KeelFailure`` it raises, is recorded and returned
        to the client. On replay the handlers of the recorded updates run again, at the same waits, to
        rebuild the state; validators are not consulted then (the host accepts whatever they say)."""
        _UPDATES[name] = (handler, validator)

    # -- replay-safe values ------------------------------------------------------------------------------

    def now(self) -> int:
        """Orchestration time in milliseconds since the Unix epoch: the start of the current turn."""
        return _host().now_ms()

    now_ms = now

    def random(self) -> int:
        """A random u64 from a generator seeded per execution; the same on every replay."""
        return _host().random_u64()

    random_u64 = random

    def uuid(self) -> str:
        """A version-4 UUID from the same generator; the same on every replay."""
        return _host().new_uuid()

    new_uuid = uuid

    def is_replaying(self) -> bool:
        """True while the orchestrator re-executes steps already recorded in its history."""
        return _host().is_replaying()

    # -- effects ----------------------------------------------------------------------------------------

    def set_custom_status(self, status: Any) -> None:
        """Sets the instance's custom status (any JSON value), visible to clients."""
        _host().set_custom_status(_encode(status, "custom status"))

    def continue_as_new(self, input: Any = None, *, keep_events: bool = False) -> None:
        """Ends this execution once the orchestrator returns and starts a new one of the same orchestrator
        with ``input`` and a fresh history; the return value is then ignored. With ``keep_events=True``
        the events raised to this execution that it never waited for are raised again to the next one."""
        payload = _encode(input, "input of continue-as-new")
        if keep_events:
            _host().continue_as_new_keeping_events(payload)
        else:
            _host().continue_as_new(payload)

    def log(self, level: str, message: str) -> None:
        """Writes a log line (level ``trace``..``error``); dropped while replaying, so written once."""
        levels = {
            LogLevel.TRACE: wit.LogLevel.TRACE,
            LogLevel.DEBUG: wit.LogLevel.DEBUG,
            LogLevel.INFO: wit.LogLevel.INFO,
            LogLevel.WARN: wit.LogLevel.WARN,
            LogLevel.ERROR: wit.LogLevel.ERROR,
        }
        _host().log(levels.get(str(level).lower(), wit.LogLevel.INFO), str(message))

    def trace(self, message: str) -> None:
        self.log(LogLevel.TRACE, message)

    def debug(self, message: str) -> None:
        self.log(LogLevel.DEBUG, message)

    def info(self, message: str) -> None:
        self.log(LogLevel.INFO, message)

    def warn(self, message: str) -> None:
        self.log(LogLevel.WARN, message)

    def error(self, message: str) -> None:
        self.log(LogLevel.ERROR, message)


class HttpCall:
    """A scheduled durable HTTP call (:meth:`Context.call_http`). ``task`` is the task of the first request,
    for :meth:`Context.all` and :meth:`Context.any` (which give its raw output)."""

    __slots__ = ("_ctx", "task", "_request", "_options", "_outcome")

    def __init__(self, ctx: Context, task: Task, request: Dict[str, Any], options: ActivityOptions):
        self._ctx = ctx
        self.task = task
        self._request = request
        self._options = options
        self._outcome: Optional[Tuple[bool, Any]] = None

    def get(self) -> "HttpResponse":
        """Waits for the response; for an asynchronous request, polls until the status is not 202.
        Raises the call's failure: a denied origin (``HttpDenied``), a status in ``retry_on`` after the
        last attempt (``HttpStatus``), a connection error (``HttpError``), a timeout. Calling it again gives
        the same outcome without polling again."""
        if self._outcome is None:
            try:
                self._outcome = (True, self._follow())
            except KeelFailure as failure:
                self._outcome = (False, failure)
        ok, value = self._outcome
        if not ok:
            raise value
        return value

    def _follow(self) -> "HttpResponse":
        response = HttpResponse.from_output(self.task.get())
        while self._request.get("asynchronous") and response.status == 202:
            if response.location is None:
                break
            wait = DEFAULT_POLL_MS if response.retry_after_ms is None else response.retry_after_ms
            self._ctx.timer(wait).get()
            poll = http.durable_request(
                "GET",
                response.location,
                self._request.get("headers"),
                asynchronous=True,
                retry_on=self._request.get("retryOn"),
            )
            output = self._ctx.call_activity(HTTP_ACTIVITY, poll, self._options).get()
            response = HttpResponse.from_output(output)
        return response

    def __repr__(self) -> str:
        return f"HttpCall({self._request['method']} {self._request['url']}, {self.task!r})"


def _encode(value: Any, what: str) -> str:
    try:
        return to_json(value)
    except (TypeError, ValueError) as error:
        # A bug in the orchestrator: fail loudly rather than schedule a call with made-up input.
        raise TypeError(f"keel: the {what} cannot be serialised to JSON: {error}") from None


# ---------------------------------------------------------------------------------------------------------
# Registration and dispatch

_ORCHESTRATORS: Dict[str, Callable[[Context, Any], Any]] = {}
_ACTIVITIES: Dict[str, Callable[[Any], Any]] = {}


def _register(registry: Dict[str, Callable], kind: str, name_or_fn):
    def add(fn: Callable, name: str) -> Callable:
        if name in registry:
            raise ValueError(f"keel: the {kind} {name!r} is registered twice")
        registry[name] = fn
        return fn

    if callable(name_or_fn):  # used bare: @orchestrator
        return add(name_or_fn, name_or_fn.__name__)
    return lambda fn: add(fn, name_or_fn if name_or_fn is not None else fn.__name__)


def orchestrator(name_or_fn=None):
    """Registers ``fn(ctx, input)`` as an orchestrator: ``@orchestrator("Name")``, or ``@orchestrator``
    to use the function's name."""
    return _register(_ORCHESTRATORS, "orchestrator", name_or_fn)


def activity(name_or_fn=None):
    """Registers ``fn(input)`` as an activity: ``@activity("Name")``, or ``@activity`` to use the
    function's name."""
    return _register(_ACTIVITIES, "activity", name_or_fn)


def _run(kind: str, registry: Dict[str, Callable], name: str, text: str, call: Callable) -> str:
    """Runs a registered function on JSON text; every failure comes back as a ``KeelFailure``."""
    fn = registry.get(name)
    if fn is None:
        raise KeelFailure(UNKNOWN_FUNCTION, f"this module exports no {kind} named {to_json(name)}")
    return _output(name, _guarded(lambda value: call(fn, value), _parse(name, text)))


def _parse(name: str, text: str) -> Any:
    """The input of ``name`` parsed from JSON text; ``InvalidInput`` if it is not JSON."""
    try:
        return from_json(text)
    except ValueError as error:
        raise KeelFailure(
            INVALID_INPUT, f"the input of {name} is not valid: {error} (input: {_truncate(text)})"
        ) from None


def _guarded(fn: Callable[[Any], Any], value: Any) -> Any:
    """``fn(value)``; any exception it raises comes back as a ``KeelFailure`` (kind = its class name)."""
    try:
        return fn(value)
    except Exception as error:  # noqa: BLE001 - every exception becomes the function's failure
        raise KeelFailure.from_exception(error) from None


def _output(name: str, output: Any) -> str:
    """The output of ``name`` as JSON text; ``InvalidOutput`` if it cannot be serialised."""
    try:
        return to_json(output)
    except (TypeError, ValueError) as error:
        raise KeelFailure(INVALID_OUTPUT, f"the output of {name} cannot be serialised to JSON: {error}") from None


def _reseed_random() -> None:
    # `random` was seeded when componentize-py pre-initialised the module, i.e. at build time. Reseeding
    # from os.urandom gives activities real randomness and orchestrators the host's per-execution seed
    # (their WASI random is virtualised), identical on replay.
    random.seed(os.urandom(16))


def _fail(failure: KeelFailure):
    return _Err(failure._to_wit())


def _run_orchestrator(name: str, text: str) -> str:
    _reseed_random()
    _QUERIES.clear()
    _UPDATES.clear()
    try:
        return _run("orchestrator", _ORCHESTRATORS, name, text, lambda fn, value: fn(Context(), value))
    except KeelFailure as failure:
        raise _fail(failure) from None


def _run_activity(name: str, text: str) -> str:
    _reseed_random()
    try:
        return _run("activity", _ACTIVITIES, name, text, lambda fn, value: fn(value))
    except KeelFailure as failure:
        raise _fail(failure) from None


def _describe() -> list:
    return [wit.FunctionInfo(name, wit.FunctionKind.ORCHESTRATOR) for name in _ORCHESTRATORS] + [
        wit.FunctionInfo(name, wit.FunctionKind.ACTIVITY) for name in _ACTIVITIES
    ]


# Last, because it imports from this module: the HTTP client for activities and the durable HTTP types.
from keel_sdk import http  # noqa: E402
from keel_sdk.http import HttpResponse  # noqa: E402
