/**
 * A job's streamed output (ctx.stream(key) on the server), as one listener sees it: the whole
 * text, in order, exactly once, from live `output` frames and GET /api/jobs/{id}/output/{key}.
 *
 * Output frames are not numbered: `{"type": "output", "job", "key", "offset", "text",
 * "closed"}`, where `offset` is where `text` starts, in UTF-8 bytes. The follower keeps how
 * many bytes it has delivered. A frame ahead of that is a hole (frames were lost: a dropped
 * socket, a busy server), read over REST from what it has; a frame behind it is a duplicate,
 * trimmed to what is new. It reads over REST when it starts (from 0), after every reconnect,
 * on a hole and when the job ends (the end event comes after the last batch is stored), one
 * read at a time; live frames that arrive meanwhile wait for it.
 */
import {call} from "./listeners.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const WAITING_FRAMES = 256; // live frames kept while a read runs; past it, read again instead

/**
 * @typedef {{text: string, offset: number, closed: boolean}} OutputChunk
 *   `text` starts at byte `offset`; `closed`: no writer has the stream open now (a retried
 *   job may open it again and write on).
 */

export class OutputFollower {
  #path;
  #fetch;
  #fn;
  #have = 0; // bytes delivered
  #closed = false;
  #reading = null;
  #again = false;
  #waiting = [];
  #stopped = false;

  /**
   * @param {string} path GET path of the stream, without the query
   * @param {(path: string) => Promise<Response>} fetch
   * @param {(chunk: OutputChunk) => void} fn
   */
  constructor(path, fetch, fn) {
    this.#path = path;
    this.#fetch = fetch;
    this.#fn = fn;
  }

  /** @type {number} bytes delivered so far */
  get offset() {
    return this.#have;
  }

  stop() {
    this.#stopped = true;
    this.#waiting = [];
  }

  /** A live frame of this stream. */
  live(frame) {
    if (this.#stopped) return;
    if (this.#reading !== null) {
      if (this.#waiting.length < WAITING_FRAMES) this.#waiting.push(frame);
      else this.#again = true;
      return;
    }
    this.#apply(frame);
  }

  /** Read over REST from what it has to the end; one read at a time. */
  catchUp() {
    if (this.#stopped) return;
    if (this.#reading !== null) {
      this.#again = true;
      return;
    }
    this.#reading = this.#read();
  }

  #apply(frame) {
    if (frame.offset > this.#have) {
      this.catchUp(); // a hole: REST holds it, and this frame, which was stored before it was sent
      return;
    }
    const bytes = encoder.encode(frame.text);
    const end = frame.offset + bytes.length;
    const news = end > this.#have || (end === this.#have && frame.closed && !this.#closed);
    if (!news) return; // a duplicate
    const text = frame.offset === this.#have ? frame.text : decoder.decode(bytes.subarray(this.#have - frame.offset));
    this.#deliver(text, end, frame.closed);
  }

  #deliver(text, end, closed) {
    const offset = this.#have;
    this.#have = end;
    this.#closed = closed;
    if (text !== "" || closed) call(this.#fn, {text, offset, closed});
  }

  async #read() {
    try {
      do {
        this.#again = false;
        await this.#readToEnd();
      } while (this.#again && !this.#stopped);
    } finally {
      this.#reading = null;
    }
    const frames = this.#waiting;
    this.#waiting = [];
    for (const frame of frames) {
      if (this.#stopped || this.#reading !== null) break; // a hole started another read
      this.#apply(frame);
    }
  }

  async #readToEnd() {
    while (!this.#stopped) {
      let page;
      try {
        const response = await this.#fetch(`${this.#path}?offset=${this.#have}`);
        if (response.status === 404) return; // not written yet: live frames start it
        if (!response.ok) throw new Error(`GET ${this.#path} answered ${response.status}`);
        page = await response.json();
      } catch (error) {
        // The network, not a bug: the next reconnect (or hole, or job end) reads again.
        console.warn(`coucou: could not read output ${this.#path}:`, error);
        return;
      }
      if (this.#stopped || page.offset !== this.#have) continue;
      const done = page.next_offset >= page.size;
      const closed = done && page.closed;
      if (page.text !== "" || (closed && !this.#closed)) this.#deliver(page.text, page.next_offset, closed);
      if (done) return;
    }
  }
}
