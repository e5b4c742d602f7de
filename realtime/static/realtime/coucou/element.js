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

  #render() {
    if (this.#bar === null) {
      this.#bar = document.createElement("progress");
      this.#bar.max = 100;
      this.#text = document.createElement("span");
      this.#text.className = "coucou-progress-text";
      this.#text.setAttribute("aria-live", "polite");
      this.#text.setAttribute("aria-atomic", "true");
      this.append(this.#bar, this.#text);
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
