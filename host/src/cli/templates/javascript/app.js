// The {{name}} module: the orchestrator `Hello` asks the activity `Greet` for a greeting.

import { KeelFailure, activity, orchestrator } from '@keel/sdk';

// An orchestrator: deterministic, it only schedules work and waits for it.
orchestrator('Hello', (ctx, input) => {
  const greeting = ctx.callActivity('Greet', input.name).get();
  return { greeting };
});

// An activity: ordinary code, retried under the caller's retry policy when it fails.
activity('Greet', (name) => {
  if (!name) {
    throw new KeelFailure('NoName', 'cannot greet nobody');
  }
  return `Hello, ${name}!`;
});
