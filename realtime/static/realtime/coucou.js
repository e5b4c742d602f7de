/**
 * coucou.js — the browser client of Coucou's event socket (/ws/events/).
 * One ES module, no dependency, no build step.
 *
 *   import {connect} from "/static/realtime/coucou.js";
 *   const c = connect();                        // same origin: the session cookie
 *   c.on("state", (state) => ...);              // connecting | open | reconnecting | closed | unauthenticated
 *   c.on("job.progress", (event) => ...);       // any event type, or "*" for every event
 *   const job = c.job(id);
 *   job.onProgress(({percent, message}) => ...);
 *   job.onState((snapshot) => ...);             // status changes: queued, running, succeeded, ...
 *   const final = await job.done;               // rejects with a JobError if it failed or was cancelled
 *   c.close();
 *
 * What it guarantees: every event once, in seq order. It remembers the epoch and the last seq
 * it saw, reconnects with exponential backoff and jitter, resumes with
 * ?after=<last seq>&epoch=<epoch>, asks for a resume when it sees a jump, drops duplicates,
 * and on "resync" (events older than the server's retention are gone, or Redis lost or
 * rewound the history and the epoch changed) refetches the jobs it watches over REST.
 *
 * Another origin: connect({url: "wss://coucou.example/ws/events/", ticket: async () => "...",
 * fetch: (path) => ...}). `ticket` is called before every connection attempt, since a ticket
 * works once; your backend gets one from POST /api/realtime/ticket with its bearer token.
 */

export const CLOSE_SLOW_READER = 4008; // the server dropped a socket that fell behind: resume
export const CLOSE_UNAUTHENTICATED = 4401; // no valid credentials: retrying cannot help
export const CLOSE_FLOOD = 4429; // the client sent too many frames: back off

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const STATUS_OF = {
  "job.queued": "queued",
  "job.retrying": "queued",
  "job.started": "running",
  "job.progress": "running",
  "job.succeeded": "succeeded",
  "job.failed": "failed",
  "job.cancelled": "cancelled",
};
const CONTROL = new Set(["hello", "resync", "pong", "error"]);
const RESUME_RETRY_MS = 5000; // ask again if a requested resume has not filled the hole by then
const FLOOD_DELAY_MS = 10000;
const HEARD_JOBS = 100; // unwatched jobs whose latest state is kept, for c.job() called late

/** A job that ended failed or cancelled (or that does not exist): `done` rejects with it. */
export class JobError extends Error {
  constructor(job) {
    super(job.error?.message || `job ${job.status}`);
    this.name = "JobError";
    this.job = job;
    this.status = job.status;
  }
}

function report(error) {
  (globalThis.reportError ?? console.error)(error);
}

function defaultUrl() {
  const url = new URL("/ws/events/", globalThis.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function defaultFetch(path) {
  return globalThis.fetch(path, {credentials: "same-origin", headers: {Accept: "application/json"}});
}

function emptyProgress() {
  return {current: null, total: null, percent: null, message: ""};
}

/** What one job looks like from here, updated by its events and by REST. */
export class JobHandle {
  constructor(connection, id) {
    this.id = id;
    this.connection = connection;
    this.job = {id, task: null, status: null, progress: emptyProgress(), result: null, error: null};
    this.watched = false;
    this.live = false; // seen an event: newer than any REST snapshot but a terminal one
    this.finished = false;
    this.progressListeners = new Set();
    this.stateListeners = new Set();
    this.done = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.done.catch(() => {}); // a failure nobody awaits is not an unhandled rejection
  }

  /** Calls fn({current, total, percent, message}) now if known, then on every change. */
  onProgress(fn) {
    this.progressListeners.add(fn);
    if (this.job.progress.percent !== null || this.job.progress.current !== null) {
      this.call(fn, this.job.progress);
    }
    return () => this.progressListeners.delete(fn);
  }

  /** Calls fn(snapshot) now if the status is known, then on every status change. */
  onState(fn) {
    this.stateListeners.add(fn);
    if (this.job.status !== null) this.call(fn, this.snapshot());
    return () => this.stateListeners.delete(fn);
  }

  /** Stop following this job (its handle is forgotten by the connection). */
  unwatch() {
    this.connection.jobs.delete(this.id);
    this.progressListeners.clear();
    this.stateListeners.clear();
  }

  snapshot() {
    return {...this.job, progress: {...this.job.progress}};
  }

  call(fn, value) {
    try {
      fn(value);
    } catch (error) {
      report(error);
    }
  }

  event(frame) {
    if (this.finished) return;
    this.live = true;
    const data = frame.data ?? {};
    if (frame.type === "job.queued" && data.task) this.job.task = data.task;
    if (frame.type === "job.progress") {
      const {current = null, total = null, percent = null, message = ""} = data;
      this.job.progress = {current, total, percent, message};
      for (const fn of this.progressListeners) this.call(fn, {...this.job.progress});
    }
    if (frame.type === "job.succeeded") this.job.result = data.result ?? null;
    if (frame.type === "job.failed") this.job.error = data.error ?? null;
    const status = STATUS_OF[frame.type];
    if (status === undefined) return;
    if (status !== this.job.status || TERMINAL.has(status)) {
      this.job.status = status;
      this.changed();
    }
  }

  /** A Job from REST. Its status, progress, result and error are applied unless live events
   * are newer (a terminal status always wins); its other fields (task, params, ...) always. */
  apply(rest, {force = false} = {}) {
    const {status, progress, result = null, error = null, ...fixed} = rest;
    Object.assign(this.job, fixed, {id: this.id});
    if (!this.finished && (force || !this.live || TERMINAL.has(status))) {
      const next = {...emptyProgress(), ...(progress ?? {})};
      const moved = JSON.stringify(next) !== JSON.stringify(this.job.progress);
      Object.assign(this.job, {status, progress: next, result, error});
      if (moved) for (const fn of this.progressListeners) this.call(fn, {...next});
    }
    this.changed();
  }

  /** The API answered 404: no such job, or not this user's. */
  missing() {
    if (this.finished) return;
    Object.assign(this.job, {status: "missing", error: {type: "NotFound", message: "no such job"}});
    this.finished = true;
    const snapshot = this.snapshot();
    for (const fn of this.stateListeners) this.call(fn, snapshot);
    this.reject(new JobError(snapshot));
  }

  changed() {
    const snapshot = this.snapshot();
    for (const fn of this.stateListeners) this.call(fn, snapshot);
    if (this.finished || !TERMINAL.has(this.job.status)) return;
    this.finished = true;
    if (this.job.status === "succeeded") this.resolve(snapshot);
    else this.reject(new JobError(snapshot));
  }
}

/** One resilient socket: see the module's docstring. Made by connect(). */
export class Connection {
  constructor({
    url,
    ticket,
    fetch,
    after = null,
    epoch = null,
    pingIntervalMs = 25000,
    minDelayMs = 500,
    maxDelayMs = 30000,
  } = {}) {
    this.url = url ?? defaultUrl();
    this.ticket = ticket ?? null;
    this.fetcher = fetch ?? defaultFetch;
    this.last = after; // the last seq seen; null until the first hello
    this.epoch = epoch; // the history `last` belongs to; null until the first hello
    this.pingIntervalMs = pingIntervalMs;
    this.minDelayMs = minDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.state = "connecting";
    this.listeners = new Map();
    this.jobs = new Map();
    this.unrefreshed = new Set(); // jobs whose REST refresh failed: tried again on the next open
    this.socket = null;
    this.attempt = 0;
    this.timer = null;
    this.pinger = null;
    this.lastFrameAt = 0;
    this.acceptJump = false;
    this.resumeSentAt = 0;
    this.closed = false;
    this.onOnline = () => this.retryNow();
    globalThis.addEventListener?.("online", this.onOnline);
    this.open();
  }

  /** Listen to an event type ("job.progress", "coucou", ...), "*" (every event), a control
   * frame ("hello", "resync", "error", "pong") or "state". Returns a function that stops it. */
  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(fn);
    return () => this.listeners.get(type)?.delete(fn);
  }

  /** The handle of one job, the same for every call with that id. It starts from `known`
   * (a Job from the REST API, e.g. the answer to POST /api/jobs) or else fetches the job. */
  job(id, known = null) {
    let handle = this.jobs.get(id);
    if (handle === undefined) {
      handle = new JobHandle(this, id);
      this.jobs.set(id, handle);
    }
    if (known !== null) handle.apply(known);
    if (!handle.watched) {
      handle.watched = true;
      if (known === null && !handle.finished) this.refresh(handle);
    }
    return handle;
  }

  /** Close for good: no reconnect. */
  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.stopPinging();
    globalThis.removeEventListener?.("online", this.onOnline);
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000);
    this.setState("closed");
  }

  send(frame) {
    if (this.socket?.readyState === 1) this.socket.send(JSON.stringify(frame));
  }

  // --- the socket's life -----------------------------------------------------------------
  async open() {
    this.timer = null;
    const params = new URLSearchParams();
    if (this.last !== null) params.set("after", String(this.last));
    else if (this.epoch !== null) params.set("after", "0"); // a new epoch, no event of it yet
    if (this.epoch !== null) params.set("epoch", this.epoch);
    if (this.ticket !== null) {
      try {
        params.set("ticket", await this.ticket());
      } catch (error) {
        report(error);
        if (!this.closed) this.retryLater();
        return;
      }
      if (this.closed) return;
    }
    const query = params.toString();
    const url = query ? `${this.url}${this.url.includes("?") ? "&" : "?"}${query}` : this.url;
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (error) {
      report(error); // a malformed url: retrying will not mend it, but keeps the state honest
      this.retryLater();
      return;
    }
    this.socket = socket;
    socket.onmessage = (message) => this.receive(socket, message.data);
    socket.onclose = (event) => this.lost(socket, event.code);
  }

  lost(socket, code) {
    if (socket !== this.socket || this.closed) return;
    this.socket = null;
    this.stopPinging();
    if (code === CLOSE_UNAUTHENTICATED) {
      this.setState("unauthenticated");
      return;
    }
    this.retryLater(code === CLOSE_FLOOD ? FLOOD_DELAY_MS : 0);
  }

  retryLater(floorMs = 0) {
    this.setState("reconnecting");
    const ceiling = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** this.attempt);
    const delay = Math.max(floorMs, ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay);
  }

  retryNow() {
    if (this.timer === null || this.closed) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.open();
  }

  startPinging() {
    this.stopPinging();
    this.pinger = setInterval(() => {
      if (Date.now() - this.lastFrameAt > 2 * this.pingIntervalMs) {
        // Not even a pong for two periods: the connection is dead without knowing it.
        const socket = this.socket;
        this.socket = null;
        this.stopPinging();
        socket?.close();
        this.retryLater();
        return;
      }
      this.send({type: "ping"});
    }, this.pingIntervalMs);
  }

  stopPinging() {
    clearInterval(this.pinger);
    this.pinger = null;
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.emit("state", state);
  }

  // --- frames ----------------------------------------------------------------------------
  receive(socket, data) {
    if (socket !== this.socket) return;
    this.lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame === null || typeof frame !== "object") return;
    if (frame.type === "hello") {
      if (this.last === null && this.epoch === null) this.last = frame.seq;
      if (this.epoch === null) this.epoch = frame.epoch ?? null;
      this.acceptJump = false; // a new socket: what follows is a replay from `last`, or live
      this.resumeSentAt = 0;
      this.attempt = 0;
      this.startPinging();
      this.setState("open");
      this.retryRefreshes();
    } else if (frame.type === "resync") {
      // Some events are gone: start again from what comes next, and ask REST for the state.
      if ((frame.epoch ?? null) !== this.epoch) {
        // Another history: its seqs may be below ours. Take the next event whatever its seq.
        this.epoch = frame.epoch ?? null;
        this.last = null;
      } else if (this.last === null || frame.seq < this.last) this.last = frame.seq;
      this.acceptJump = true;
      this.resumeSentAt = 0;
      this.refreshAll();
    } else if (typeof frame.seq === "number" && !CONTROL.has(frame.type)) {
      this.event(frame);
      return;
    }
    this.emit(frame.type, frame);
  }

  event(frame) {
    if (frame.epoch !== undefined && this.epoch !== null && frame.epoch !== this.epoch) {
      // The server sends "resync" before another epoch's events; follow the event all the same.
      this.epoch = frame.epoch;
      this.last = null;
      this.refreshAll();
    }
    const seq = frame.seq;
    if (this.last !== null && seq <= this.last) return; // a duplicate
    if (this.last !== null && seq > this.last + 1 && !this.acceptJump) {
      // A jump: some events did not arrive. The server replays from `last`, this one included.
      if (Date.now() - this.resumeSentAt > RESUME_RETRY_MS) {
        this.resumeSentAt = Date.now();
        this.send({type: "resume", after: this.last});
      }
      return;
    }
    this.acceptJump = false;
    this.resumeSentAt = 0;
    this.last = seq;
    if (typeof frame.job === "string") this.heard(frame.job).event(frame);
    this.emit(frame.type, frame);
    this.emit("*", frame);
  }

  heard(id) {
    let handle = this.jobs.get(id);
    if (handle === undefined) {
      handle = new JobHandle(this, id);
      this.jobs.set(id, handle);
      const unwatched = [...this.jobs.values()].filter((h) => !h.watched);
      if (unwatched.length > HEARD_JOBS) this.jobs.delete(unwatched[0].id);
    }
    return handle;
  }

  emit(type, value) {
    for (const fn of this.listeners.get(type) ?? []) {
      try {
        fn(value);
      } catch (error) {
        report(error);
      }
    }
  }

  // --- REST ------------------------------------------------------------------------------
  async refresh(handle, options = {}) {
    let response;
    try {
      response = await this.fetcher(`/api/jobs/${encodeURIComponent(handle.id)}`);
    } catch (error) {
      // The network, not a bug (the server may be restarting): try again once a socket opens.
      console.warn(`coucou: could not refresh job ${handle.id}, retrying on reconnect:`, error);
      this.unrefreshed.add(handle);
      return;
    }
    if (response.status === 404) handle.missing();
    else if (response.ok) handle.apply(await response.json(), options);
  }

  retryRefreshes() {
    const handles = [...this.unrefreshed];
    this.unrefreshed.clear();
    for (const handle of handles) {
      if (handle.watched && !handle.finished) this.refresh(handle, {force: true});
    }
  }

  refreshAll() {
    for (const handle of this.jobs.values()) {
      if (handle.watched && !handle.finished) this.refresh(handle, {force: true});
    }
  }
}

// --- the progress widget -------------------------------------------------------------------
let defaultConnection = null;
const waitingWidgets = new Set();

/** Open a Connection (see the module's docstring). The first one feeds <coucou-progress>. */
export function connect(options = {}) {
  const connection = new Connection(options);
  if (defaultConnection === null || defaultConnection.closed) {
    defaultConnection = connection;
    for (const widget of waitingWidgets) widget.bind();
  }
  return connection;
}

const Base = globalThis.HTMLElement ?? class {};

/**
 * <coucou-progress job="ID" label="Resizing images"></coucou-progress>
 * A native <progress> and the percent and message as text, announced politely to screen
 * readers. It follows its job on the first connection made by connect(), or on the one set
 * as `element.connection`.
 */
export class CoucouProgress extends Base {
  static observedAttributes = ["job", "label"];

  constructor() {
    super();
    this.ownConnection = null;
    this.stops = [];
  }

  set connection(connection) {
    this.ownConnection = connection;
    if (this.isConnected) this.bind();
  }

  get connection() {
    return this.ownConnection ?? defaultConnection;
  }

  connectedCallback() {
    this.render();
    this.bind();
  }

  disconnectedCallback() {
    this.unbind();
  }

  attributeChangedCallback() {
    if (!this.isConnected) return;
    this.render();
    this.bind();
  }

  render() {
    if (!this.bar) {
      this.bar = document.createElement("progress");
      this.bar.max = 100;
      this.text = document.createElement("span");
      this.text.className = "coucou-progress-text";
      this.text.setAttribute("aria-live", "polite");
      this.text.setAttribute("aria-atomic", "true");
      this.append(this.bar, this.text);
    }
    this.bar.setAttribute("aria-label", this.getAttribute("label") || "Job progress");
  }

  bind() {
    this.unbind();
    const id = this.getAttribute("job");
    if (!id) return;
    if (this.connection === null) {
      waitingWidgets.add(this);
      return;
    }
    const handle = this.connection.job(id);
    this.stops = [
      handle.onProgress((progress) => this.show(progress, handle.job.status)),
      handle.onState((job) => this.show(job.progress, job.status)),
    ];
    this.show(handle.job.progress, handle.job.status);
  }

  unbind() {
    waitingWidgets.delete(this);
    for (const stop of this.stops) stop();
    this.stops = [];
  }

  /** Show a progress value ({current, total, percent, message}) and a job status. */
  show(progress, status) {
    this.render();
    const known = progress.percent !== null && progress.percent !== undefined;
    const percent = status === "succeeded" ? 100 : known ? progress.percent : null;
    // Indeterminate (no value) only while running without a percent: it reads as "busy".
    if (percent !== null) this.bar.value = percent;
    else if (status === "running" || !status) this.bar.removeAttribute("value");
    else this.bar.value = 0;
    if (status) this.dataset.status = status;
    const parts = [];
    if (percent !== null) parts.push(`${Math.floor(percent)} %`);
    if (status === "succeeded") parts.push("done");
    else if (status === "failed" || status === "cancelled" || status === "queued") parts.push(status);
    else if (progress.message) parts.push(progress.message);
    else if (status === "running" && parts.length === 0) parts.push("working…");
    const text = parts.join(" · ");
    if (this.text.textContent !== text) this.text.textContent = text;
  }
}

if (globalThis.customElements && !customElements.get("coucou-progress")) {
  customElements.define("coucou-progress", CoucouProgress);
}

export default {connect, Connection, JobHandle, JobError, CoucouProgress};
