/**
 * Job handles: what one job looks like from the browser, kept current by the user's events
 * (job.queued, job.progress, job.succeeded, ...) and by REST (GET /api/jobs/{id}).
 *
 * Jobs (the registry) belongs to a Connection: it makes the handles, feeds them the events
 * that name a job, and refetches them over REST after a resync. JobHandle is what c.job(id)
 * returns.
 */
import {call} from "./listeners.js";
import {OutputFollower} from "./output.js";

/**
 * @typedef {{current: number | null, total: number | null, percent: number | null, message: string}} Progress
 * @typedef {{id: string, task: string | null, status: string | null, progress: Progress,
 *            result: any, error: {type: string, message: string} | null, [field: string]: any}} Job
 *   A Job as the REST API returns it (DESIGN.md), `status` null until known.
 */

const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
/** The status a job has after each of its events: for pages that follow jobs by their events. */
export const STATUS_OF = Object.freeze({
  "job.queued": "queued",
  "job.retrying": "queued",
  "job.started": "running",
  "job.progress": "running",
  "job.succeeded": "succeeded",
  "job.failed": "failed",
  "job.cancelled": "cancelled",
});
const HEARD_JOBS = 100; // unwatched jobs whose latest state is kept, for c.job() called late

/** A job that ended failed or cancelled (or that does not exist): `done` rejects with it. */
export class JobError extends Error {
  /** @param {Job} job */
  constructor(job) {
    super(job.error?.message || `job ${job.status}`);
    this.name = "JobError";
    /** @type {Job} */
    this.job = job;
    /** @type {string} failed, cancelled, missing (no such job, or not yours) or unauthenticated */
    this.status = job.status;
  }
}

function defaultFetch(path) {
  return globalThis.fetch(path, {credentials: "same-origin", headers: {Accept: "application/json"}});
}

function emptyProgress() {
  return {current: null, total: null, percent: null, message: ""};
}

// What Jobs may do to a handle that its users may not: JobHandle's static block sets these.
let feed, feedOutput, resumeOutputs, applyRest, endWith, isFinished, addChild;

/** One job, updated by its events and by REST. Made by `connection.job(id)`. */
export class JobHandle {
  #id;
  #forget;
  /** @type {Job} */
  #job;
  #live = false; // seen an event: newer than any REST snapshot but a terminal one
  #finished = false;
  #progressListeners = new Set();
  #stateListeners = new Set();
  #childrenListeners = new Set();
  /** @type {Set<string>} ids of child jobs heard of (job.queued naming this job its parent) */
  #children = new Set();
  /** @type {Map<string, Set<OutputFollower>>} by output key */
  #outputs = new Map();
  #fetch;
  #resolve;
  #reject;

  /**
   * @param {string} id
   * @param {(handle: JobHandle) => void} forget called by unwatch()
   * @param {(path: string) => Promise<Response>} [fetch] how to GET the job's output streams
   */
  constructor(id, forget, fetch = null) {
    this.#id = id;
    this.#forget = forget;
    this.#fetch = fetch;
    this.#job = {
      id, task: null, status: null, progress: emptyProgress(), result: null, error: null,
      parent: null, children: null,
    };
    /** @type {Promise<Job>} the final job; rejects with a JobError if it failed or was cancelled */
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => {}); // a failure nobody awaits is not an unhandled rejection
  }

  /** @type {string} */
  get id() {
    return this.#id;
  }

  /** @type {Job} the latest snapshot of the job */
  get job() {
    return this.snapshot();
  }

  /**
   * Calls fn({current, total, percent, message}) now if known, then on every change.
   * @param {(progress: Progress) => void} fn
   * @returns {() => void} stops it
   */
  onProgress(fn) {
    this.#progressListeners.add(fn);
    const {percent, current} = this.#job.progress;
    if (percent !== null || current !== null) call(fn, {...this.#job.progress});
    return () => this.#progressListeners.delete(fn);
  }

  /**
   * Calls fn(snapshot) now if the status is known, then on every status change.
   * @param {(job: Job) => void} fn
   * @returns {() => void} stops it
   */
  onState(fn) {
    this.#stateListeners.add(fn);
    if (this.#job.status !== null) call(fn, this.snapshot());
    return () => this.#stateListeners.delete(fn);
  }

  /**
   * Calls fn({text, offset, closed}) with the job's output stream `key` (ctx.stream(key) on
   * the server): the whole of it, from its start, in order, exactly once, whenever you call
   * it (before, during or after the job). `offset` is where `text` starts, in UTF-8 bytes;
   * `closed` says no writer has the stream open now. See output.js.
   * @param {string} key
   * @param {(chunk: import("./output.js").OutputChunk) => void} fn
   * @returns {() => void} stops it
   */
  onOutput(key, fn) {
    if (typeof fn !== "function") throw new TypeError("onOutput needs a function");
    const path = `/api/jobs/${encodeURIComponent(this.#id)}/output/${encodeURIComponent(key)}`;
    const follower = new OutputFollower(path, this.#fetch ?? defaultFetch, fn);
    if (!this.#outputs.has(key)) this.#outputs.set(key, new Set());
    this.#outputs.get(key).add(follower);
    follower.catchUp();
    return () => {
      follower.stop();
      this.#outputs.get(key)?.delete(follower);
    };
  }

  /**
   * The child jobs this job's body started (ctx.spawn, ctx.map on the server): `ids` heard
   * of so far (or fetched by fetchChildren), and `counts` by status ({total, queued, running,
   * succeeded, failed, cancelled}, from the parent's progress and from REST), null until
   * known. The job's own progress is already their aggregate.
   * @returns {{ids: string[], counts: Record<string, number> | null}}
   */
  get children() {
    return {ids: [...this.#children], counts: this.#job.children ? {...this.#job.children} : null};
  }

  /**
   * Calls fn(children) (as the `children` getter gives them) now if any is known, then
   * whenever a child is heard of or their counts change.
   * @param {(children: {ids: string[], counts: Record<string, number> | null}) => void} fn
   * @returns {() => void} stops it
   */
  onChildren(fn) {
    this.#childrenListeners.add(fn);
    if (this.#children.size || this.#job.children) call(fn, this.children);
    return () => this.#childrenListeners.delete(fn);
  }

  /**
   * Every child job, over REST (GET /api/jobs?parent=, page by page), as Jobs.
   * @returns {Promise<Job[]>}
   */
  async fetchChildren() {
    const fetch = this.#fetch ?? defaultFetch;
    const found = [];
    for (let offset = 0; ; offset += 100) {
      const response = await fetch(`/api/jobs?parent=${encodeURIComponent(this.#id)}&limit=100&offset=${offset}`);
      if (!response.ok) throw new Error(`GET /api/jobs?parent= answered ${response.status}`);
      const page = await response.json();
      found.push(...page.items);
      if (page.items.length < 100 || found.length >= page.count) break;
    }
    const before = this.#children.size;
    for (const child of found) this.#children.add(child.id);
    if (this.#children.size !== before) this.#childrenChanged();
    return found;
  }

  /** Stop following this job (its handle is forgotten by the connection). */
  unwatch() {
    this.#forget(this);
    this.#progressListeners.clear();
    this.#stateListeners.clear();
    this.#childrenListeners.clear();
    for (const followers of this.#outputs.values()) for (const follower of followers) follower.stop();
    this.#outputs.clear();
  }

  #output(frame) {
    for (const follower of this.#outputs.get(frame.key) ?? []) follower.live(frame);
  }

  #resumeOutputs() {
    for (const followers of this.#outputs.values()) for (const follower of followers) follower.catchUp();
  }

  /** @returns {Job} a copy of what is known now */
  snapshot() {
    return {...this.#job, progress: {...this.#job.progress}};
  }

  #event(frame) {
    if (this.#finished) return;
    this.#live = true;
    const data = frame.data ?? {};
    if (frame.type === "job.queued" && data.task) this.#job.task = data.task;
    if (frame.type === "job.queued" && data.parent) this.#job.parent = data.parent;
    if (frame.type === "job.progress") {
      const {current = null, total = null, percent = null, message = ""} = data;
      this.#job.progress = {current, total, percent, message};
      this.#progressChanged();
      if (data.children) {
        this.#job.children = {...data.children};
        this.#childrenChanged();
      }
    }
    if (frame.type === "job.succeeded") this.#job.result = data.result ?? null;
    if (frame.type === "job.failed") this.#job.error = data.error ?? null;
    const status = STATUS_OF[frame.type];
    if (status === undefined) return;
    if (status !== this.#job.status || TERMINAL.has(status)) {
      this.#job.status = status;
      this.#changed();
    }
  }

  // A Job from REST. Its status, progress, result and error are applied unless live events
  // are newer (a terminal status always wins); its other fields (task, params, ...) always.
  #apply(rest, {force = false} = {}) {
    const {status, progress, result = null, error = null, children = null, ...fixed} = rest;
    Object.assign(this.#job, fixed, {id: this.#id});
    if (children !== null && (!this.#live || TERMINAL.has(status) || !this.#job.children)) {
      this.#job.children = {...children};
      this.#childrenChanged();
    }
    if (!this.#finished && (force || !this.#live || TERMINAL.has(status))) {
      const next = {...emptyProgress(), ...(progress ?? {})};
      const moved = JSON.stringify(next) !== JSON.stringify(this.#job.progress);
      Object.assign(this.#job, {status, progress: next, result, error});
      if (moved) this.#progressChanged();
    }
    this.#changed();
  }

  // The job cannot be followed: "missing" (the API said 404: no such job, or not this
  // user's) or "unauthenticated" (a socket without credentials has no jobs).
  #endWith(status, error) {
    if (this.#finished) return;
    Object.assign(this.#job, {status, error});
    this.#finished = true;
    const snapshot = this.snapshot();
    for (const fn of this.#stateListeners) call(fn, snapshot);
    this.#reject(new JobError(snapshot));
  }

  #childrenChanged() {
    const children = this.children;
    for (const fn of this.#childrenListeners) call(fn, children);
  }

  #addChild(id) {
    if (this.#children.has(id)) return;
    this.#children.add(id);
    this.#childrenChanged();
  }

  #progressChanged() {
    for (const fn of this.#progressListeners) call(fn, {...this.#job.progress});
  }

  #changed() {
    const snapshot = this.snapshot();
    for (const fn of this.#stateListeners) call(fn, snapshot);
    if (this.#finished || !TERMINAL.has(this.#job.status)) return;
    this.#finished = true;
    this.#resumeOutputs(); // the end event follows the last batch: a lost last frame is read now
    if (this.#job.status === "succeeded") this.#resolve(snapshot);
    else this.#reject(new JobError(snapshot));
  }

  static {
    feed = (handle, frame) => handle.#event(frame);
    feedOutput = (handle, frame) => handle.#output(frame);
    resumeOutputs = (handle) => handle.#resumeOutputs();
    applyRest = (handle, rest, options) => handle.#apply(rest, options);
    endWith = (handle, status, error) => handle.#endWith(status, error);
    isFinished = (handle) => handle.#finished;
    addChild = (handle, id) => handle.#addChild(id);
  }
}

/** The job handles of one connection, and the REST calls that keep them right. */
export class Jobs {
  /** @type {Map<string, JobHandle>} watched handles, and the last HEARD_JOBS heard of */
  #handles = new Map();
  #watched = new Set();
  #unrefreshed = new Set(); // handles whose REST refresh failed: tried again on the next open
  #fetch;
  #anonymous = false;

  /** @param {(path: string) => Promise<Response>} fetch */
  constructor(fetch) {
    this.#fetch = fetch;
  }

  /** The handle of job `id`, started from `known` (a Job from REST) or else fetched. */
  watch(id, known = null) {
    const handle = this.#handle(id);
    if (known !== null) applyRest(handle, known);
    if (!this.#watched.has(handle)) {
      this.#watched.add(handle);
      if (this.#anonymous) this.#refuse(handle);
      else if (known === null && !isFinished(handle)) this.#refresh(handle);
    }
    return handle;
  }

  /** An event of the user's stream that names a job. */
  heard(frame) {
    let handle = this.#handles.get(frame.job);
    if (handle === undefined) {
      handle = this.#handle(frame.job);
      const unwatched = [...this.#handles.values()].filter((h) => !this.#watched.has(h));
      if (unwatched.length > HEARD_JOBS) this.#handles.delete(unwatched[0].id);
    }
    feed(handle, frame);
    const parent = frame.type === "job.queued" ? frame.data?.parent : undefined;
    if (typeof parent === "string") {
      const parentHandle = this.#handles.get(parent);
      if (parentHandle !== undefined) addChild(parentHandle, frame.job);
    }
  }

  /** An `output` frame: a chunk of a job's output stream, for that job's onOutput() listeners. */
  output(frame) {
    const handle = this.#handles.get(frame.job);
    if (handle !== undefined) feedOutput(handle, frame);
  }

  /** A socket opened: output frames sent while there was none are read over REST. */
  resumeOutputs() {
    for (const handle of this.#watched) resumeOutputs(handle);
  }

  /** The socket has no user (hello with seq null): no job of it can be followed. */
  set anonymous(anonymous) {
    this.#anonymous = anonymous;
    if (anonymous) for (const handle of this.#watched) this.#refuse(handle);
  }

  /** Some events are gone (resync): ask REST for the state of every job still followed. */
  refreshAll() {
    for (const handle of this.#watched) {
      if (!isFinished(handle)) this.#refresh(handle, {force: true});
    }
  }

  /** A socket opened: the server is back, so try the refreshes the network refused. */
  retryRefreshes() {
    const handles = [...this.#unrefreshed];
    this.#unrefreshed.clear();
    for (const handle of handles) {
      if (this.#watched.has(handle) && !isFinished(handle)) this.#refresh(handle, {force: true});
    }
  }

  #handle(id) {
    let handle = this.#handles.get(id);
    if (handle === undefined) {
      handle = new JobHandle(id, (gone) => this.#forget(gone), this.#fetch);
      this.#handles.set(id, handle);
    }
    return handle;
  }

  #forget(handle) {
    if (this.#handles.get(handle.id) === handle) this.#handles.delete(handle.id);
    this.#watched.delete(handle);
    this.#unrefreshed.delete(handle);
  }

  #refuse(handle) {
    endWith(handle, "unauthenticated", {type: "Unauthenticated", message: "a socket without credentials has no jobs"});
  }

  async #refresh(handle, options = {}) {
    let response;
    try {
      response = await this.#fetch(`/api/jobs/${encodeURIComponent(handle.id)}`);
    } catch (error) {
      // The network, not a bug (the server may be restarting): try again once a socket opens.
      console.warn(`coucou: could not refresh job ${handle.id}, retrying on reconnect:`, error);
      this.#unrefreshed.add(handle);
      return;
    }
    if (response.status === 404) endWith(handle, "missing", {type: "NotFound", message: "no such job"});
    else if (response.ok) applyRest(handle, await response.json(), options);
  }
}
