/**
 * Where the client stands in one numbered stream, the user's own or one channel's: the epoch
 * of its history and the last seq delivered. Every numbered frame goes through admit(), which
 * says whether to deliver it, so that each event is delivered once, in order.
 *
 * The rules (DESIGN.md, "WebSocket /ws/events/"): a seq at or below the last one is a
 * duplicate; a seq past the next one is a hole, and the server is asked to replay from the
 * last one; a `resync` means some events are gone, so whatever comes next is taken; a frame
 * of another epoch belongs to another history, numbered anew.
 */

export const ASK_AGAIN_MS = 5000; // ask again if a requested replay has not filled the hole by then

/** The verdict of admit(): deliver it, deliver it as the first of a new history, or not. */
export const DELIVER = "deliver";
export const REWOUND = "rewound"; // another epoch, without a resync first: refetch state
export const DUPLICATE = "duplicate";
export const HOLE = "hole"; // drop it and ask for a replay from `last`
export const WAITING = "waiting"; // a hole already asked about: drop it, the replay is coming

export class Sequence {
  /** @type {number | null} */
  #last;
  /** @type {string | null} */
  #epoch;
  #acceptJump = false; // after a resync: the next seq, whatever it is, is the one to follow
  #askedAt = 0;

  /**
   * @param {number | null} after the last seq seen, or null for "from now on"
   * @param {string | null} epoch the history `after` belongs to, null if unknown
   */
  constructor(after = null, epoch = null) {
    this.#last = after;
    this.#epoch = epoch;
  }

  /** The last seq delivered (null: none yet in this epoch, or "from now on"). */
  get last() {
    return this.#last;
  }

  /** The epoch of the history being followed (null until the server named one). */
  get epoch() {
    return this.#epoch;
  }

  /** Where to resume: `after` null means "from now on"; 0 means "all of this epoch". */
  get resumeFrom() {
    return {after: this.#last ?? (this.#epoch !== null ? 0 : null), epoch: this.#epoch};
  }

  /** A socket (re)started the stream (`hello`, `subscribed`) at its latest seq and epoch. */
  started(seq, epoch) {
    if (this.#last === null && this.#epoch === null) this.#last = seq ?? null; // from now on
    if (this.#epoch === null) this.#epoch = epoch ?? null;
    this.#acceptJump = false; // what follows is a replay from `last`, or live
    this.#askedAt = 0;
  }

  /** A `resync`: some events are gone. Follow what comes next; the caller refetches state. */
  resynced(frame) {
    if ((frame.epoch ?? null) !== this.#epoch) {
      // Another history: its seqs may be below ours. Take the next event whatever its seq.
      this.#epoch = frame.epoch ?? null;
      this.#last = null;
    } else if (this.#last === null || frame.seq < this.#last) {
      this.#last = frame.seq;
    }
    this.#acceptJump = true;
    this.#askedAt = 0;
  }

  /** What to do with a numbered frame: one of DELIVER, REWOUND, DUPLICATE, HOLE, WAITING. */
  admit(frame) {
    let verdict = DELIVER;
    if (frame.epoch !== undefined && this.#epoch !== null && frame.epoch !== this.#epoch) {
      // The server sends "resync" before another epoch's events; follow the event all the same.
      this.#epoch = frame.epoch;
      this.#last = null;
      verdict = REWOUND;
    }
    const seq = frame.seq;
    if (this.#last !== null && seq <= this.#last) return DUPLICATE;
    if (this.#last !== null && seq > this.#last + 1 && !this.#acceptJump) {
      // Some events did not arrive. The replay from `last` brings them, this one included.
      if (Date.now() - this.#askedAt <= ASK_AGAIN_MS) return WAITING;
      this.#askedAt = Date.now();
      return HOLE;
    }
    this.#acceptJump = false;
    this.#askedAt = 0;
    this.#last = seq;
    return verdict;
  }
}
