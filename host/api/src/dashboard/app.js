// Keel dashboard: a single page over the management API. Vanilla JS, no build step, no network access
// beyond this server. Every value from the API is put in the page with textContent, never as HTML.
"use strict";

const TOKEN_KEY = "keel.token";
const TERMINAL = ["Completed", "Failed", "Terminated"];
const STATUSES = ["Pending", "Running", "Suspended", "Completed", "Failed", "Terminated", "ContinuedAsNew", "Parked"];
const $ = (id) => document.getElementById(id);

let refreshTimer = null;
let current = null; // instance shown on the instance page

class Unauthorized extends Error {}

async function api(method, path, body) {
  const token = localStorage.getItem(TOKEN_KEY);
  if (!token) throw new Unauthorized("no token");
  const init = { method, headers: { Authorization: "Bearer " + token } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) throw new Unauthorized("the token was refused");
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  if (!response.ok) {
    const message = json && json.message ? json.message : response.status + " " + response.statusText;
    const error = new Error(message);
    error.status = response.status;
    error.code = json && json.code;
    throw error;
  }
  return { status: response.status, json };
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function badge(status) { return el("span", { class: "badge " + status }, status); }
function time(ms) { return ms ? new Date(ms).toLocaleString() : ""; }
function pretty(value) { return value === undefined || value === null ? "—" : JSON.stringify(value, null, 2); }
function instancePath(id) { return "/api/instances/" + encodeURIComponent(id); }

function show(section) {
  for (const id of ["login", "list", "instance", "modules"]) $(id).hidden = id !== section;
}

function schedule(fn, ms) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(fn, ms);
}

function fail(error) {
  if (error instanceof Unauthorized) {
    clearTimeout(refreshTimer);
    $("login-error").textContent = localStorage.getItem(TOKEN_KEY) ? "The token was refused." : "";
    show("login");
    $("token").focus();
    return;
  }
  $("conn").textContent = "error: " + error.message;
}

// ---- instance list -------------------------------------------------------------------------------

async function renderList() {
  const status = $("status-filter").value;
  const query = new URLSearchParams({ limit: "500" });
  if (status) query.set("status", status);
  const [stats, list, schedules] = await Promise.all([
    api("GET", "/api/stats"), api("GET", "/api/instances?" + query), api("GET", "/api/schedules")]);
  const counts = $("counts");
  counts.replaceChildren(
    ...["", ...STATUSES].map((s) => {
      const n = s ? stats.json.counts[s] || 0 : stats.json.total;
      const button = el("button", { type: "button", class: s === status ? "active" : "", "data-status": s },
        el("span", { class: "muted" }, s || "All"), el("b", {}, n));
      button.addEventListener("click", () => { $("status-filter").value = s; refresh(); });
      return button;
    }),
  );
  const needle = $("search").value.trim().toLowerCase();
  const rows = list.json.filter((i) => !needle || i.id.toLowerCase().includes(needle) || i.name.toLowerCase().includes(needle));
  $("rows").replaceChildren(
    ...rows.map((i) => el("tr", {},
      el("td", { class: "mono" }, el("a", { href: "#/instances/" + encodeURIComponent(i.id) }, i.id)),
      el("td", {}, i.name), el("td", {}, badge(i.status)),
      el("td", {}, time(i.createdAt)), el("td", {}, time(i.updatedAt)))),
  );
  $("list-empty").hidden = rows.length > 0;
  renderSchedules(schedules.json);
  $("conn").textContent = "updated " + new Date().toLocaleTimeString();
  schedule(refresh, 5000);
}

// A schedule's times as stored (`cron:EXPR`, `every:MS`), for people.
function fires(s) {
  if (s.spec.startsWith("cron:")) return "cron " + s.spec.slice(5) + " (" + s.timezone + ")";
  const ms = Number(s.spec.slice(6));
  return ms % 1000 === 0 ? "every " + ms / 1000 + " s" : "every " + ms + " ms";
}

function renderSchedules(schedules) {
  $("schedules-pane").hidden = schedules.length === 0;
  $("schedules").replaceChildren(
    ...schedules.map((s) => el("tr", {},
      el("td", { class: "mono" }, s.name), el("td", {}, s.paused ? "paused" : "running"),
      el("td", { class: "mono" }, fires(s)), el("td", {}, s.orchestrator),
      el("td", {}, s.paused ? "" : time(s.nextFireMs)),
      el("td", { class: "mono" }, s.lastInstance
        ? el("a", { href: "#/instances/" + encodeURIComponent(s.lastInstance) }, s.lastInstance) : ""),
      el("td", {}, s.fired), el("td", {}, s.skipped))),
  );
}

// ---- modules -------------------------------------------------------------------------------------

async function renderModules() {
  const { json } = await api("GET", "/api/modules");
  $("functions").replaceChildren(
    ...json.functions.map((f) => el("tr", {},
      el("td", {}, f.name), el("td", {}, f.kind), el("td", {}, f.version),
      el("td", { class: "mono" }, f.digest.slice(0, 12)), el("td", {}, f.active ? "yes" : ""))),
  );
}

// ---- one instance --------------------------------------------------------------------------------

function summary(event) {
  const rest = Object.assign({}, event);
  delete rest.type;
  return JSON.stringify(rest);
}

async function renderInstance(id) {
  const { json: i } = await api("GET", instancePath(id) + "?history=true");
  current = i;
  $("i-id").textContent = i.id;
  $("i-status").textContent = i.status;
  $("i-status").className = "badge " + i.status;
  const facts = [["Orchestrator", i.name], ["Execution", i.execution], ["Module", i.module.slice(0, 16)],
    ["Created", time(i.createdAt)], ["Updated", time(i.updatedAt)], ["Events", i.historyLen]];
  if (i.parent) facts.push(["Parent", i.parent.instance]);
  $("i-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  $("i-input").textContent = pretty(i.input);
  $("i-output").textContent = pretty(i.output);
  $("i-custom").textContent = pretty(i.customStatus);
  const activities = i.activities || [];
  $("i-activities-pane").hidden = !activities.length;
  $("i-activities").textContent = activities.map((a) =>
    "#" + a.taskId + " " + a.name + " attempt " + a.attempt + (a.running ? " running" : " waiting")
      + (a.heartbeat === undefined ? "" : "\nheartbeat " + JSON.stringify(a.heartbeat) + " at " + time(a.heartbeatMs)))
    .join("\n");
  $("i-failure-pane").hidden = !i.failure && !i.parked;
  $("i-failure").textContent = i.parked
    ? "parked: " + i.parked + "\nFix the cause, then resume the instance."
    : i.failure ? pretty(i.failure) : "";
  const ended = TERMINAL.includes(i.status);
  for (const button of document.querySelectorAll(".actions button")) {
    const action = button.dataset.action;
    button.disabled = action === "purge" ? !ended
      : action === "rewind" ? i.status !== "Failed"
      : ended || (action === "resume" && i.status !== "Suspended" && i.status !== "Parked")
        || (action === "suspend" && (i.status === "Suspended" || i.status === "Parked"));
  }
  const history = i.history || [];
  const t0 = history.length ? history[0].recordedAt : i.createdAt;
  $("history").replaceChildren(
    ...history.map((r) => el("tr", { class: /Failed/.test(r.event.type) ? "failed" : "" },
      el("td", { class: "mono" }, r.execution + "." + r.seq), el("td", { class: "mono" }, r.recordedAt - t0),
      el("td", {}, r.event.type), el("td", { class: "mono" }, summary(r.event)))),
  );
  timeline(history, ended ? null : Date.now());
  await renderLogs(id);
  $("conn").textContent = "updated " + new Date().toLocaleTimeString() + (ended ? "" : " · refreshing every 2 s");
  if (!ended) schedule(refresh, 2000);
}

// What the instance's guests wrote: the first page of its stored lines.
const LOG_PAGE = 1000;
async function renderLogs(id) {
  const { json: page } = await api("GET", instancePath(id) + "/logs?limit=" + LOG_PAGE);
  const lines = page.lines || [];
  $("logs").replaceChildren(...(lines.length ? lines.map((l) =>
    el("tr", { class: l.stream === "stderr" || l.stream === "error" ? "failed" : "" },
      el("td", { class: "mono" }, new Date(l.atMs).toLocaleTimeString()),
      el("td", {}, l.task === undefined ? l.source : l.source + " #" + l.task + " attempt " + l.attempt),
      el("td", { class: "mono" }, l.stream), el("td", { class: "mono" }, l.text)))
    : [el("tr", {}, el("td", { colspan: "4", class: "muted" }, "No lines yet."))]));
  $("logs-more").hidden = lines.length < LOG_PAGE;
}

// Rows of the timeline: one per activity or sub-orchestration (a bar from scheduled to done), one per
// timer (a dashed span from created to fired), one for external events; execution-level events are
// marks on the first row.
function timeline(history, now) {
  const box = $("timeline");
  if (!history.length) { box.replaceChildren(el("p", { class: "muted" }, "No history yet.")); return; }
  const t0 = history[0].recordedAt;
  let t1 = Math.max(...history.map((r) => r.recordedAt));
  if (now) t1 = Math.max(t1, now);
  const rows = new Map(); // key -> row
  const row = (key, label) => {
    if (!rows.has(key)) rows.set(key, { label, bars: [], marks: [], spans: [] });
    return rows.get(key);
  };
  const lifecycle = row("execution", "execution");
  const open = new Map();
  for (const r of history) {
    const e = r.event, at = r.recordedAt, task = r.execution + ":" + e.id;
    switch (e.type) {
      case "TaskScheduled":
      case "SubOrchestrationCreated": {
        const bar = { start: at, end: null, failed: false, sub: e.type !== "TaskScheduled" };
        row(task, e.name + " #" + e.id).bars.push(bar);
        open.set(task, bar);
        break;
      }
      case "TaskCompleted": case "SubOrchestrationCompleted":
      case "TaskFailed": case "SubOrchestrationFailed": {
        const bar = open.get(task);
        if (bar) { bar.end = at; bar.failed = /Failed/.test(e.type); }
        break;
      }
      case "TaskRetrying":
        row(task, "#" + e.id).marks.push({ at, kind: "retry", title: "attempt " + e.attempt + " failed: " + e.failure.message });
        break;
      case "TimerCreated":
        row(task, "timer #" + e.id).spans.push({ start: at, end: null, due: e.fireAtMs });
        row(task).marks.push({ at, kind: "timer", title: "timer created, fires at " + time(e.fireAtMs) });
        break;
      case "TimerFired": {
        const timer = row(task, "timer #" + e.id);
        if (timer.spans.length) timer.spans[timer.spans.length - 1].end = at;
        timer.marks.push({ at, kind: "timer", title: "timer fired" });
        break;
      }
      case "EventAwaited":
        row("events", "events").marks.push({ at, kind: "event", title: "waiting for " + e.name });
        break;
      case "EventRaised":
        row("events", "events").marks.push({ at, kind: "event", title: "raised " + e.name + " " + JSON.stringify(e.data) });
        break;
      case "ExecutionStarted": case "ExecutionCompleted": case "ContinuedAsNew":
      case "ExecutionSuspended": case "ExecutionResumed": case "ExecutionUpgraded": case "ExecutionRewound":
        lifecycle.marks.push({ at, kind: "life", title: e.type + " " + summary(e) });
        break;
      case "ExecutionFailed": case "ExecutionTerminated":
        lifecycle.marks.push({ at, kind: "failed", title: e.type + " " + summary(e) });
        break;
      default:
        break;
    }
  }
  const labelW = 170, width = Math.max(box.clientWidth - 20, 600), plotW = width - labelW - 20;
  const rowH = 22, top = 24, height = top + rows.size * rowH + 6;
  const span = Math.max(t1 - t0, 1);
  const x = (t) => labelW + ((t - t0) / span) * plotW;
  const out = svg("svg", { width, height, role: "img", "aria-label": "timeline" });
  for (let k = 0; k <= 4; k++) {
    const t = t0 + (span * k) / 4, px = x(t);
    out.append(svg("line", { x1: px, x2: px, y1: top - 6, y2: height, class: "axis" }));
    out.append(svg("text", { x: px, y: 12, "text-anchor": k === 0 ? "start" : k === 4 ? "end" : "middle", class: "tick" },
      "+" + Math.round(t - t0) + " ms"));
  }
  let y = top;
  for (const r of rows.values()) {
    out.append(svg("text", { x: 4, y: y + 14 }, r.label.length > 26 ? r.label.slice(0, 25) + "…" : r.label));
    for (const b of r.bars) {
      const end = b.end ?? t1;
      const cls = "bar" + (b.failed ? " failed" : "") + (b.end === null ? " open" : "") + (b.sub ? " sub" : "");
      const rect = svg("rect", { x: x(b.start), y: y + 4, width: Math.max(x(end) - x(b.start), 3), height: rowH - 8, rx: 3, class: cls });
      rect.append(svg("title", {}, (b.end === null ? "running for " : "took ") + (end - b.start) + " ms"));
      out.append(rect);
    }
    for (const s of r.spans) {
      out.append(svg("line", { x1: x(s.start), x2: x(s.end ?? t1), y1: y + rowH / 2, y2: y + rowH / 2, class: "span" }));
    }
    for (const m of r.marks) {
      const mark = svg("circle", { cx: x(m.at), cy: y + rowH / 2, r: 5, class: "mark " + m.kind });
      mark.append(svg("title", {}, m.title));
      out.append(mark);
    }
    y += rowH;
  }
  box.replaceChildren(out);
}

async function act(action) {
  if (!current) return;
  const id = current.id;
  const result = $("action-result");
  try {
    if (action in SENDS) {
      openSend(action);
      return;
    }
    if (action === "purge") {
      if (!confirm("Purge instance " + id + " and its history?")) return;
      await api("DELETE", instancePath(id));
      location.hash = "#/";
      return;
    }
    if (action === "terminate" && !confirm("Terminate instance " + id + "?")) return;
    await api("POST", instancePath(id) + "/" + action, { reason: action + " from the dashboard" });
    result.textContent = action + " requested";
    refresh();
  } catch (error) {
    if (error instanceof Unauthorized) fail(error);
    else result.textContent = error.message;
  }
}

// What the send dialog does for each of its actions: raise an event, ask a query, send an update.
const SENDS = {
  raise: { title: "Raise event", label: "Data (JSON)", button: "Raise" },
  query: { title: "Query", label: "Input (JSON)", button: "Ask" },
  update: { title: "Update", label: "Input (JSON)", button: "Send" },
};
let sending = "raise";

function openSend(action) {
  sending = action;
  const kind = SENDS[action];
  $("send-title").textContent = kind.title;
  $("send-label").textContent = kind.label;
  $("send-go").textContent = kind.button;
  $("send-error").textContent = "";
  $("send-result").hidden = true;
  if (!$("send-dialog").open) $("send-dialog").showModal();
}

// Sends what the dialog holds. A query's answer and an update's result are shown in the dialog, which
// stays open for the next one; a raised event closes it.
async function send(event) {
  if (event.submitter && event.submitter.value !== "send") return;
  event.preventDefault();
  const name = $("send-name").value.trim();
  const data = $("send-data").value.trim() || "null";
  try {
    JSON.parse(data);
  } catch (error) {
    $("send-error").textContent = "Not JSON: " + error.message;
    return;
  }
  $("send-error").textContent = "";
  $("send-result").hidden = true;
  const base = instancePath(current.id);
  try {
    if (sending === "raise") {
      await api("POST", base + "/events/" + encodeURIComponent(name), data);
      $("send-dialog").close();
      $("action-result").textContent = "raised " + name;
    } else {
      const reply = sending === "query"
        ? await api("GET", base + "/queries/" + encodeURIComponent(name) + "?input=" + encodeURIComponent(data))
        : await api("POST", base + "/updates/" + encodeURIComponent(name), data);
      const result = reply.json;
      $("send-result").textContent = "result" in result
        ? JSON.stringify(result.result, null, 2)
        : "sent as " + result.updateId + "; not served yet";
      $("send-result").hidden = false;
    }
    refresh();
  } catch (error) {
    $("send-error").textContent = error.message;
  }
}

// ---- routing -------------------------------------------------------------------------------------

function route() {
  const hash = location.hash.replace(/^#/, "");
  const fromPath = location.pathname.match(/^\/ui\/instances\/(.+)$/);
  if (hash.startsWith("/instances/")) return { page: "instance", id: decodeURIComponent(hash.slice(11)) };
  if (hash === "/modules") return { page: "modules" };
  if (!hash && fromPath) return { page: "instance", id: decodeURIComponent(fromPath[1]) };
  return { page: "list" };
}

async function refresh() {
  clearTimeout(refreshTimer);
  const r = route();
  try {
    if (!localStorage.getItem(TOKEN_KEY)) throw new Unauthorized("no token");
    if (r.page === "instance") {
      show("instance");
      await renderInstance(r.id);
    } else if (r.page === "modules") {
      show("modules");
      await renderModules();
    } else {
      current = null;
      show("list");
      await renderList();
    }
  } catch (error) {
    if (error.status === 404 && r.page === "instance") {
      $("conn").textContent = "no instance " + r.id;
      location.hash = "#/";
      return;
    }
    fail(error);
    if (!(error instanceof Unauthorized)) schedule(refresh, 5000);
  }
}

// A link of the form `/#token=…` (printed by `keel serve` for a generated token) hands the page its
// token; it is stored and removed from the address bar. A fragment never reaches the server's logs.
function tokenFromLink() {
  const match = location.hash.match(/^#token=([^&]+)(?:&(.*))?$/);
  if (!match) return;
  localStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  history.replaceState(null, "", location.pathname + location.search + (match[2] ? "#" + match[2] : ""));
}

document.addEventListener("DOMContentLoaded", () => {
  tokenFromLink();
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(TOKEN_KEY, $("token").value.trim());
    $("token").value = "";
    refresh();
  });
  $("logout").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    fail(new Unauthorized("signed out"));
  });
  $("status-filter").addEventListener("change", refresh);
  $("search").addEventListener("input", refresh);
  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("search").value.trim();
    if (id) location.hash = "#/instances/" + encodeURIComponent(id);
  });
  for (const button of document.querySelectorAll(".actions button")) {
    button.addEventListener("click", () => act(button.dataset.action));
  }
  $("send-form").addEventListener("submit", send);
  window.addEventListener("hashchange", refresh);
  refresh();
});
