"""The approval example in Python: a human-interaction orchestrator that waits for an ``Approved`` event or
a durable timeout, whichever comes first, and then applies the change or escalates; its ``Request`` query
tells a client where the request stands, and its ``AddComment`` update adds a comment to the request while it
waits. Behaviourally identical to the Rust one.
It must never wait with a sleep or the wall clock: the deadline is a durable timer, so the wait survives
restarts and replays to the same winner.
"""

from keel_sdk import KeelFailure, activity, orchestrator


@orchestrator("Approval")
def approval(ctx, request):
    try:
        request_id, timeout_ms = request["requestId"], request["timeoutMs"]
        if not isinstance(request_id, str) or isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int):
            raise TypeError("requestId must be a string and timeoutMs a number of milliseconds")
    except (KeyError, TypeError) as error:
        raise KeelFailure("InvalidInput", f"the input of Approval is not valid: {error}") from None

    # What the Request query answers (keel query ID Request), kept up to date below.
    state = {"requestId": request_id, "state": "waiting"}
    ctx.on_query("Request", lambda _input: state)
    # The comments the AddComment update adds (keel update ID AddComment --input '{"by":"bob","text":"…"}').
    comments = []

    def add_comment(comment):
        comments.append({"by": comment.get("by"), "text": comment["text"]})
        return {"comments": len(comments)}

    ctx.on_update("AddComment", add_comment, validator=check_comment)
    ctx.set_custom_status({"state": "waiting"})
    deadline = ctx.timer_at(ctx.now() + timeout_ms)
    approved = ctx.wait_event("Approved")

    # A failed winner raises its KeelFailure, which fails the instance as Rust's `result?` does.
    winner, result = ctx.any([deadline, approved])
    if winner == 1:
        by = result.get("by") if isinstance(result, dict) else None
        if not isinstance(by, str):
            raise KeelFailure(
                "InvalidEvent", f'the Approved event must look like {{"by":"name"}}: got {result!r}'
            )
        ctx.info(f"request {request_id} approved by {by}")
        ctx.set_custom_status({"state": "approved", "by": by})
        state["state"] = "applying"
        ctx.call_activity("ApplyChange", {"requestId": request_id, "approvedBy": by}).get()
        return {"requestId": request_id, "outcome": "approved", "approvedBy": by}

    # The timer won (a timer only ever resolves with null).
    ctx.warn(f"request {request_id} not approved within {timeout_ms} ms: escalating")
    ctx.set_custom_status({"state": "escalated"})
    state["state"] = "escalating"
    ctx.call_activity("Escalate", {"requestId": request_id}).get()
    return {"requestId": request_id, "outcome": "escalated"}


def check_comment(comment):
    """Rejects a comment without text: ``text`` missing, not a string, or only whitespace."""
    text = comment.get("text") if isinstance(comment, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise KeelFailure("EmptyComment", "a comment needs text")


@activity("ApplyChange")
def apply_change(change):
    """Stand-in for applying the approved change somewhere real."""
    return {"applied": True, "requestId": change["requestId"], "approvedBy": change["approvedBy"]}


@activity("Escalate")
def escalate(escalation):
    """Stand-in for paging whoever handles unanswered requests."""
    return {"escalated": True, "requestId": escalation["requestId"]}
