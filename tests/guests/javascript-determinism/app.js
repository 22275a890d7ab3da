// Test fixture: a JavaScript orchestrator that reads everything StarlingMonkey takes from WASI (time,
// Math.random, crypto random) and the iteration order of a Map, so that a test can check that a replay
// after a restart sees the very same values. It must never read anything through the context that
// would hide a divergence: only the ambient globals are under test.

import { orchestrator, activity, heartbeat, lastHeartbeat, KeelFailure } from '@keel/sdk';

/** Everything an orchestrator could read from its environment without asking the context. */
function ambientReading(ctx) {
  const map = new Map();
  // Insertion order is the iteration order in JS; keys derived from Math.random make it depend on it.
  for (let i = 0; i < 5; i += 1) {
    map.set(`key-${Math.floor(Math.random() * 1000)}-${i}`, i);
  }
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return {
    timeMs: Date.now(),
    dateIso: new Date().toISOString(),
    mathRandom: Math.random(),
    cryptoRandom: [...bytes],
    mapOrder: [...map.keys()],
    ctxRandom: ctx.randomU64().toString(),
    uuid: ctx.uuid(),
  };
}

orchestrator('Determinism', (ctx) => {
  const first = ambientReading(ctx);
  ctx.callActivity('Echo', first).get();
  ctx.waitEvent('go').get();
  // A later turn: its time differs from the first's, which is why it is kept apart.
  const second = ambientReading(ctx);
  return { first, second, ctxNow: ctx.now() };
});

// Continue-as-new carrying unanswered events over (the same in every language's fixture): round 1
// waits for "Go" and continues as new, keeping the events it never waited for when its input says
// "keep"; round 2 waits for "Later" and returns its data.
orchestrator('Carry', (ctx, input) => {
  if (input.round === 1) {
    ctx.waitEvent('Go').get();
    ctx.continueAsNew({ round: 2, keep: input.keep }, { keepEvents: input.keep });
    return null;
  }
  return { round: input.round, later: ctx.waitEvent('Later').get() };
});

/** The kind of the failure `task` resolves with, or "none" if it succeeds. */
function failureKind(task) {
  try {
    task.get();
  } catch (failure) {
    if (failure instanceof KeelFailure) {
      return failure.kind;
    }
    throw failure;
  }
  return 'none';
}

// Cancellation (the same in every language's fixture): a timer and the first of two waits for "Go"
// are canceled (the timer twice, the second time doing nothing) and resolve with failures of kind
// "Canceled"; the second wait takes the first "Go" raised. "none" in place of a kind shows a canceled
// task that succeeded.
orchestrator('CancelTasks', (ctx) => {
  const timer = ctx.timer(60 * 60 * 1000);
  const first = ctx.waitEvent('Go');
  const second = ctx.waitEvent('Go');
  ctx.cancel(timer);
  ctx.cancel(first);
  ctx.cancel(timer);
  const timerKind = failureKind(timer);
  const firstKind = failureKind(first);
  return { timer: timerKind, first: firstKind, go: second.get() };
});

activity('Echo', (value) => value);

// Heartbeats (the same in every language's fixture): "Progress" heartbeats after each step; its first
// attempt fails with kind "Flaky" right after the heartbeat of step `failAt`, and the retry resumes
// from the details of that heartbeat, so with {"steps": 5, "failAt": 3} the output is
// {"resumedFrom": 3, "done": 5}.
orchestrator('Heartbeats', (ctx, input) =>
  ctx
    .callActivity('Progress', input, {
      retry: { maxAttempts: 2, firstIntervalMs: 10 },
      heartbeatTimeoutMs: 30000,
    })
    .get(),
);

activity('Progress', (input) => {
  const last = lastHeartbeat();
  const start = last ? last.done : 0;
  for (let step = start; step < input.steps; step += 1) {
    heartbeat({ done: step + 1 });
    if (last === null && step + 1 === input.failAt) {
      throw new KeelFailure('Flaky', 'fails once after heartbeating');
    }
  }
  return { resumedFrom: start, done: input.steps };
});

// Local activities (the same in every language's fixture): "Bump" runs as a local activity `steps`
// times, each call adding one to the total, then once more with -1, which fails with kind "Negative";
// so with {"steps": 3} the output is {"total": 3, "failed": "Negative"}.
orchestrator('Inline', (ctx, input) => {
  let total = 0;
  for (let step = 0; step < input.steps; step += 1) {
    total = ctx.callActivity('Bump', total, { local: true }).get();
  }
  const failed = failureKind(ctx.callActivity('Bump', -1, { local: true }));
  return { total, failed };
});

activity('Bump', (n) => {
  if (n < 0) {
    throw new KeelFailure('Negative', 'cannot bump a negative number');
  }
  return n + 1;
});
