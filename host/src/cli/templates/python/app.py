"""The {{name}} module: the orchestrator ``Hello`` asks the activity ``Greet`` for a greeting."""

from keel_sdk import KeelFailure, activity, orchestrator


@orchestrator("Hello")
def hello(ctx, input):
    # An orchestrator: deterministic, it only schedules work and waits for it.
    greeting = ctx.call_activity("Greet", input["name"]).get()
    return {"greeting": greeting}


@activity("Greet")
def greet(name):
    # An activity: ordinary code, retried under the caller's retry policy when it fails.
    if not name:
        raise KeelFailure("NoName", "cannot greet nobody")
    return f"Hello, {name}!"
