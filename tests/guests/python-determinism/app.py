"""Test fixture: a Python orchestrator that reads time, randomness and hash order straight from the
interpreter (not from the context), to check that Keel's virtualised WASI makes them identical on replay.
It must never be used as an example of good practice: real orchestrators take these from the context.
"""

import os
import random
import time

from keel_sdk import KeelFailure, RetryPolicy, activity, heartbeat, last_heartbeat, orchestrator


def ambient_reading(ctx):
    """Everything an orchestrator could read without asking the context, plus the context's random."""
    table = {f"key-{random.randrange(1000)}": i for i in range(5)}
    return {
        "timeMs": time.time_ns() // 1_000_000,
        "time": time.time(),
        "monotonicNs": time.monotonic_ns(),
        "random": random.random(),
        "urandom": os.urandom(8).hex(),
        "dictOrder": list(table),
        "setOrder": list({f"key-{i}" for i in range(5)}),
        "strHash": hash("keel"),
        "ctxRandom": ctx.random(),
        "ctxUuid": ctx.uuid(),
    }


@orchestrator("PyDeterminism")
def determinism(ctx, _input):
    first = ambient_reading(ctx)
    ctx.call_activity("Echo", first).get()
    ctx.wait_event("go").get()
    # A later turn: its time differs from the first's, which is why it is kept apart.
    second = ambient_reading(ctx)
    return {"first": first, "second": second, "ctxNow": ctx.now()}


@orchestrator
def Fails(ctx, _input):
    """An orchestrator whose plain Python exception becomes its failure (kind = the class name)."""
    return {"ratio": 1 / 0}


@orchestrator("PyCarry")
def carry(ctx, input):
    """Continue-as-new carrying unanswered events over (the same in every language's fixture): round 1
    waits for "Go" and continues as new, keeping the events it never waited for when its input says
    "keep"; round 2 waits for "Later" and returns its data."""
    if input["round"] == 1:
        ctx.wait_event("Go").get()
        ctx.continue_as_new({"round": 2, "keep": input["keep"]}, keep_events=input["keep"])
        return None
    return {"round": input["round"], "later": ctx.wait_event("Later").get()}


@orchestrator("PyCancelTasks")
def cancel_tasks(ctx, _input):
    """Cancellation (the same in every language's fixture): a timer and the first of two waits for "Go" are
    canceled (the timer twice, the second time doing nothing) and resolve with failures of kind "Canceled";
    the second wait takes the first "Go" raised. "none" in place of a kind shows a canceled task that
    succeeded."""
    timer = ctx.timer(60 * 60 * 1000)
    first = ctx.wait_event("Go")
    second = ctx.wait_event("Go")
    ctx.cancel(timer)
    ctx.cancel(first)
    ctx.cancel(timer)
    return {"timer": failure_kind(timer), "first": failure_kind(first), "go": second.get()}


def failure_kind(task):
    """The kind of the failure ``task`` resolves with, or "none" if it succeeds."""
    try:
        task.get()
    except KeelFailure as failure:
        return failure.kind
    return "none"


@activity("Echo")
def echo(value):
    return value


@orchestrator("PyHeartbeats")
def heartbeats(ctx, input):
    """Heartbeats (the same in every language's fixture): "Progress" heartbeats after each step; its first
    attempt fails with kind "Flaky" right after the heartbeat of step ``failAt``, and the retry resumes from
    the details of that heartbeat, so with {"steps": 5, "failAt": 3} the output is
    {"resumedFrom": 3, "done": 5}."""
    return ctx.call_activity(
        "Progress", input, retry=RetryPolicy(2, first_interval_ms=10), heartbeat_timeout_ms=30_000
    ).get()


@activity("Progress")
def progress(input):
    last = last_heartbeat()
    start = last["done"] if last else 0
    for step in range(start, input["steps"]):
        heartbeat({"done": step + 1})
        if last is None and step + 1 == input["failAt"]:
            raise KeelFailure("Flaky", "fails once after heartbeating")
    return {"resumedFrom": start, "done": input["steps"]}


@orchestrator("PyInline")
def inline(ctx, input):
    """Local activities (the same in every language's fixture): "Bump" runs ``steps`` times as a local
    activity, each time on the total so far, then once on -1, which fails with kind "Negative"; so with
    {"steps": 3} the output is {"total": 3, "failed": "Negative"}."""
    total = 0
    for _ in range(input["steps"]):
        total = ctx.call_activity("Bump", total, local=True).get()
    return {"total": total, "failed": failure_kind(ctx.call_activity("Bump", -1, local=True))}


@activity("Bump")
def bump(n):
    if n < 0:
        raise KeelFailure("Negative", "cannot bump a negative number")
    return n + 1
