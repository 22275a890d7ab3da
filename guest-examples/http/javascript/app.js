// The HTTP example in JavaScript, behaviourally identical to the Rust module beside it: an activity that
// calls a web service with `fetch` under the grants of its deployment, an orchestrator that schedules
// it, an orchestrator that schedules a durable HTTP call (`ctx.callHttp`, following `202 Accepted`
// when asked), and one that breaks the rule and sends a request itself, which the host refuses
// (`KEEL-O1`). It must never send a request from an orchestrator except to show that refusal.
//
// Build: sdk/javascript/build.sh guest-examples/http/javascript/app.js http_calls.wasm

import { orchestrator, activity, env, KeelFailure } from '@keel/sdk';

function invalid(message) {
  return new KeelFailure('InvalidInput', message);
}

/** `value` if it is a string, undefined if it is absent; anything else is an invalid input. */
function optionalString(value, what) {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw invalid(`${what} must be a string, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** `value` if it is a non-negative integer, undefined if it is absent. */
function optionalCount(value, what) {
  if (value === undefined || value === null) {
    return undefined;
  }
  if (!Number.isInteger(value) || value < 0) {
    throw invalid(`${what} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * What `Fetch` sends: an absolute `url`, or a `path` on the configured `BASE_URL`; the keys in the
 * Rust module's order, absent ones left out.
 */
function readRequest(request) {
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    throw invalid(`a request must look like {"url":"…"} or {"path":"…"}, got ${JSON.stringify(request)}`);
  }
  const out = {};
  for (const key of ['method', 'url', 'path', 'body']) {
    const value = optionalString(request[key], key);
    if (value !== undefined) {
      out[key] = value;
    }
  }
  return out;
}

/** The input of `DurableFetch` and `FetchFromOrchestrator`. */
function readDurable(input) {
  if (input === null || typeof input !== 'object' || typeof input.url !== 'string') {
    throw invalid(`the input must look like {"url":"…"}, got ${JSON.stringify(input)}`);
  }
  return {
    url: input.url,
    method: optionalString(input.method, 'method'),
    body: optionalString(input.body, 'body'),
    asynchronous: input.asynchronous === true,
  };
}

orchestrator('CallService', (ctx, input) => {
  if (input === null || typeof input !== 'object') {
    throw invalid(`the input must look like {"request":{…}}, got ${JSON.stringify(input)}`);
  }
  const request = readRequest(input.request);
  const timeoutMs = optionalCount(input.timeoutMs, 'timeoutMs');
  const attempts = optionalCount(input.attempts, 'attempts');
  const options = {};
  if (timeoutMs !== undefined) {
    options.timeoutMs = timeoutMs;
  }
  if (attempts !== undefined) {
    options.retry = { maxAttempts: attempts, firstIntervalMs: 100 };
  }
  const fetched = ctx.callActivity('Fetch', request, options).get();
  return { status: fetched.status, body: fetched.body };
});

orchestrator('DurableFetch', (ctx, input) => {
  const durable = readDurable(input);
  const request = {
    method: durable.method ?? 'GET',
    url: durable.url,
    headers: { authorization: 'Bearer {{secret:API_TOKEN}}' },
  };
  if (durable.body !== undefined) {
    request.body = durable.body;
  }
  if (durable.asynchronous) {
    request.asynchronous = true;
  }
  const response = ctx.callHttp(request).get();
  return { status: response.status, body: response.body };
});

orchestrator('FetchFromOrchestrator', (ctx, input) => {
  const durable = readDurable(input);
  // Wrong on purpose: an orchestrator must not reach the network. StarlingMonkey's fetch hands the
  // request to wasi:http/outgoing-handler before it returns its promise, so the host sees the request
  // here and fails the instance (HttpInOrchestrator), whatever this function does next. A synchronous
  // orchestrator could not wait for the response anyway.
  fetch(durable.url);
  throw new KeelFailure(
    'HttpError',
    `GET ${durable.url} was sent from an orchestrator, which cannot wait for its response`,
  );
});

/** Sends the request, with `authorization: Bearer $API_TOKEN` when that secret is set. */
activity('Fetch', async (input) => {
  const request = readRequest(input);
  const vars = env();
  let url;
  if (request.url !== undefined) {
    url = request.url;
  } else if (request.path !== undefined) {
    const base = vars.BASE_URL;
    if (base === undefined) {
      throw new KeelFailure(
        'NotConfigured',
        'BASE_URL is not set; set it with: keel config set Fetch BASE_URL=<url>',
      );
    }
    url = `${base}${request.path}`;
  } else {
    throw new KeelFailure('InvalidInput', 'give a url or a path');
  }
  const headers = {};
  if (vars.API_TOKEN !== undefined) {
    headers.authorization = `Bearer ${vars.API_TOKEN}`;
  }
  const init = { method: (request.method ?? 'GET').toUpperCase(), headers };
  if (request.body !== undefined) {
    init.body = request.body;
  }
  // A request that gets no response rejects with a KeelFailure of kind HttpError.
  const response = await fetch(url, init);
  return { status: response.status, body: await response.text() };
});
