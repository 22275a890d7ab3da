"""The fan-out example in Python: a fan-out/fan-in orchestrator (``FanOut``) and a sequential chain
(``Sequence``) over two trivial arithmetic activities, behaviourally identical to the Rust one.
It must never await inside the fan-out loop: every task is scheduled before the first wait, which is what
lets the host run them in parallel.
"""

from keel_sdk import KeelFailure, activity, orchestrator

U64_MAX = 2**64 - 1


def read_u64(value, field, name):
    """A u64 field of the input, as the Rust example's serde types require."""
    number = value.get(field) if isinstance(value, dict) else None
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= U64_MAX:
        raise KeelFailure("InvalidInput", f"the input of {name} is not valid: {field} must be a u64")
    return number


@orchestrator("FanOut")
def fan_out(ctx, input):
    """Squares 0..count in parallel and sums the squares."""
    count = read_u64(input, "count", "FanOut")
    tasks = [ctx.call_activity("Square", i) for i in range(count)]
    total = sum(ctx.all(tasks))
    if total > U64_MAX:
        raise KeelFailure("Overflow", "the sum of squares does not fit in a u64")
    return {"count": count, "sum": total}


@orchestrator("Sequence")
def sequence(ctx, input):
    """Increments a counter ``steps`` times, one activity call after the other."""
    steps = read_u64(input, "steps", "Sequence")
    value = 0
    for _ in range(steps):
        value = ctx.call_activity("Increment", value).get()
    return {"steps": steps, "value": value}


@activity("Square")
def square(n):
    if n * n > U64_MAX:
        raise KeelFailure("Overflow", f"{n} squared does not fit in a u64")
    return n * n


@activity("Increment")
def increment(n):
    if n >= U64_MAX:
        raise KeelFailure("Overflow", "the counter is at u64::MAX")
    return n + 1
