// The fan-out example in JavaScript: a fan-out/fan-in orchestrator (`FanOut`) and a sequential chain
// (`Sequence`) over two trivial arithmetic activities, behaviourally identical to the Rust module.
// It must never wait inside the fan-out loop: every task is scheduled before the first wait, which is
// what lets the host run them in parallel.
//
// JSON numbers are JavaScript doubles, so where Rust checks for u64 overflow this module checks that
// results stay safe integers (at most 2^53 - 1), with the same failure kind.

import { orchestrator, activity, KeelFailure } from '@keel/sdk';

/** Reads a non-negative safe integer, or fails with InvalidInput like the Rust module's u64 fields. */
function count(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new KeelFailure('InvalidInput', `${what} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Squares 0..count in parallel and sums the squares. */
orchestrator('FanOut', (ctx, input) => {
  const n = count(input?.count, 'count');
  const tasks = [];
  for (let i = 0; i < n; i += 1) {
    tasks.push(ctx.callActivity('Square', i));
  }
  const squares = ctx.all(tasks);
  let sum = 0;
  for (const square of squares) {
    sum += square;
    if (!Number.isSafeInteger(sum)) {
      throw new KeelFailure('Overflow', 'the sum of squares does not fit in a safe integer');
    }
  }
  return { count: n, sum };
});

/** Increments a counter `steps` times, one activity call after the other. */
orchestrator('Sequence', (ctx, input) => {
  const steps = count(input?.steps, 'steps');
  let value = 0;
  for (let i = 0; i < steps; i += 1) {
    value = ctx.callActivity('Increment', value).get();
  }
  return { steps, value };
});

activity('Square', (input) => {
  const n = count(input, 'the input of Square');
  const square = n * n;
  if (!Number.isSafeInteger(square)) {
    throw new KeelFailure('Overflow', `${n} squared does not fit in a safe integer`);
  }
  return square;
});

activity('Increment', (input) => {
  const n = count(input, 'the input of Increment');
  if (n >= Number.MAX_SAFE_INTEGER) {
    throw new KeelFailure('Overflow', 'the counter is at Number.MAX_SAFE_INTEGER');
  }
  return n + 1;
});
