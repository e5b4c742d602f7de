/**
 * <coucou-progress job="ID" label="Resizing images"></coucou-progress>
 *
 * A native <progress> and the percent and message as text, announced politely to screen
 * readers. It follows its job on the first connection made by connect() (see adopt()), or
 * on the one set as `element.connection`.
 */

let fallback = null; // the connection of widgets that were not given one
const waiting = new Set(); // widgets with a job and no connection yet

/** Make `connection` the one widgets use by default, unless a live one is already. */
export function adopt(connection) {
  if (fallback !== null && !fallback.closed) return;
  fallback = connection;
  for (const widget of [...waiting]) widget.connection = null;
}

const Base = globalThis.HTMLElement ?? class {};

export class CoucouProgress extends Base {
  static observedAttributes = ["job", "label"];

  #own = null;
  #stops = [];
  #bar = null;
  #text = null;
  #children = null;

  /** @param {import("./connection.js").Connection | null} connection null: the default one */
  set connection(connection) {
    this.#own = connection;
    if (this.isConnected) this.#bind();
  }

  /** @type {import("./connection.js").Connection | null} */
  get connection() {
    return this.#own ?? fallback;
  }

  connectedCallback() {
    this.#render();
    this.#bind();
  }

  disconnectedCallback() {
    this.#unbind();
  }

  attributeChangedCallback() {
    if (!this.isConnected) return;
    this.#render();
    this.#bind();
  }

  /**
   * Show a progress value and a job status.
   * @param {import("./jobs.js").Progress} progress
   * @param {string | null} status
   */
  show(progress, status) {
    this.#render();
    const known = progress.percent !== null && progress.percent !== undefined;
    const percent = status === "succeeded" ? 100 : known ? progress.percent : null;
    // Indeterminate (no value) only while running without a percent: it reads as "busy".
    if (percent !== null) this.#bar.value = percent;
    else if (status === "running" || !status) this.#bar.removeAttribute("value");
    else this.#bar.value = 0;
    if (status) this.dataset.status = status;
    const parts = [];
    if (percent !== null) parts.push(`${Math.floor(percent)} %`);
    if (status === "succeeded") parts.push("done");
    else if (status === "failed" || status === "cancelled" || status === "queued") parts.push(status);
    else if (progress.message) parts.push(progress.message);
    else if (status === "running" && parts.length === 0) parts.push("working…");
    const text = parts.join(" · ");
    if (this.#text.textContent !== text) this.#text.textContent = text;
  }

  /**
   * Show how a parent's child jobs stand ("12 of 100 children done · 1 failed"); its bar is
   * already their aggregate. Hidden for a job without children.
   * @param {Record<string, number> | null} counts
   */
  showChildren(counts) {
    this.#render();
    this.#children.hidden = !counts;
    if (!counts) return;
    const done = counts.succeeded + counts.failed + counts.cancelled;
    const parts = [`${done} of ${counts.total} children done`];
    if (counts.failed) parts.push(`${counts.failed} failed`);
    if (counts.cancelled) parts.push(`${counts.cancelled} cancelled`);
    const text = parts.join(" · ");
    if (this.#children.textContent !== text) this.#children.textContent = text;
    this.dataset.children = String(counts.total);
  }

  #render() {
    if (this.#bar === null) {
      this.#bar = document.createElement("progress");
      this.#bar.max = 100;
      this.#text = document.createElement("span");
      this.#text.className = "coucou-progress-text";
      this.#text.setAttribute("aria-live", "polite");
      this.#text.setAttribute("aria-atomic", "true");
      this.#children = document.createElement("span");
      this.#children.className = "coucou-progress-children";
      this.#children.hidden = true;
      this.append(this.#bar, this.#text, this.#children);
    }
    this.#bar.setAttribute("aria-label", this.getAttribute("label") || "Job progress");
  }

  #bind() {
    this.#unbind();
    const id = this.getAttribute("job");
    if (!id) return;
    if (this.connection === null) {
      waiting.add(this);
      return;
    }
    const handle = this.connection.job(id);
    this.#stops = [
      handle.onProgress((progress) => this.show(progress, handle.job.status)),
      handle.onState((job) => this.show(job.progress, job.status)),
      handle.onChildren(({counts}) => this.showChildren(counts)),
    ];
    const {progress, status} = handle.job;
    this.show(progress, status);
  }

  #unbind() {
    waiting.delete(this);
    for (const stop of this.#stops) stop();
    this.#stops = [];
  }
}

if (globalThis.customElements && !customElements.get("coucou-progress")) {
  customElements.define("coucou-progress", CoucouProgress);
}

/**
 * <coucou-output job="ID" key="text"></coucou-output>
 *
 * The job's output stream `key` (default "text") as pre-wrapped text in a <pre>, appended as
 * it arrives, whole and in order (JobHandle.onOutput). It scrolls to follow new text only
 * when it was already scrolled to the bottom, so a reader who scrolled up stays where they
 * are. `data-closed` is set once the stream is closed. Style the <pre> as you like; its
 * defaults (max-height 24em, scrolling) have no specificity.
 */
export class CoucouOutput extends Base {
  static observedAttributes = ["job", "key"];

  #own = null;
  #stop = null;
  #pre = null;
  #bound = "";

  /** @param {import("./connection.js").Connection | null} connection null: the default one */
  set connection(connection) {
    this.#own = connection;
    if (this.isConnected) this.#bind();
  }

  /** @type {import("./connection.js").Connection | null} */
  get connection() {
    return this.#own ?? fallback;
  }

  /** @type {string} the text shown so far */
  get text() {
    return this.#pre?.textContent ?? "";
  }

  connectedCallback() {
    this.#render();
    this.#bind();
  }

  disconnectedCallback() {
    this.#unbind();
    this.#bound = "";
  }

  attributeChangedCallback() {
    if (this.isConnected) this.#bind();
  }

  #render() {
    if (this.#pre !== null) return;
    defaultStyle();
    this.#pre = document.createElement("pre");
    this.#pre.className = "coucou-output-text";
    this.#pre.tabIndex = 0; // scrollable by keyboard
    this.append(this.#pre);
  }

  #append({text, closed}) {
    const pre = this.#pre;
    const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 2;
    if (text) pre.append(text);
    if (atBottom) pre.scrollTop = pre.scrollHeight;
    if (closed) this.dataset.closed = "";
    else delete this.dataset.closed;
  }

  #bind() {
    const id = this.getAttribute("job");
    const key = this.getAttribute("key") || "text";
    const target = id ? `${id}/${key}` : "";
    if (target === this.#bound && this.#stop !== null) return;
    this.#unbind();
    this.#render();
    if (target !== this.#bound) {
      this.#pre.textContent = "";
      delete this.dataset.closed;
    }
    this.#bound = target;
    if (!id) return;
    if (this.connection === null) {
      waiting.add(this);
      return;
    }
    this.#pre.textContent = ""; // onOutput delivers the whole stream again, from its start
    this.#stop = this.connection.job(id).onOutput(key, (chunk) => this.#append(chunk));
  }

  #unbind() {
    waiting.delete(this);
    this.#stop?.();
    this.#stop = null;
  }
}

let styled = false;

function defaultStyle() {
  if (styled || !globalThis.document?.head) return;
  styled = true;
  const style = document.createElement("style");
  style.dataset.coucou = "output";
  style.textContent =
    ":where(coucou-output:not([hidden])){display:block}" +
    ":where(coucou-output > pre){margin:0;white-space:pre-wrap;overflow-wrap:anywhere;overflow-y:auto;max-height:24em}";
  document.head.prepend(style);
}

if (globalThis.customElements && !customElements.get("coucou-output")) {
  customElements.define("coucou-output", CoucouOutput);
}
