// Keel's JavaScript SDK: an idiomatic layer over the `keel:workflow` WIT bindings that componentize-js
// (StarlingMonkey) generates, for writing orchestrators and activities in one component.
// It must never cache a host answer or read time and randomness on its own: orchestrators stay
// deterministic only because every such value comes from the host.
//
// Orchestrators block without promises: scheduling calls (`ctx.callActivity`, `ctx.timer`,
// `ctx.callHttp`, ...) return a task at once; `task.get()`, `ctx.all()`, `ctx.allSettled()` and
// `ctx.any()` call the host's `wait-all-or-request` / `wait-any-or-request`, in which the host suspends
// the whole component until the tasks resolve (possibly much later, after a restart and a replay), and
// which hand over the queries and updates to serve meanwhile. Orchestrators are therefore plain
// synchronous functions, and must not be `async`: a promise cannot be carried across host turns.
//
// Activities may be `async`: they reach the outside world with the standard `fetch` (over
// wasi:http/outgoing-handler, which the host allows towards the origins granted to the activity).
// componentize-js runs the event loop until the promise an export returns settles, so the dispatch
// below turns an activity's promise into its result or failure. A long activity reports progress with
// `heartbeat(details)` (which tells it when to stop) and resumes from `lastHeartbeat()`.

import * as host from 'keel:workflow/context@0.1.0';
import * as activityHost from 'keel:workflow/activity-context@0.1.0';
import { getEnvironment } from 'wasi:cli/environment@0.2.12';

/** Kind the SDK gives an input that is not valid JSON. */
export const INVALID_INPUT = 'InvalidInput';
/** Kind the SDK gives an output that cannot be (de)serialised as JSON. */
export const INVALID_OUTPUT = 'InvalidOutput';
/** Kind the SDK gives a call to a name the module did not register. */
export const UNKNOWN_FUNCTION = 'UnknownFunction';
/** Kind of a query no handler has. */
export const UNKNOWN_QUERY = 'UnknownQuery';
/** Kind of the rejection of an update no handler has. */
export const UNKNOWN_UPDATE = 'UnknownUpdate';
/** Kind of a `fetch` that got no response (refused, timed out, malformed, denied). */
export const HTTP_ERROR = 'HttpError';
/** Kind `checkStatus` gives a response whose status is 400 or more. */
export const HTTP_STATUS = 'HttpStatus';
/** The name of the host's built-in activity behind `ctx.callHttp`. */
export const HTTP_ACTIVITY = 'keel.http';

const MAX_SHOWN = 200;

/**
 * Why something did not succeed: thrown by an activity or orchestrator to fail it with `kind`, and
 * thrown by `task.get()` / `ctx.all()` when a task failed, so an orchestrator can catch and handle it.
 */
export class KeelFailure extends Error {
  constructor(kind, message, details) {
    super(message);
    this.name = 'KeelFailure';
    this.kind = String(kind);
    this.details = details === undefined ? null : details;
  }

  /** True if this failure's kind is `kind`. */
  is(kind) {
    return this.kind === kind;
  }

  /** Returns a copy with structured `details` (any JSON value). */
  withDetails(details) {
    return new KeelFailure(this.kind, this.message, details);
  }

  toString() {
    return `${this.kind}: ${this.message}`;
  }

  toJSON() {
    return { kind: this.kind, message: this.message, details: this.details };
  }

  /** @internal The WIT `failure` record. */
  toWit() {
    let details;
    if (this.details !== null && this.details !== undefined) {
      // A failure path must not fail itself: unserialisable details become a string saying why.
      try {
        details = JSON.stringify(this.details);
      } catch (error) {
        details = JSON.stringify(`details could not be serialised: ${error}`);
      }
    }
    return { kind: this.kind, message: this.message, details };
  }

  /** @internal From the WIT `failure` record; details that are not JSON are kept as text. */
  static fromWit(failure) {
    let details = null;
    if (failure.details !== undefined && failure.details !== null) {
      try {
        details = JSON.parse(failure.details);
      } catch {
        details = failure.details;
      }
    }
    return new KeelFailure(failure.kind, failure.message, details);
  }
}

function truncate(text) {
  return text.length <= MAX_SHOWN ? text : `${text.slice(0, MAX_SHOWN)}…`;
}

/** A bug in the guest's own values (a BigInt, a cycle): thrown, so the function fails loudly. */
function encode(value, what) {
  let json;
  try {
    json = JSON.stringify(value === undefined ? null : value);
  } catch (error) {
    throw new TypeError(`keel: the ${what} cannot be serialised to JSON: ${error.message}`);
  }
  return json === undefined ? 'null' : json;
}

function contractViolation(message) {
  throw new Error(`keel: the host broke the keel:workflow contract: ${message}`);
}

function decodeOutcome(outcome) {
  if (outcome.tag === 'err') {
    return { ok: false, failure: KeelFailure.fromWit(outcome.val) };
  }
  try {
    return { ok: true, value: JSON.parse(outcome.val) };
  } catch (error) {
    return {
      ok: false,
      failure: new KeelFailure(
        INVALID_OUTPUT,
        `task output is not valid JSON: ${error.message} (output: ${truncate(outcome.val)})`,
      ),
    };
  }
}

function unwrap(settled) {
  if (settled.ok) {
    return settled.value;
  }
  throw settled.failure;
}

function awaitAll(tasks) {
  // Nothing to wait for: answering locally spares the host a call it would have to record.
  if (tasks.length === 0) {
    return [];
  }
  const ids = new Uint32Array(tasks.map(taskId));
  const outcomes = waitServingRequests(() => host.waitAllOrRequest(ids));
  if (outcomes.length !== ids.length) {
    contractViolation(`await-all returned ${outcomes.length} outcomes for ${ids.length} tasks`);
  }
  return outcomes.map(decodeOutcome);
}

/** Query handlers of the running orchestrator (`Context.onQuery`), by name. */
const queryHandlers = new Map();

/** Update handlers of the running orchestrator (`Context.onUpdate`), by name: `{ handler, validator }`. */
const updateHandlers = new Map();

/**
 * `wait-all-or-request` or `wait-any-or-request`: serves the queries and updates the host hands over
 * until the wait is done.
 */
function waitServingRequests(wait) {
  for (;;) {
    const woken = wait();
    if (woken.tag !== 'request') {
      return woken.val;
    }
    serveRequest(woken.val);
  }
}

/** Serves a request the host handed over: answers a query, or validates and runs an update. */
function serveRequest(request) {
  if (request.tag === 'update') {
    serveUpdate(request.val);
  } else {
    host.answerQuery(answerQuery(request.val));
  }
}

/** `compute()` as the WIT `result`: `ok` with its value, or `err` with what it threw as a failure. */
function toResult(compute) {
  try {
    return { tag: 'ok', val: compute() };
  } catch (error) {
    return { tag: 'err', val: toFailure(error).toWit() };
  }
}

/** The input of a query or an update (`what`, e.g. `update AddComment`) parsed from its JSON text. */
function parseInput(what, text) {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new KeelFailure(INVALID_INPUT, `the input of ${what} is not valid: ${error.message}`);
  }
}

/** The answer to a query the host handed over, from the handler of its name. */
function answerQuery(query) {
  return toResult(() => {
    const handler = queryHandlers.get(query.name);
    if (handler === undefined) {
      throw new KeelFailure(
        UNKNOWN_QUERY,
        `the orchestrator registered no query named ${JSON.stringify(query.name)}`,
      );
    }
    const input = parseInput(`query ${query.name}`, query.input);
    return encode(handler(input), `answer of query ${query.name}`);
  });
}

/**
 * Serves an update the host handed over: gives the host the validator's verdict and, when the host says
 * to run the handler (accepted, or replaying an accepted update), answers with the handler's result.
 */
function serveUpdate(update) {
  let registered;
  let input;
  try {
    registered = updateHandlersOf(update.name);
    input = parseInput(`update ${update.name}`, update.input);
  } catch (error) {
    // No handler can run: the host says to run one only when replaying an update accepted before.
    const rejection = { tag: 'err', val: toFailure(error).toWit() };
    if (host.acceptUpdate(rejection)) {
      host.answerUpdate(rejection);
    }
    return;
  }
  const { handler, validator } = registered;
  // What a validator returns is ignored; what it throws rejects the update.
  const verdict = toResult(() => {
    if (validator !== undefined) {
      validator(input);
    }
  });
  if (host.acceptUpdate(verdict)) {
    host.answerUpdate(toResult(() => encode(handler(input), `answer of update ${update.name}`)));
  }
}

/** The `{ handler, validator }` registered for the update `name`; throws `UnknownUpdate` if none is. */
function updateHandlersOf(name) {
  const registered = updateHandlers.get(name);
  if (registered === undefined) {
    throw new KeelFailure(
      UNKNOWN_UPDATE,
      `the orchestrator registered no update named ${JSON.stringify(name)}`,
    );
  }
  return registered;
}

function taskId(task) {
  if (!(task instanceof Task)) {
    throw new TypeError('keel: expected a Task returned by a Context scheduling call');
  }
  return task.id;
}

/** Milliseconds as the u64 (BigInt) the WIT wants; negative or fractional values are clamped. */
function millis(ms, what) {
  if (ms === undefined || ms === null) {
    return undefined;
  }
  if (typeof ms === 'bigint') {
    return ms < 0n ? 0n : ms;
  }
  const n = Number(ms);
  if (!Number.isFinite(n)) {
    throw new TypeError(`keel: ${what} must be a finite number of milliseconds, got ${ms}`);
  }
  return BigInt(Math.max(0, Math.floor(n)));
}

/** A list of failure kinds: one string or an iterable of strings. */
function kindList(kinds) {
  if (kinds === undefined || kinds === null) {
    return [];
  }
  return typeof kinds === 'string' ? [kinds] : [...kinds].map(String);
}

function retryToWit(retry) {
  if (retry === undefined || retry === null) {
    return undefined;
  }
  return {
    // There is always a first attempt.
    maxAttempts: Math.max(1, Math.floor(Number(retry.maxAttempts ?? 1))),
    firstIntervalMs: millis(retry.firstIntervalMs ?? 0, 'retry.firstIntervalMs'),
    backoffCoefficient: Number(retry.backoffCoefficient ?? 1),
    maxIntervalMs: millis(retry.maxIntervalMs, 'retry.maxIntervalMs'),
    timeoutMs: millis(retry.timeoutMs, 'retry.timeoutMs'),
    // Failure kinds that end the task at once, without another attempt.
    nonRetryable: kindList(retry.nonRetryable),
  };
}

/**
 * The WIT `call-options` record of `call-activity-with` and `call-local-activity`: `{ retry, timeoutMs,
 * heartbeatTimeoutMs }` (`local` and `version` are not part of it: they choose the call and its name).
 */
function optionsToWit(options) {
  const opts = options ?? {};
  return {
    retry: retryToWit(opts.retry),
    timeoutMs: millis(opts.timeoutMs, 'timeoutMs'),
    heartbeatTimeoutMs: millis(opts.heartbeatTimeoutMs, 'heartbeatTimeoutMs'),
  };
}

/**
 * A task an orchestrator can wait on: an activity call, a sub-orchestration, a timer or an event.
 * It is only an id; waiting on it several times gives the same outcome.
 */
export class Task {
  /** @internal */
  constructor(id) {
    this.id = id;
  }

  /** Blocks until the task resolves; returns its output or throws its `KeelFailure`. */
  get() {
    return unwrap(this.settle());
  }

  /** Blocks until the task resolves; returns `{ ok: true, value }` or `{ ok: false, failure }`. */
  settle() {
    const [settled] = awaitAll([this]);
    return settled;
  }
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error']);

/**
 * The orchestration context. Every call is recorded in the history or answered from it on replay:
 * orchestrator code must make the same calls in the same order on every run, and take time,
 * randomness and ids from here (or from `Date.now()` / `Math.random()`, which Keel virtualises).
 */
export class Context {
  /** @internal Only the SDK's dispatch creates contexts. */
  constructor() {}

  /**
   * Schedules activity `name` with `input` and optional `{ retry, timeoutMs, heartbeatTimeoutMs,
   * version, local }`; returns at once. With `heartbeatTimeoutMs`, an attempt that goes longer than
   * that without a `heartbeat` (counted from its start) fails with kind `HeartbeatTimeout`, and the
   * retry policy decides what follows. With `local: true` the call is a local (inline) activity: the
   * worker running this orchestrator runs it as soon as the orchestrator waits and records its result
   * with the turn's commit; a crash before that commit runs it again, so it must be short and safe to
   * repeat. Retries with a short delay run in place, longer ones continue as an ordinary activity
   * call; heartbeats are ignored. Its task is awaited like any other.
   */
  callActivity(name, input, options) {
    const json = encode(input, `input of activity ${name}`);
    // A version range travels in the name: `VerifyPayment@^2`.
    const target = options?.version ? `${name}@${options.version}` : String(name);
    if (options?.local === true) {
      // `call-local-activity` takes the same `call-options` record as `call-activity-with`.
      return new Task(host.callLocalActivity(target, json, optionsToWit(options)));
    }
    // Otherwise always `call-activity-with`: the host records the same options as `call-activity`
    // would when there is no heartbeat timeout.
    return new Task(host.callActivityWith(target, json, optionsToWit(options)));
  }

  /**
   * Schedules a durable HTTP call: the host's built-in activity `keel.http` sends `request` once,
   * under this orchestrator's grants, and records the response in the history (replays answer from
   * it). `options` are activity options (`{ retry, timeoutMs }`); by default a single attempt.
   * Returns an `HttpTask` whose `get()` gives the `HttpResponse`. Never a local activity: `local` is
   * ignored, as is `heartbeatTimeoutMs`.
   */
  callHttp(request, options) {
    const body = httpRequestJson(request);
    // Only `retry` and `timeoutMs` are kept, so the polls of an asynchronous request get them too.
    const wanted = { retry: options?.retry, timeoutMs: options?.timeoutMs };
    const json = encode(body, 'HTTP request');
    // Scheduled as every ordinary activity call is (`call-activity-with`), never as a local activity:
    // a request is not safe to repeat after a crash. `keel.http` sends no heartbeats, so it gets no
    // heartbeat timeout.
    const task = new Task(host.callActivityWith(HTTP_ACTIVITY, json, optionsToWit(wanted)));
    return new HttpTask(this, task, body, wanted);
  }

  /** Starts sub-orchestration `name` with `input`, as `options.instanceId` or a derived id. */
  callOrchestrator(name, input, options) {
    const json = encode(input, `input of orchestrator ${name}`);
    const instanceId = options?.instanceId ?? undefined;
    return new Task(
      host.callOrchestrator(String(name), instanceId === undefined ? undefined : String(instanceId), json),
    );
  }

  /** A durable timer firing at `fireAtMs` (orchestration time, ms since the epoch); resolves with null. */
  timerAt(fireAtMs) {
    return new Task(host.startTimer(millis(fireAtMs, 'fireAtMs')));
  }

  /** A durable timer firing `delayMs` after the current orchestration time. */
  timer(delayMs) {
    return new Task(host.startTimer(host.nowMs() + millis(delayMs, 'delayMs')));
  }

  /** Waits for the next external event raised with `name`; resolves with the event's data. */
  waitEvent(name) {
    return new Task(host.waitEvent(String(name)));
  }

  /**
   * Cancels `task`, which this orchestrator scheduled; returns at once. If it has not resolved, it
   * resolves at once with a `KeelFailure` of kind `Canceled` (its `get()` throws it) and what it
   * stands for stops: an activity is stopped (one not started never runs), a timer's firing is
   * ignored, a sub-orchestration is terminated with its own children, and a wait for an event takes
   * none (the next event of that name goes to the next wait). A task that has resolved is left as it
   * is, so cancelling twice does nothing more. Recorded in the history and checked on replay.
   */
  cancel(task) {
    host.cancel(taskId(task));
  }

  /**
   * Blocks until every task has resolved and returns their outputs in order; if any failed, throws
   * the first failure in the order of `tasks` (after all have resolved).
   */
  all(tasks) {
    return awaitAll([...tasks]).map(unwrap);
  }

  /** Blocks until every task has resolved; returns `{ ok, value | failure }` per task, in order. */
  allSettled(tasks) {
    return awaitAll([...tasks]);
  }

  /**
   * Blocks until at least one task has resolved and returns the first to have done so:
   * `{ index, task, ok, value, failure, get() }`, `get()` returning the value or throwing the failure.
   * The other tasks keep running and can be awaited later.
   */
  any(tasks) {
    const list = [...tasks];
    if (list.length === 0) {
      throw new TypeError('keel: Context.any needs at least one task');
    }
    const ids = new Uint32Array(list.map(taskId));
    const [winner, outcome] = waitServingRequests(() => host.waitAnyOrRequest(ids));
    const index = list.findIndex((task) => task.id === winner);
    if (index < 0) {
      contractViolation(`await-any returned task ${winner}, which is not one of [${[...ids]}]`);
    }
    const settled = decodeOutcome(outcome);
    return {
      index,
      task: list[index],
      ok: settled.ok,
      value: settled.value,
      failure: settled.failure,
      get: () => unwrap(settled),
    };
  }

  /**
   * Registers `handler(input)` to answer the query `name` (`keel query ID NAME --input JSON`) from the
   * orchestrator's state, replacing any handler of that name. A query is answered while the
   * orchestrator waits, in a copy of it replayed to its current state, so the handler sees what the
   * orchestrator has done so far. A handler must only read: scheduling a task, waiting, setting the
   * custom status or continuing as new fails the query with `QueryNotReadOnly`, never the instance. A
   * `KeelFailure` it throws is the query's failure; a query no handler has fails with `UnknownQuery`.
   */
  onQuery(name, handler) {
    if (typeof handler !== 'function') {
      throw new TypeError(`keel: the handler of query ${name} must be a function`);
    }
    queryHandlers.set(name, handler);
  }

  /**
   * Registers `handler(input)` to apply the update `name` (`keel update ID NAME --input JSON`), with an
   * optional `validator(input)`, replacing any handler of that name. An update is handed over while the
   * orchestrator waits. The validator runs first, in the real orchestrator, and must only read:
   * scheduling, waiting, setting the custom status or continuing as new in it fails the *instance*. It
   * returns nothing to accept the update or throws a `KeelFailure` to reject it; a rejected update
   * records nothing and its failure goes to the client (so does `UnknownUpdate` for a name no handler
   * has, and `InvalidInput` for input that is not JSON). An accepted update is recorded and its handler
   * runs: it may change the orchestrator's state, schedule tasks and set the custom status, but must not
   * wait (waiting in a handler fails the instance). Its result (any JSON value), or the `KeelFailure` it
   * throws, is recorded and returned to the client. On replay the handlers of the recorded updates run
   * again, at the same waits, to rebuild the state; validators are not consulted then (the host accepts
   * whatever they say).
   */
  onUpdate(name, handler, { validator } = {}) {
    if (typeof handler !== 'function') {
      throw new TypeError(`keel: the handler of update ${name} must be a function`);
    }
    if (validator !== undefined && validator !== null && typeof validator !== 'function') {
      throw new TypeError(`keel: the validator of update ${name} must be a function`);
    }
    updateHandlers.set(name, { handler, validator: validator ?? undefined });
  }

  /** Orchestration time in ms since the Unix epoch: the start of the current turn. */
  now() {
    return Number(host.nowMs());
  }

  /** A float in [0, 1) from the host's per-execution generator; the same on every replay. */
  random() {
    // 53 random bits: exactly what a double's mantissa holds.
    return Number(host.randomU64() >> 11n) / 2 ** 53;
  }

  /** A u64 (BigInt) from the host's per-execution generator; the same on every replay. */
  randomU64() {
    return host.randomU64();
  }

  /** A version-4 UUID from the same generator; the same on every replay. */
  uuid() {
    return host.newUuid();
  }

  /** True while the orchestrator re-executes steps already recorded in its history. */
  isReplaying() {
    return host.isReplaying();
  }

  /** Sets the instance's custom status (any JSON value), visible to clients. */
  setCustomStatus(status) {
    host.setCustomStatus(encode(status, 'custom status'));
  }

  /**
   * Ends this execution once the orchestrator returns and starts a new one of the same orchestrator
   * with `input` and a fresh history; the orchestrator's return value is then ignored. With
   * `{ keepEvents: true }` the events raised to this execution that it never waited for are raised
   * again to the next one.
   */
  continueAsNew(input, options = {}) {
    const payload = encode(input, 'input of continue-as-new');
    if (options.keepEvents) {
      host.continueAsNewKeepingEvents(payload);
    } else {
      host.continueAsNew(payload);
    }
  }

  /** Writes a log line at `level` ('trace' … 'error'); dropped while replaying. */
  log(level, message) {
    const lvl = LEVELS.has(level) ? level : 'info';
    host.log(lvl, String(message));
  }

  trace(message) {
    this.log('trace', message);
  }

  debug(message) {
    this.log('debug', message);
  }

  info(message) {
    this.log('info', message);
  }

  warn(message) {
    this.log('warn', message);
  }

  error(message) {
    this.log('error', message);
  }
}

// Durable HTTP calls from orchestrators (`ctx.callHttp`), mirroring the Rust SDK's durable_http.rs:
// the request crosses the boundary as the JSON the host's `keel.http` reads, with the keys in the
// order and with the defaults omitted exactly as the Rust SDK writes them, since histories are
// compared across languages. The SDK never sends anything itself.

/** Polling interval of an asynchronous call whose `202` carries no `Retry-After`. */
const DEFAULT_POLL_MS = 1000;

/** `name` in upper case, ASCII letters only (as Rust's `to_ascii_uppercase`). */
function asciiUpper(name) {
  return String(name).replace(/[a-z]/g, (c) => c.toUpperCase());
}

/** Header pairs from a plain object, a `Headers`, a `Map` or an iterable of `[name, value]`. */
function headerPairs(headers) {
  if (headers === undefined || headers === null) {
    return [];
  }
  if (typeof headers[Symbol.iterator] === 'function') {
    return [...headers].map(([name, value]) => [String(name), String(value)]);
  }
  if (typeof headers === 'object') {
    return Object.entries(headers).map(([name, value]) => [name, String(value)]);
  }
  throw new TypeError('keel: HTTP headers must be an object or a list of [name, value] pairs');
}

/**
 * The `keel.http` input for `request`: `{method, url, headers?, body? | json?, asynchronous?,
 * retryOn?}`, headers sorted by name (a later header of the same name replaces an earlier one).
 */
function httpRequestJson(request) {
  if (request === null || typeof request !== 'object' || typeof request.url !== 'string') {
    throw new TypeError('keel: an HTTP request must be an object with a url, e.g. { url: "https://…" }');
  }
  const out = { method: asciiUpper(request.method ?? 'GET'), url: request.url };
  const headers = new Map();
  for (const [name, value] of headerPairs(request.headers)) {
    headers.set(name, value);
  }
  if (headers.size > 0) {
    out.headers = Object.fromEntries([...headers].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
  const hasBody = request.body !== undefined && request.body !== null;
  if (hasBody && request.json !== undefined) {
    throw new TypeError('keel: an HTTP request has a text body or a json body, not both');
  }
  if (hasBody) {
    if (typeof request.body !== 'string') {
      throw new TypeError('keel: the body of a durable HTTP call is text; use json for a JSON value');
    }
    out.body = request.body;
  } else if (request.json !== undefined) {
    out.json = request.json;
  }
  if (request.asynchronous) {
    out.asynchronous = true;
  }
  if (request.retryOn !== undefined && request.retryOn !== null) {
    out.retryOn = [...request.retryOn].map((status) => {
      const n = Number(status);
      if (!Number.isInteger(n) || n < 0 || n > 65535) {
        throw new TypeError(`keel: retryOn holds HTTP statuses, got ${status}`);
      }
      return n;
    });
  }
  return out;
}

/** The response of a durable HTTP call, as recorded in the history. */
export class HttpResponse {
  /** @internal From the `keel.http` output. */
  constructor(value) {
    if (value === null || typeof value !== 'object' || typeof value.status !== 'number') {
      throw new KeelFailure(
        INVALID_OUTPUT,
        `the output of ${HTTP_ACTIVITY} is not an HTTP response: ${truncate(String(JSON.stringify(value)))}`,
      );
    }
    /** The status code. */
    this.status = value.status;
    /** The headers, names in lower case (repeated headers joined with ", "). */
    this.headers = value.headers ?? {};
    /** The body as text. */
    this.body = value.body ?? '';
    if (value.location !== undefined && value.location !== null) {
      /** The `Location` header made absolute, when there was one. */
      this.location = value.location;
    }
    if (value.retryAfterMs !== undefined && value.retryAfterMs !== null) {
      /** The `Retry-After` header in milliseconds, when there was one. */
      this.retryAfterMs = value.retryAfterMs;
    }
  }

  /** The body as JSON; a failure of kind `InvalidOutput` if it is not JSON. */
  json() {
    try {
      return JSON.parse(this.body);
    } catch (error) {
      throw new KeelFailure(INVALID_OUTPUT, `the response body is not the expected JSON: ${error.message}`);
    }
  }
}

/** A scheduled durable HTTP call (`ctx.callHttp`). */
export class HttpTask {
  /** @internal */
  constructor(ctx, task, request, options) {
    this.ctx = ctx;
    /** The task of the first request (for `ctx.all` and `ctx.any`). */
    this.task = task;
    this.request = request;
    this.options = options;
  }

  /**
   * Blocks until the response has arrived and returns it as an `HttpResponse`; for an asynchronous
   * request, follows `202 Accepted` + `Location` after durable timers of the `Retry-After` interval
   * (1 s by default) until the status is not 202. Throws the call's `KeelFailure` (a denied origin
   * `HttpDenied`, a status in `retryOn` after the last attempt `HttpStatus`, a connection error
   * `HttpError`, a timeout).
   */
  get() {
    let response = new HttpResponse(this.task.get());
    while (this.request.asynchronous === true && response.status === 202) {
      if (response.location === undefined) {
        break;
      }
      this.ctx.timer(response.retryAfterMs ?? DEFAULT_POLL_MS).get();
      const poll = { method: 'GET', url: response.location };
      if (this.request.headers !== undefined) {
        poll.headers = this.request.headers;
      }
      poll.asynchronous = true;
      if (this.request.retryOn !== undefined) {
        poll.retryOn = this.request.retryOn;
      }
      response = new HttpResponse(this.ctx.callActivity(HTTP_ACTIVITY, poll, this.options).get());
    }
    return response;
  }
}

/** Environment variable carrying the instance id. */
export const INSTANCE_ID_VAR = 'KEEL_INSTANCE_ID';
/** Environment variable carrying the task id. */
export const TASK_ID_VAR = 'KEEL_TASK_ID';
/** Environment variable carrying the 1-based attempt number. */
export const ATTEMPT_VAR = 'KEEL_ATTEMPT';
/** Environment variable carrying the idempotency key. */
export const IDEMPOTENCY_KEY_VAR = 'KEEL_IDEMPOTENCY_KEY';

/**
 * The environment of the current call, read through the `wasi:cli/environment` import (StarlingMonkey
 * has no `process.env`). Orchestrators get an empty environment.
 */
export function env() {
  const vars = {};
  for (const [key, value] of getEnvironment()) {
    vars[key] = value;
  }
  return vars;
}

/** Builds activity information from a variable lookup; null when a variable is missing or malformed. */
export function activityInfoFrom(lookup) {
  const instanceId = lookup(INSTANCE_ID_VAR);
  const taskText = lookup(TASK_ID_VAR);
  const attemptText = lookup(ATTEMPT_VAR);
  if (instanceId == null || taskText == null || attemptText == null) {
    return null;
  }
  const isU32 = (text) => /^\s*\d+\s*$/.test(text) && Number(text) <= 0xffffffff;
  if (!isU32(taskText) || !isU32(attemptText)) {
    return null;
  }
  const taskId = Number(taskText);
  return {
    instanceId,
    taskId,
    attempt: Number(attemptText),
    // An older host that does not set it used `instance/task-id`; deriving that keeps the
    // information usable with it.
    idempotencyKey: lookup(IDEMPOTENCY_KEY_VAR) ?? `${instanceId}/${taskId}`,
  };
}

/**
 * The current activity attempt's `{ instanceId, taskId, attempt, idempotencyKey }`, or null outside an
 * attempt run by Keel. It never throws: missing information simply means "no information".
 */
export function activityInfo() {
  let vars;
  try {
    vars = env();
  } catch {
    return null;
  }
  return activityInfoFrom((name) => vars[name]);
}

/**
 * Reports that the running activity attempt is alive, with progress `details` (any JSON value). The
 * latest details show in the instance's status (`keel status`) and are given to the next attempt of the
 * task (`lastHeartbeat()`); an attempt called with `heartbeatTimeoutMs` must heartbeat at least that
 * often. Returns true when the attempt should stop: its task was canceled, its instance terminated, or
 * another worker took it over. The attempt may then clean up and return (what it returns is dropped);
 * one that goes on is stopped a few seconds later. For activities only: an orchestrator calling it
 * fails.
 */
export function heartbeat(details) {
  return activityHost.heartbeat(encode(details, 'heartbeat details')) === true;
}

/**
 * The details of the last heartbeat an earlier attempt of this task recorded (or an earlier run of
 * this attempt whose worker stopped), parsed from JSON; null when there was none. Throws a
 * `KeelFailure` of kind `InvalidInput` if the recorded details are not JSON.
 */
export function lastHeartbeat() {
  const text = activityHost.lastHeartbeat();
  if (text === undefined || text === null) {
    return null;
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new KeelFailure(
      INVALID_INPUT,
      `the details of the last heartbeat are not valid JSON: ${error.message} (details: ${truncate(text)})`,
    );
  }
}

// Outgoing HTTP for activities: the standard `fetch` of StarlingMonkey, over wasi:http. The SDK wraps
// the global `fetch` once, so that a request that gets no response rejects with a KeelFailure of kind
// `HttpError` (the engine's own TypeError says only "NetworkError when attempting to fetch
// resource"); a string, buffer or Blob body is sent with its content-length by the engine itself.

const engineFetch = typeof globalThis.fetch === 'function' ? globalThis.fetch : undefined;

/** `METHOD url` of a fetch call, for messages. */
function shownRequest(input, init) {
  let method = init?.method;
  let url;
  if (typeof Request === 'function' && input instanceof Request) {
    method ??= input.method;
    url = input.url;
  } else {
    url = String(input);
  }
  return `${asciiUpper(method ?? 'GET')} ${url}`;
}

function httpError(input, init, error) {
  if (error instanceof KeelFailure) {
    return error;
  }
  const reason = error instanceof Error ? error.message : String(error);
  const failure = new KeelFailure(HTTP_ERROR, `${shownRequest(input, init)} failed: ${reason}`);
  failure.cause = error;
  return failure;
}

/**
 * The standard `fetch`, whose failures to get a response reject with a `KeelFailure` of kind
 * `HttpError` (the engine's error is its `cause`). Installed as the global `fetch`.
 */
export function fetch(input, init) {
  if (engineFetch === undefined) {
    return Promise.reject(
      new KeelFailure(HTTP_ERROR, 'fetch is not available: this module was built without wasi:http'),
    );
  }
  let pending;
  try {
    pending = engineFetch(input, init);
  } catch (error) {
    return Promise.reject(httpError(input, init, error));
  }
  return pending.then(undefined, (error) => {
    throw httpError(input, init, error);
  });
}

if (engineFetch !== undefined) {
  globalThis.fetch = fetch;
}

/**
 * Resolves to `response` if its status is below 400; else reads the body and rejects with a
 * `KeelFailure` of kind `HttpStatus` (retried under the activity's retry policy), message
 * `the server answered STATUS: EXCERPT` and details `{ status, body: EXCERPT }`, the excerpt being
 * the first 512 characters of the body.
 */
export async function checkStatus(response) {
  if (response.status < 400) {
    return response;
  }
  let text = '';
  try {
    text = await response.text();
  } catch {
    // A body already read or broken: the status alone still says what happened.
  }
  const excerpt = Array.from(text).slice(0, 512).join('');
  throw new KeelFailure(HTTP_STATUS, `the server answered ${response.status}: ${excerpt}`, {
    status: response.status,
    body: excerpt,
  });
}

/**
 * Resolves to the body of `response` parsed as JSON; rejects with a `KeelFailure` of kind
 * `InvalidOutput` if it is not JSON (where `response.json()` would reject with a SyntaxError).
 */
export async function readJson(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new KeelFailure(INVALID_OUTPUT, `the response body is not the expected JSON: ${error.message}`);
  }
}

const orchestratorFns = new Map();
const activityFns = new Map();

function register(map, what, name, fn) {
  if (typeof name !== 'string' || name === '') {
    throw new TypeError(`keel: ${what} names must be non-empty strings`);
  }
  if (typeof fn !== 'function') {
    throw new TypeError(`keel: ${what} ${name} must be a function`);
  }
  if (map.has(name)) {
    throw new Error(`keel: ${what} ${name} is registered twice`);
  }
  map.set(name, fn);
}

/** Registers orchestrator `name`: `fn(ctx, input)` returns the output or throws a `KeelFailure`. */
export function orchestrator(name, fn) {
  register(orchestratorFns, 'orchestrator', name, fn);
}

/**
 * Registers activity `name`: `fn(input)` returns the output or throws a `KeelFailure`; it may be
 * `async` (return a promise), e.g. to `await fetch(...)`.
 */
export function activity(name, fn) {
  register(activityFns, 'activity', name, fn);
}

/** Registers several functions at once: `module({ orchestrators: { Name: fn }, activities: { ... } })`. */
export function module({ orchestrators: os = {}, activities: as = {} } = {}) {
  for (const [name, fn] of Object.entries(os)) {
    orchestrator(name, fn);
  }
  for (const [name, fn] of Object.entries(as)) {
    activity(name, fn);
  }
}

function toFailure(error) {
  if (error instanceof KeelFailure) {
    return error;
  }
  // An exception the function did not mean to throw (a bug, a TypeError): fail with its name, so the
  // caller sees what broke instead of a bare trap.
  if (error instanceof Error) {
    return new KeelFailure(error.name || 'Error', error.message, error.stack ? { stack: error.stack } : null);
  }
  return new KeelFailure('Error', `uncaught exception: ${String(error)}`);
}

/** The error componentize-js turns into the `err` case of an exported `result`. */
function witError(failure) {
  const error = new Error(failure.message);
  error.payload = failure.toWit();
  return error;
}

function isThenable(value) {
  const object = value !== null && (typeof value === 'object' || typeof value === 'function');
  return object && typeof value.then === 'function';
}

/** The output of `name` as JSON text, or the WIT error for an output that cannot be serialised. */
function encodeOutput(name, output) {
  let json;
  try {
    json = JSON.stringify(output === undefined ? null : output);
  } catch (error) {
    throw witError(
      new KeelFailure(INVALID_OUTPUT, `the output of ${name} cannot be serialised to JSON: ${error.message}`),
    );
  }
  return json === undefined ? 'null' : json;
}

/**
 * Calls the function registered as `name` on the JSON text `input`. An activity may return a promise
 * (an `async` activity): the result is then a promise of the JSON text, which componentize-js awaits by
 * running the event loop, and a rejection becomes the failure. An orchestrator may not.
 */
function dispatch(map, what, name, input, call, mayAwait) {
  const fn = map.get(name);
  if (fn === undefined) {
    throw witError(
      new KeelFailure(UNKNOWN_FUNCTION, `this module exports no ${what} named ${JSON.stringify(name)}`),
    );
  }
  let output;
  try {
    // An absent input reaches a function as empty text from some clients: read it as null.
    const text = input.trim() === '' ? 'null' : input;
    let value;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new KeelFailure(
        INVALID_INPUT,
        `the input of ${name} is not valid: ${error.message} (input: ${truncate(input)})`,
      );
    }
    output = call(fn, value);
    if (isThenable(output) && !mayAwait) {
      throw new KeelFailure(
        INVALID_OUTPUT,
        `${name} returned a promise: orchestrators are synchronous (task.get() blocks), not async`,
      );
    }
  } catch (error) {
    throw witError(toFailure(error));
  }
  if (isThenable(output)) {
    return Promise.resolve(output).then(
      (value) => encodeOutput(name, value),
      (error) => {
        throw witError(toFailure(error));
      },
    );
  }
  return encodeOutput(name, output);
}

// The three interfaces the component exports; the build script re-exports them from the entry module.

export const orchestrators = {
  run(name, input) {
    queryHandlers.clear();
    updateHandlers.clear();
    const run = (fn, value) => fn(new Context(), value);
    return dispatch(orchestratorFns, 'orchestrator', name, input, run, false);
  },
};

export const activities = {
  run(name, input) {
    return dispatch(activityFns, 'activity', name, input, (fn, value) => fn(value), true);
  },
};

export const manifest = {
  describe() {
    return [
      ...[...orchestratorFns.keys()].map((name) => ({ name, kind: 'orchestrator' })),
      ...[...activityFns.keys()].map((name) => ({ name, kind: 'activity' })),
    ];
  },
};
