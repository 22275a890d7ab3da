// The {{name}} module: the orchestrator `Hello` asks the activity `Greet` for a greeting. The activity
// `Fetch` shows an HTTP call: it may reach only what it is granted (`keel grant Fetch
// https://example.com`) at the URL it is configured with (`keel config set Fetch URL=https://example.com/`).

import { KeelFailure, activity, checkStatus, env, orchestrator } from '@keel/sdk';

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

// An activity that calls a web service: GETs $URL and returns the body's first line.
activity('Fetch', async () => {
  const url = env().URL;
  if (!url) {
    throw new KeelFailure('NotConfigured', 'set URL');
  }
  const response = await checkStatus(await fetch(url));
  return (await response.text()).split('\n')[0];
});
