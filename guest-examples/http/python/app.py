"""The HTTP example in Python: an activity that calls a web service under the grants of its deployment, an
orchestrator that schedules it, an orchestrator that schedules a durable HTTP call (``call_http``,
following ``202 Accepted`` when asked), and one that breaks the rule and sends a request itself, which the
host refuses (``KEEL-O1``). Behaviourally identical to the Rust one (guest-examples/http/rust).
It must never send a request from an orchestrator except to show that refusal.
"""

import os

from keel_sdk import ActivityOptions, KeelFailure, RetryPolicy, activity, http, orchestrator


def fields(value, name, spec):
    """The fields of the JSON object ``value`` named in ``spec`` (name -> allowed types), absent ones as
    ``None``, checked as the Rust example's serde types check them (unknown fields dropped)."""
    if not isinstance(value, dict):
        raise KeelFailure("InvalidInput", f"the input of {name} is not valid: expected an object")
    read = {}
    for key, types in spec.items():
        found = value.get(key)
        wrong = not isinstance(found, types) or (isinstance(found, bool) and bool not in types)
        if found is not None and wrong:
            raise KeelFailure("InvalidInput", f"the input of {name} is not valid: {key} has the wrong type")
        read[key] = found
    return read


def read_request(value, name):
    """What ``Fetch`` sends: an absolute ``url``, or a ``path`` on the configured ``BASE_URL``; absent
    fields dropped, as the Rust example serialises it."""
    request = fields(value, name, {"method": (str,), "url": (str,), "path": (str,), "body": (str,)})
    return {key: found for key, found in request.items() if found is not None}


def read_durable(value, name):
    """The input of ``DurableFetch`` and ``FetchFromOrchestrator``: ``url``, and optionally ``method``,
    ``body`` and ``asynchronous``."""
    durable = fields(value, name, {"url": (str,), "method": (str,), "body": (str,), "asynchronous": (bool,)})
    if durable["url"] is None:
        raise KeelFailure("InvalidInput", f"the input of {name} is not valid: missing field `url`")
    return durable


@orchestrator("CallService")
def call_service(ctx, input):
    read = fields(input, "CallService", {"request": (dict,), "timeoutMs": (int,), "attempts": (int,)})
    if read["request"] is None:
        raise KeelFailure("InvalidInput", "the input of CallService is not valid: missing field `request`")
    options = ActivityOptions()
    if read["timeoutMs"] is not None:
        options.timeout_ms = read["timeoutMs"]
    if read["attempts"] is not None:
        options.retry = RetryPolicy(read["attempts"], 100)
    return ctx.call_activity("Fetch", read_request(read["request"], "CallService"), options).get()


@orchestrator("DurableFetch")
def durable_fetch(ctx, input):
    durable = read_durable(input, "DurableFetch")
    response = ctx.call_http(
        durable["method"] or "GET",
        durable["url"],
        headers={"authorization": "Bearer {{secret:API_TOKEN}}"},
        body=durable["body"],
        asynchronous=bool(durable["asynchronous"]),
    ).get()
    return {"status": response.status, "body": response.body}


@orchestrator("FetchFromOrchestrator")
def fetch_from_orchestrator(ctx, input):
    # Wrong on purpose: an orchestrator must not reach the network. The host fails the instance.
    durable = read_durable(input, "FetchFromOrchestrator")
    response = http.get(durable["url"])
    return {"status": response.status, "body": response.text()}


@activity("Fetch")
def fetch(request):
    """Sends the request, with ``authorization: Bearer $API_TOKEN`` when that secret is set."""
    request = read_request(request, "Fetch")
    if "url" in request:
        url = request["url"]
    elif "path" in request:
        base = os.environ.get("BASE_URL")
        if base is None:
            raise KeelFailure(
                "NotConfigured", "BASE_URL is not set; set it with: keel config set Fetch BASE_URL=<url>"
            )
        url = f"{base}{request['path']}"
    else:
        raise KeelFailure("InvalidInput", "give a url or a path")
    headers = {}
    token = os.environ.get("API_TOKEN")
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    response = http.request(request.get("method", "GET"), url, headers, request.get("body"))
    return {"status": response.status, "body": response.text()}
