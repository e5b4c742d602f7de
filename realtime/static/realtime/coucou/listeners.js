/**
 * Listeners by type, for the connection and for each subscription. A listener that throws is
 * reported and the others are still called: one broken callback must not stop the stream.
 */

/** Report an error without stopping: the browser's reportError, or console.error. */
export function report(error) {
  (globalThis.reportError ?? console.error)(error);
}

/** Call fn(value), reporting what it throws. */
export function call(fn, value) {
  try {
    fn(value);
  } catch (error) {
    report(error);
  }
}

export class Listeners {
  /** @type {Map<string, Set<Function>>} */
  #byType = new Map();

  /** Call fn(value) on every emit of `type`; returns a function that stops it. */
  on(type, fn) {
    if (typeof fn !== "function") throw new TypeError(`a listener of "${type}" must be a function`);
    if (!this.#byType.has(type)) this.#byType.set(type, new Set());
    this.#byType.get(type).add(fn);
    return () => this.#byType.get(type)?.delete(fn);
  }

  emit(type, value) {
    // A copy: a listener may add or remove listeners while it runs.
    for (const fn of [...(this.#byType.get(type) ?? [])]) call(fn, value);
  }

  clear() {
    this.#byType.clear();
  }
}
