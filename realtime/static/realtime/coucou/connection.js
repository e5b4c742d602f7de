/**
 * The socket: one resilient WebSocket to /ws/events/ per Connection.
 *
 * It carries the user's own stream (frames without `channel`: their events go to c.on()
 * listeners and to the job handles, jobs.js) and the channels it subscribes to (frames with
 * a `channel`: they go to that subscription, channels.js). It remembers the user stream's
 * epoch and last seq, reconnects with exponential backoff and jitter, resumes with
 * ?after=<last seq>&epoch=<epoch>, asks for a `resume` when it sees a hole, drops duplicates,
 * and on "resync" refetches the jobs it watches over REST. After every hello it subscribes
 * again to each of its channels, from where each one stands.
 *
 * States: connecting | open | reconnecting | closed | unauthenticated (4401: retrying cannot
 * help). A socket without credentials, where some namespace is public, is open with no user
 * stream: `anonymous` is true, jobs cannot be watched, public channels can be read.
 */
import {Channels} from "./channels.js";
import {Jobs} from "./jobs.js";
import {Listeners, report} from "./listeners.js";
import {DUPLICATE, HOLE, REWOUND, Sequence, WAITING} from "./sequence.js";

export const CLOSE_SLOW_READER = 4008; // the server dropped a socket that fell behind: resume
export const CLOSE_UNAUTHENTICATED = 4401; // no valid credentials: retrying cannot help
export const CLOSE_FLOOD = 4429; // the client sent too many frames: back off

const FLOOD_DELAY_MS = 10000;
const CONTROL = new Set(["hello", "resync", "pong", "error"]);

/**
 * @typedef {object} ConnectOptions
 * @property {string} [url] the socket's URL; default: this origin's /ws/events/
 * @property {() => Promise<string>} [ticket] called before every connection attempt (a ticket
 *   works once): for pages on another origin, whose backend gets one from POST /api/realtime/ticket
 * @property {(path: string) => Promise<Response>} [fetch] how to GET /api/jobs/{id} and
 *   /api/realtime/presence/{channel}; default: window.fetch on this origin, with its cookies
 * @property {number | null} [after] the user stream's last seq you kept (e.g. in sessionStorage)
 * @property {string | null} [epoch] the epoch `after` belongs to
 * @property {number} [pingIntervalMs] 25000
 * @property {number} [minDelayMs] first reconnect delay ceiling, 500
 * @property {number} [maxDelayMs] largest reconnect delay ceiling, 30000
 */

function defaultUrl() {
  const url = new URL("/ws/events/", globalThis.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function defaultFetch(path) {
  return globalThis.fetch(path, {credentials: "same-origin", headers: {Accept: "application/json"}});
}

/** One resilient socket: see the module's docstring. Made by connect(). */
export class Connection {
  #url;
  #ticket;
  #sequence; // the user's stream
  #pingIntervalMs;
  #minDelayMs;
  #maxDelayMs;
  #state = "connecting";
  #anonymous = false;
  #listeners = new Listeners();
  #jobs;
  #channels;
  /** @type {WebSocket | null} */
  #socket = null;
  #greeted = false; // the current socket said hello: frames may be sent on it
  #attempt = 0;
  #timer = null;
  #pinger = null;
  #lastFrameAt = 0;
  #closed = false;
  #onOnline = () => this.#retryNow();

  /** @param {ConnectOptions} options */
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
    this.#url = url ?? defaultUrl();
    this.#ticket = ticket ?? null;
    this.#sequence = new Sequence(after, epoch);
    this.#pingIntervalMs = pingIntervalMs;
    this.#minDelayMs = minDelayMs;
    this.#maxDelayMs = maxDelayMs;
    const fetcher = fetch ?? defaultFetch;
    this.#jobs = new Jobs(fetcher);
    const connection = this;
    this.#channels = new Channels({
      send: (frame) => this.#send(frame),
      get ready() {
        return connection.#greeted;
      },
      fetch: fetcher,
    });
    globalThis.addEventListener?.("online", this.#onOnline);
    this.#open();
  }

  /** @type {"connecting" | "open" | "reconnecting" | "closed" | "unauthenticated"} */
  get state() {
    return this.#state;
  }

  /** @type {boolean} the last hello had no user (`"seq": null`): no user stream, no jobs */
  get anonymous() {
    return this.#anonymous;
  }

  /** @type {number | null} the user stream's last seq seen: keep it to pass as `after` later */
  get last() {
    return this.#sequence.last;
  }

  /** @type {string | null} the epoch `last` belongs to */
  get epoch() {
    return this.#sequence.epoch;
  }

  /** @type {boolean} close() was called */
  get closed() {
    return this.#closed;
  }

  /** @type {WebSocket | null} the socket in use, null between attempts. Closing it (as a
   * network drop would) makes the connection reconnect and resume; for tests and debugging. */
  get socket() {
    return this.#socket;
  }

  /**
   * Listen to an event type of the user's stream ("job.progress", "coucou", ...), "*" (every
   * event), a control frame ("hello", "resync", "error", "pong") or "state".
   * @param {string} type
   * @param {(value: any) => void} fn
   * @returns {() => void} stops it
   */
  on(type, fn) {
    return this.#listeners.on(type, fn);
  }

  /**
   * The handle of one job, the same for every call with that id. It starts from `known`
   * (a Job from the REST API, e.g. the answer to POST /api/jobs) or else fetches the job.
   * @param {string} id
   * @param {import("./jobs.js").Job | null} [known]
   * @returns {import("./jobs.js").JobHandle}
   */
  job(id, known = null) {
    return this.#jobs.watch(id, known);
  }

  /**
   * Follow a named channel (`namespace:name`); see channels.js. The same handle while it is
   * open: a second call returns it (and ignores its options).
   * @param {string} channel
   * @param {import("./channels.js").SubscribeOptions} [options]
   * @returns {import("./channels.js").Subscription}
   */
  subscribe(channel, options = {}) {
    return this.#channels.subscribe(channel, options);
  }

  /** Close for good: no reconnect. */
  close() {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#stopPinging();
    globalThis.removeEventListener?.("online", this.#onOnline);
    const socket = this.#socket;
    this.#socket = null;
    this.#greeted = false;
    this.#channels.lost();
    socket?.close(1000);
    this.#setState("closed");
  }

  #send(frame) {
    if (this.#socket?.readyState !== 1) return false;
    this.#socket.send(JSON.stringify(frame));
    return true;
  }

  // --- the socket's life -----------------------------------------------------------------
  async #open() {
    this.#timer = null;
    const params = new URLSearchParams();
    const {after, epoch} = this.#sequence.resumeFrom;
    if (after !== null) params.set("after", String(after));
    if (epoch !== null) params.set("epoch", epoch);
    if (this.#ticket !== null) {
      try {
        params.set("ticket", await this.#ticket());
      } catch (error) {
        report(error);
        if (!this.#closed) this.#retryLater();
        return;
      }
      if (this.#closed) return;
    }
    const query = params.toString();
    const url = query ? `${this.#url}${this.#url.includes("?") ? "&" : "?"}${query}` : this.#url;
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (error) {
      report(error); // a malformed url: retrying will not mend it, but keeps the state honest
      this.#retryLater();
      return;
    }
    this.#socket = socket;
    socket.onmessage = (message) => this.#receive(socket, message.data);
    socket.onclose = (event) => this.#lost(socket, event.code);
  }

  #lost(socket, code) {
    if (socket !== this.#socket || this.#closed) return;
    this.#socket = null;
    this.#greeted = false;
    this.#stopPinging();
    this.#channels.lost();
    if (code === CLOSE_UNAUTHENTICATED) {
      this.#setState("unauthenticated");
      return;
    }
    this.#retryLater(code === CLOSE_FLOOD ? FLOOD_DELAY_MS : 0);
  }

  #retryLater(floorMs = 0) {
    this.#setState("reconnecting");
    const ceiling = Math.min(this.#maxDelayMs, this.#minDelayMs * 2 ** this.#attempt);
    const delay = Math.max(floorMs, ceiling / 2 + (Math.random() * ceiling) / 2);
    this.#attempt += 1;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#open(), delay);
  }

  #retryNow() {
    if (this.#timer === null || this.#closed) return;
    clearTimeout(this.#timer);
    this.#attempt = 0;
    this.#open();
  }

  #startPinging() {
    this.#stopPinging();
    this.#pinger = setInterval(() => {
      if (Date.now() - this.#lastFrameAt > 2 * this.#pingIntervalMs) {
        // Not even a pong for two periods: the connection is dead without knowing it.
        const socket = this.#socket;
        this.#lost(socket, 1006);
        socket?.close();
        return;
      }
      this.#send({type: "ping"});
    }, this.#pingIntervalMs);
  }

  #stopPinging() {
    clearInterval(this.#pinger);
    this.#pinger = null;
  }

  #setState(state) {
    if (state === this.#state) return;
    this.#state = state;
    this.#listeners.emit("state", state);
  }

  // --- frames ----------------------------------------------------------------------------
  #receive(socket, data) {
    if (socket !== this.#socket) return;
    this.#lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame === null || typeof frame !== "object") return;
    if (typeof frame.channel === "string") {
      this.#channels.receive(frame);
      return;
    }
    if (frame.type === "output" && typeof frame.job === "string" && frame.seq === undefined) {
      this.#jobs.output(frame); // not numbered: outside the user's sequence (output.js)
      return;
    }
    if (frame.type === "hello") {
      this.#hello(frame);
    } else if (frame.type === "resync") {
      // Some events are gone: start again from what comes next, and ask REST for the state.
      this.#sequence.resynced(frame);
      this.#jobs.refreshAll();
    } else if (typeof frame.seq === "number" && !CONTROL.has(frame.type)) {
      this.#event(frame);
      return;
    }
    this.#listeners.emit(frame.type, frame);
  }

  #hello(frame) {
    this.#anonymous = frame.seq === null;
    this.#sequence.started(frame.seq, frame.epoch);
    this.#greeted = true;
    this.#attempt = 0;
    this.#startPinging();
    this.#setState("open");
    this.#jobs.anonymous = this.#anonymous;
    this.#jobs.retryRefreshes();
    this.#jobs.resumeOutputs();
    this.#channels.opened();
  }

  #event(frame) {
    const verdict = this.#sequence.admit(frame);
    if (verdict === DUPLICATE || verdict === WAITING) return;
    if (verdict === HOLE) {
      this.#send({type: "resume", after: this.#sequence.last});
      return;
    }
    if (verdict === REWOUND) this.#jobs.refreshAll();
    if (typeof frame.job === "string") this.#jobs.heard(frame);
    this.#listeners.emit(frame.type, frame);
    this.#listeners.emit("*", frame);
  }
}
