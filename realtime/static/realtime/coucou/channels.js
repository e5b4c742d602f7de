/**
 * Subscriptions to named channels (`chat:lobby`, `liveblog:pycon`, `team:42`) on the socket.
 *
 *   const sub = c.subscribe("chat:lobby", {after: 0});   // {after, epoch} to resume; {} from now on
 *   sub.on("chat.message", (event) => ...);             // an event type, or "*" for every event
 *   sub.on("presence.join", (frame) => ...);            // and "presence.leave"
 *   sub.on("subscribed", (frame) => ...);               // after every (re)subscribe
 *   sub.on("resync", (frame) => ...);                   // events are gone: refetch over REST
 *   sub.on("error", (frame) => ...);                    // {code, detail} from the server
 *   sub.on("unsubscribed", (frame) => ...);             // the server ended it: {reason}
 *   const users = await sub.presence();                 // [{id, username}, ...]
 *   sub.close();
 *
 * Each subscription keeps its own epoch and last seq, exactly as the connection does for the
 * user's stream (sequence.js): after every reconnect it subscribes again from there, drops
 * duplicates, asks again from the last seq on a hole, and follows a resync into a new epoch.
 *
 * How a subscription ends: close(); a kick ("unsubscribed" with reason "kicked"); or a
 * refusal (an "error" with code forbidden, unknown_channel, bad_channel or
 * too_many_subscriptions, then "unsubscribed" with that code as the reason). It is not
 * subscribed again after that; call c.subscribe() for a new one. "unavailable" (Redis did
 * not answer) is retried with backoff.
 */
import {Listeners, report} from "./listeners.js";
import {DUPLICATE, HOLE, REWOUND, Sequence, WAITING} from "./sequence.js";

/**
 * @typedef {{after?: number | null, epoch?: string | null}} SubscribeOptions
 *   `after`: the last seq of the channel you have (0: everything it retains); `epoch`: the
 *   epoch that seq belongs to (from a `subscribed` frame or the server's page). Without
 *   `after`, the subscription starts from now on.
 * @typedef {{id: number, username: string}} User
 * @typedef {{send(frame: object): boolean, readonly ready: boolean,
 *            fetch(path: string): Promise<Response>}} Link
 *   What a subscription needs of its connection: send a frame (false if no socket is open),
 *   whether a socket is open and greeted, and the connection's fetch.
 */

const RETRY_MIN_MS = 1000; // after "unavailable": 1 s, 2 s, 4 s, ... up to RETRY_MAX_MS
const RETRY_MAX_MS = 30000;
const REFUSALS = new Set(["forbidden", "unknown_channel", "bad_channel", "too_many_subscriptions"]);

/** An error answer of GET /api/realtime/presence/{channel}: `status` and the API's `detail`. */
export class PresenceError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `presence: HTTP ${status}`);
    this.name = "PresenceError";
    this.status = status;
    this.detail = detail;
  }
}

// What Channels may do to a subscription that its users may not: set in the static block.
let deliver, resubscribe, pause;

/** One channel followed on a connection. Made by `connection.subscribe(channel, options)`. */
export class Subscription {
  #channel;
  #sequence;
  #link;
  #ended; // tells Channels that this subscription is over
  #listeners = new Listeners();
  #state = "subscribing";
  #retryTimer = null;
  #retries = 0;

  /**
   * @param {string} channel
   * @param {SubscribeOptions} options
   * @param {Link} link
   * @param {(sub: Subscription, unsubscribeSent: boolean) => void} ended
   */
  constructor(channel, {after = null, epoch = null} = {}, link, ended) {
    this.#channel = channel;
    // An epoch without a seq means nothing to the server: then it is "from now on".
    this.#sequence = after === null || after === undefined ? new Sequence() : new Sequence(after, epoch ?? null);
    this.#link = link;
    this.#ended = ended;
    this.#subscribe();
  }

  /** @type {string} */
  get channel() {
    return this.#channel;
  }

  /** @type {"subscribing" | "subscribed" | "closed"} "subscribing" until the server confirms
   * on the current socket (again after each reconnect); "closed" once it has ended. */
  get state() {
    return this.#state;
  }

  /** @type {number | null} the channel's last seq delivered here: keep it to resume later */
  get seq() {
    return this.#sequence.last;
  }

  /** @type {string | null} the epoch `seq` belongs to */
  get epoch() {
    return this.#sequence.epoch;
  }

  /**
   * Listen to an event type of the channel ("chat.message", ...), "*" (every event), or
   * "presence.join", "presence.leave", "subscribed", "resync", "error", "unsubscribed".
   * @param {string} type
   * @param {(frame: object) => void} fn
   * @returns {() => void} stops it
   */
  on(type, fn) {
    return this.#listeners.on(type, fn);
  }

  /**
   * Who is on the channel now, from GET /api/realtime/presence/{channel} through the
   * connection's fetch. Rejects with a PresenceError (403 you may not read it, 404 no
   * presence in that namespace) or with the network's error.
   * @returns {Promise<User[]>}
   */
  async presence() {
    const response = await this.#link.fetch(`/api/realtime/presence/${encodeURIComponent(this.#channel)}`);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new PresenceError(response.status, body.detail);
    return body.users;
  }

  /** Stop following the channel (sends unsubscribe). Its listeners are not called again. */
  close() {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#retryTimer);
    const sent = this.#link.send({type: "unsubscribe", channel: this.#channel});
    this.#listeners.clear();
    this.#ended(this, sent);
  }

  // Ask the server for the channel from where this subscription stands.
  #subscribe() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    if (this.#state === "closed" || !this.#link.ready) return; // the next hello subscribes
    const {after, epoch} = this.#sequence.resumeFrom;
    const frame = {type: "subscribe", channel: this.#channel};
    if (after !== null) Object.assign(frame, epoch !== null ? {after, epoch} : {after});
    this.#link.send(frame);
  }

  #pause() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    if (this.#state !== "closed") this.#state = "subscribing";
  }

  #receive(frame) {
    if (this.#state === "closed") return;
    switch (frame.type) {
      case "subscribed":
        this.#state = "subscribed";
        this.#retries = 0;
        this.#sequence.started(frame.seq, frame.epoch);
        break;
      case "resync":
        this.#sequence.resynced(frame);
        break;
      case "unsubscribed":
        this.#end(frame);
        return;
      case "error":
        this.#listeners.emit("error", frame);
        if (frame.code === "unavailable") this.#retryLater();
        else if (REFUSALS.has(frame.code)) {
          this.#end({type: "unsubscribed", channel: this.#channel, reason: frame.code});
        }
        return;
      default:
        if (typeof frame.seq === "number") {
          this.#event(frame);
          return;
        }
    }
    this.#listeners.emit(frame.type, frame); // subscribed, resync, presence.join, presence.leave
  }

  #event(frame) {
    const verdict = this.#sequence.admit(frame);
    if (verdict === DUPLICATE || verdict === WAITING) return;
    if (verdict === HOLE) {
      this.#subscribe(); // the server replays from our last seq: the hole, then this one
      return;
    }
    if (verdict === REWOUND) {
      this.#listeners.emit("resync", {type: "resync", channel: this.#channel, seq: frame.seq, epoch: frame.epoch});
    }
    this.#listeners.emit(frame.type, frame);
    this.#listeners.emit("*", frame);
  }

  #retryLater() {
    this.#state = "subscribing";
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.#retries);
    this.#retries += 1;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => this.#subscribe(), ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  #end(frame) {
    this.#state = "closed";
    clearTimeout(this.#retryTimer);
    this.#ended(this, false);
    this.#listeners.emit("unsubscribed", frame);
    this.#listeners.clear();
  }

  static {
    deliver = (sub, frame) => sub.#receive(frame);
    resubscribe = (sub) => sub.#subscribe();
    pause = (sub) => sub.#pause();
  }
}

/** The subscriptions of one connection, and the routing of frames that name a channel. */
export class Channels {
  /** @type {Map<string, Subscription>} */
  #subscriptions = new Map();
  // Unsubscribes sent on this socket and not answered yet, by channel: their answer is not
  // for a new subscription to the same channel.
  #unanswered = new Map();
  #link;

  /** @param {Link} link */
  constructor(link) {
    this.#link = link;
  }

  /**
   * The subscription to `channel`: the open one if there is one (its options stay), else a
   * new one.
   * @param {string} channel
   * @param {SubscribeOptions} options
   * @returns {Subscription}
   */
  subscribe(channel, options = {}) {
    if (typeof channel !== "string") throw new TypeError("a channel is a string, 'namespace:name'");
    const open = this.#subscriptions.get(channel);
    if (open !== undefined) return open;
    const sub = new Subscription(channel, options, this.#link, (ended, sent) => this.#ended(ended, sent));
    this.#subscriptions.set(channel, sub);
    return sub;
  }

  /** A server frame with a `channel`. */
  receive(frame) {
    const answer = frame.type === "unsubscribed" || (frame.type === "error" && frame.code === "not_subscribed");
    if (answer && !frame.reason && this.#unanswered.get(frame.channel) > 0) {
      this.#unanswered.set(frame.channel, this.#unanswered.get(frame.channel) - 1);
      return; // the answer to a close()
    }
    const sub = this.#subscriptions.get(frame.channel);
    if (sub === undefined) return; // a channel left already
    try {
      deliver(sub, frame);
    } catch (error) {
      report(error);
    }
  }

  /** A socket opened and said hello: subscribe again to every channel, from where each is. */
  opened() {
    for (const sub of this.#subscriptions.values()) resubscribe(sub);
  }

  /** The socket is gone: every subscription waits for the next one. */
  lost() {
    this.#unanswered.clear();
    for (const sub of this.#subscriptions.values()) pause(sub);
  }

  #ended(sub, unsubscribeSent) {
    if (this.#subscriptions.get(sub.channel) === sub) this.#subscriptions.delete(sub.channel);
    if (unsubscribeSent) this.#unanswered.set(sub.channel, (this.#unanswered.get(sub.channel) ?? 0) + 1);
  }
}
