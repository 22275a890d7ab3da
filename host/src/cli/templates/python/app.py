"""The {{name}} module: the orchestrator ``Hello`` asks the activity ``Greet`` for a greeting. The
activity ``Fetch`` shows an HTTP call: it may reach only what it is granted
(``keel grant Fetch https://example.com``) at the URL it is configured with
(``keel config set Fetch URL=https://example.com/``)."""

import os

from keel_sdk import KeelFailure, activity, http, orchestrator


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


@activity("Fetch")
def fetch(_input):
    # An activity that calls a web service: GETs $URL and returns the body's first line.
    url = os.environ.get("URL")
    if not url:
        raise KeelFailure("NotConfigured", "set URL")
    response = http.get(url).raise_for_status()
    return response.text().split("\n")[0]
