// TypeScript declarations of Keel's JavaScript SDK (`src/index.js`). Orchestrators are synchronous:
// `Task.get()`, `HttpTask.get()`, `Context.all()`, `Context.allSettled()` and `Context.any()` block while
// the host suspends the component, so orchestrators must not be `async`. Activities may be `async`
// (e.g. to `await fetch(...)`): the promise they return is awaited.

/** Any value JSON can carry: payloads cross the component boundary as JSON text. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Kind the SDK gives an input that is not valid JSON. */
export const INVALID_INPUT: 'InvalidInput';
/** Kind the SDK gives an output that cannot be (de)serialised as JSON. */
export const INVALID_OUTPUT: 'InvalidOutput';
/** Kind the SDK gives a call to a name the module did not register. */
export const UNKNOWN_FUNCTION: 'UnknownFunction';
/** Kind of a query no handler has. */
export const UNKNOWN_QUERY: 'UnknownQuery';
/** Kind of the rejection of an update no handler has. */
export const UNKNOWN_UPDATE: 'UnknownUpdate';
/** Kind of a `fetch` that got no response (refused, timed out, malformed, denied). */
export const HTTP_ERROR: 'HttpError';
/** Kind `checkStatus` gives a response whose status is 400 or more. */
export const HTTP_STATUS: 'HttpStatus';
/** The name of the host's built-in activity behind `Context.callHttp`. */
export const HTTP_ACTIVITY: 'keel.http';

/**
 * Why something did not succeed. Throw it to fail an activity or orchestrator with `kind`; `task.get()`
 * and `ctx.all()` throw it when a task failed. Any other exception fails the function with the
 * exception's name as kind (e.g. "TypeError") and its stack in the details.
 */
export class KeelFailure extends Error {
  constructor(kind: string, message: string, details?: Json);
  readonly name: 'KeelFailure';
  /** A short machine-readable classification, e.g. "PaymentDeclined". */
  readonly kind: string;
  /** Optional structured details; null when there are none. */
  readonly details: Json | null;
  /** True if this failure's kind is `kind`. */
  is(kind: string): boolean;
  /** A copy with structured details. */
  withDetails(details: Json): KeelFailure;
  toJSON(): { kind: string; message: string; details: Json | null };
}

/** The outcome of a task that has resolved. */
export type Settled<T = any> = { ok: true; value: T } | { ok: false; failure: KeelFailure };

/** A task an orchestrator can wait on: an activity call, a sub-orchestration, a timer or an event. */
export class Task<T = any> {
  private constructor();
  /** The task id: the ordinal of the scheduling call within the current execution. */
  readonly id: number;
  /** Blocks until the task resolves; returns its output or throws its `KeelFailure`. */
  get(): T;
  /** Blocks until the task resolves; never throws a task failure. */
  settle(): Settled<T>;
}

/** How an activity is retried after a failed attempt; the host applies it and records each attempt. */
export interface RetryPolicy {
  /** Attempts in total, the first included (at least 1). */
  maxAttempts: number;
  /** Delay before the second attempt, in ms (default 0). */
  firstIntervalMs?: number;
  /** Each further delay is the previous one times this (default 1.0: a fixed interval). */
  backoffCoefficient?: number;
  /** Upper bound of a single delay, in ms. */
  maxIntervalMs?: number;
  /** Upper bound of the time spent on all attempts, in ms. */
  timeoutMs?: number;
  /** Failure kinds that end the task at once, without another attempt (e.g. ["PaymentDeclined"]). */
  nonRetryable?: string | Iterable<string>;
}

/** Options of one activity call; the default is a single attempt with the module's time limit. */
export interface ActivityOptions {
  retry?: RetryPolicy;
  /** Time limit of one attempt, in ms. */
  timeoutMs?: number;
  /**
   * Longest time, in ms, an attempt may go without a `heartbeat` (counted from its start): past it the
   * attempt fails with kind `HeartbeatTimeout` and the retry policy decides what follows. Default: none.
   */
  heartbeatTimeoutMs?: number;
  /**
   * Versions of the activity the call accepts, as a semver range (`"^2"`): the active version if it
   * matches, else the highest deployed version that does. Default: the active version.
   */
  version?: string;
  /**
   * Run the call as a local (inline) activity (default false): the worker running the orchestrator
   * runs it as soon as the orchestrator waits, without a work item of its own, and records its result
   * with the turn's commit. A crash before that commit runs the turn's local activities again, so they
   * must be short and safe to repeat. Retries with a short delay run in place, longer ones continue as
   * an ordinary activity call; heartbeats are ignored. Its task is awaited like any other. Ignored by
   * `Context.callHttp`, which is never local.
   */
  local?: boolean;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/**
 * A durable HTTP request (`Context.callHttp`). Header values may name a secret of the orchestrator,
 * `{{secret:NAME}}`, which the host fills in when it sends the request: the history holds the
 * placeholder, never the value.
 */
export interface HttpRequest {
  /** Default "GET"; sent in upper case. */
  method?: string;
  /** An absolute `http://` or `https://` URL. */
  url: string;
  /** A later header of the same name replaces an earlier one. */
  headers?: Record<string, string> | Iterable<[string, string]>;
  /** A text body (not together with `json`). */
  body?: string;
  /** A JSON body, with `content-type: application/json` unless a header sets another. */
  json?: unknown;
  /**
   * Follow `202 Accepted` + `Location` until the work ends, polling after durable timers of the
   * `Retry-After` interval (1 s by default).
   */
  asynchronous?: boolean;
  /**
   * Statuses that fail the attempt so that the retry policy applies (default 408, 429, 500, 502,
   * 503, 504); other statuses are returned.
   */
  retryOn?: Iterable<number>;
}

/** The response of a durable HTTP call, as recorded in the history. */
export class HttpResponse {
  private constructor();
  readonly status: number;
  /** Names in lower case (repeated headers joined with ", "). */
  readonly headers: Record<string, string>;
  /** The body as text. */
  readonly body: string;
  /** The `Location` header made absolute, when there was one. */
  readonly location?: string;
  /** The `Retry-After` header in milliseconds, when there was one. */
  readonly retryAfterMs?: number;
  /** The body as JSON; throws a `KeelFailure` of kind `InvalidOutput` if it is not JSON. */
  json<T = any>(): T;
}

/** A scheduled durable HTTP call. */
export class HttpTask {
  private constructor();
  /** The task of the first request (for `Context.all` and `Context.any`). */
  readonly task: Task<unknown>;
  /**
   * Blocks until the response arrived; for an asynchronous request, polls until the status is not
   * 202. Throws the call's `KeelFailure` (`HttpDenied`, `HttpStatus` for a status in `retryOn` after
   * the last attempt, `HttpError`, `Timeout`).
   */
  get(): HttpResponse;
}

/** The first task of `ctx.any()` to have resolved. */
export interface AnyResult<T = any> {
  /** Its index in the tasks given to `any`. */
  index: number;
  task: Task<T>;
  ok: boolean;
  value?: T;
  failure?: KeelFailure;
  /** Its output, or throws its failure. */
  get(): T;
}

/**
 * The orchestration context: every call is recorded in the history or answered from it on replay.
 * `Date.now()` and `Math.random()` are replay-safe too (Keel virtualises WASI for orchestrators).
 */
export class Context {
  private constructor();
  /** Schedules activity `name` (a local activity with `options.local`); returns at once. */
  callActivity<T = any>(name: string, input?: unknown, options?: ActivityOptions): Task<T>;
  /**
   * Schedules a durable HTTP call (the host's built-in activity `keel.http`), sent once by the host
   * under this orchestrator's grants and recorded in the history; by default a single attempt. Never
   * a local activity.
   */
  callHttp(request: HttpRequest, options?: { retry?: RetryPolicy; timeoutMs?: number }): HttpTask;
  /** Starts a sub-orchestration, as `options.instanceId` or an id the host derives. */
  callOrchestrator<T = any>(name: string, input?: unknown, options?: { instanceId?: string }): Task<T>;
  /** A durable timer firing at `fireAtMs` (orchestration time, ms since the epoch); resolves with null. */
  timerAt(fireAtMs: number): Task<null>;
  /** A durable timer firing `delayMs` after the current orchestration time. */
  timer(delayMs: number): Task<null>;
  /** The next external event raised with `name`; resolves with its data. */
  waitEvent<T = any>(name: string): Task<T>;
  /**
   * Cancels a task this orchestrator scheduled; returns at once. If it has not resolved, it resolves
   * with a `KeelFailure` of kind `Canceled` and what it stands for stops (an activity is stopped, a
   * timer's firing ignored, a sub-orchestration terminated, an event wait takes no event: the next
   * event of that name goes to the next wait). A resolved task is left as it is. Recorded and replayed.
   */
  cancel(task: Task<unknown>): void;
  /** Blocks until every task resolved; returns the outputs in order or throws the first failure. */
  all<T = any>(tasks: Iterable<Task<T>>): T[];
  /** Blocks until every task resolved; returns every outcome in order. */
  allSettled<T = any>(tasks: Iterable<Task<T>>): Settled<T>[];
  /** Blocks until at least one task resolved; returns the first to have done so. */
  any<T = any>(tasks: Iterable<Task<T>>): AnyResult<T>;
  /**
   * Registers `handler` to answer the query `name` from the orchestrator's state while it waits.
   * Handlers only read: scheduling, waiting, setting the custom status or continuing as new fails the
   * query with `QueryNotReadOnly`.
   */
  onQuery<I = any, O = any>(name: string, handler: (input: I) => O): void;
  /**
   * Registers `handler` to apply the update `name` (`keel update ID NAME --input JSON`) while the
   * orchestrator waits. The optional `validator` runs first, in the real orchestrator, and must only
   * read (scheduling, waiting, setting the custom status or continuing as new in it fails the
   * instance); throwing a `KeelFailure` rejects the update, which records nothing and returns the
   * failure to the client. An accepted update is recorded and its handler runs: it may change state,
   * schedule tasks and set the custom status but must not wait; its result or `KeelFailure` is recorded
   * and returned to the client. On replay handlers run again; validators are not consulted.
   */
  onUpdate<I = any, O = any>(
    name: string,
    handler: (input: I) => O,
    options?: { validator?: (input: I) => void },
  ): void;
  /** Orchestration time in ms since the Unix epoch: the start of the current turn. */
  now(): number;
  /** A float in [0, 1) from the per-execution generator; the same on replay. */
  random(): number;
  /** A u64 from the per-execution generator; the same on replay. */
  randomU64(): bigint;
  /** A version-4 UUID from the same generator; the same on replay. */
  uuid(): string;
  /** True while re-executing steps already recorded in the history. */
  isReplaying(): boolean;
  /** Sets the instance's custom status, visible to clients. */
  setCustomStatus(status: unknown): void;
  /**
   * Ends this execution on return and starts a new one with `input`; the return value is ignored.
   * `keepEvents`: the events raised to this execution that it never waited for go to the next one.
   */
  continueAsNew(input: unknown, options?: { keepEvents?: boolean }): void;
  /** Writes a log line; dropped while replaying. */
  log(level: LogLevel, message: string): void;
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** What the host tells one activity attempt about itself. */
export interface ActivityInfo {
  instanceId: string;
  taskId: number;
  /** 1 for the first attempt. */
  attempt: number;
  /**
   * Stable across every attempt of this call and new for each incarnation of the instance id
   * (`instance/run/task-id`, `instance/run@execution/task-id` after a continue-as-new).
   */
  idempotencyKey: string;
}

export const INSTANCE_ID_VAR: 'KEEL_INSTANCE_ID';
export const TASK_ID_VAR: 'KEEL_TASK_ID';
export const ATTEMPT_VAR: 'KEEL_ATTEMPT';
export const IDEMPOTENCY_KEY_VAR: 'KEEL_IDEMPOTENCY_KEY';

/** The current attempt's information, or null outside an activity attempt run by Keel. */
export function activityInfo(): ActivityInfo | null;
/** Builds the information from a variable lookup (for tests). */
export function activityInfoFrom(lookup: (name: string) => string | undefined): ActivityInfo | null;
/** The environment of the current call, via `wasi:cli/environment` (there is no `process.env`). */
export function env(): Record<string, string>;

/**
 * Reports that the running activity attempt is alive, with progress `details`. The latest details show
 * in `keel status` and go to the next attempt of the task (`lastHeartbeat()`). Returns true when the
 * attempt should stop (its task was canceled, its instance terminated, or another worker took it
 * over): it may clean up and return, its result is dropped. For activities only.
 */
export function heartbeat(details?: unknown): boolean;
/**
 * The details of the last heartbeat an earlier attempt of this task recorded, parsed from JSON; null
 * when there was none. Throws a `KeelFailure` of kind `InvalidInput` if they are not JSON.
 */
export function lastHeartbeat<T = any>(): T | null;

/**
 * The standard `fetch` (installed as the global one), whose failures to get a response reject with a
 * `KeelFailure` of kind `HttpError` (the engine's error as its `cause`). For activities only: an
 * orchestrator calling it fails its instance (`HttpInOrchestrator`).
 */
export function fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
/**
 * Resolves to `response` if its status is below 400; else rejects with a `KeelFailure` of kind
 * `HttpStatus`, message `the server answered STATUS: EXCERPT`, details `{ status, body: EXCERPT }`
 * (the first 512 characters of the body).
 */
export function checkStatus(response: Response): Promise<Response>;
/** The body parsed as JSON; rejects with a `KeelFailure` of kind `InvalidOutput` if it is not JSON. */
export function readJson<T = any>(response: Response): Promise<T>;

export type OrchestratorFn<I = any, O = any> = (ctx: Context, input: I) => O;
/** An activity; it may be `async`. */
export type ActivityFn<I = any, O = any> = (input: I) => O | Promise<O>;

/** Registers orchestrator `name`. */
export function orchestrator<I = any, O = any>(name: string, fn: OrchestratorFn<I, O>): void;
/** Registers activity `name`. */
export function activity<I = any, O = any>(name: string, fn: ActivityFn<I, O>): void;
/** Registers several functions at once. */
export function module(functions: {
  orchestrators?: Record<string, OrchestratorFn>;
  activities?: Record<string, ActivityFn>;
}): void;

/** @internal The component's exports, re-exported by the build script's entry module. */
export const orchestrators: { run(name: string, input: string): string };
/** @internal A promise when the activity is `async`. */
export const activities: { run(name: string, input: string): string | Promise<string> };
/** @internal */
export const manifest: { describe(): { name: string; kind: 'orchestrator' | 'activity' }[] };
