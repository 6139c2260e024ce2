/**
 * realtime/events.js: the client's event bus. Handlers run in subscription order; one
 * that throws is reported and the others still run.
 */

/**
 * Events the client raises itself. A server frame whose `type` is one of these
 * names is only delivered through `frame`, so the server cannot fake them.
 */
export const LIFECYCLE_EVENTS = Object.freeze([
  'state', 'retry', 'fatal', 'auth_required', 'ack', 'pending', 'gap', 'backfill',
  'token_refreshed', 'token_refresh_failed', 'frame', 'raw',
]);
const LIFECYCLE = new Set(LIFECYCLE_EVENTS);

/** Whether `type` names an event only the client may raise. */
export function isLifecycleEvent(type) {
  return LIFECYCLE.has(type);
}

/** Report an exception from a handler without interrupting the caller. */
export function defaultReportError(err) {
  if (typeof globalThis.reportError === 'function') globalThis.reportError(err);
  else console.error(err);
}

/** on / once / off for subscribers, _emit for the owner. */
export class Emitter {
  /** @param {(err: unknown) => void} [reportError] receives exceptions thrown by handlers. */
  constructor(reportError = defaultReportError) {
    this._listeners = new Map();
    this._reportError = reportError;
  }

  /** Subscribe to an event; returns a function that unsubscribes. */
  on(type, handler) {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    if (!this._listeners.has(type)) this._listeners.set(type, []);
    this._listeners.get(type).push({ fn: handler, original: handler });
    return () => this.off(type, handler);
  }

  /** Subscribe for the next occurrence only; returns a function that unsubscribes. */
  once(type, handler) {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    const entry = { original: handler };
    entry.fn = (...args) => {
      this._removeEntry(type, entry);
      return handler(...args);
    };
    if (!this._listeners.has(type)) this._listeners.set(type, []);
    this._listeners.get(type).push(entry);
    return () => this._removeEntry(type, entry);
  }

  /** Unsubscribe a handler given to on() or once(). */
  off(type, handler) {
    const list = this._listeners.get(type);
    if (!list) return;
    const i = list.findIndex((e) => e.original === handler);
    if (i >= 0) list.splice(i, 1);
  }

  _emit(type, ...args) {
    const list = this._listeners.get(type);
    if (!list || list.length === 0) return;
    for (const entry of [...list]) {
      try {
        entry.fn(...args);
      } catch (err) {
        // One broken handler must not starve the others (or the client) of events.
        this._reportError(err);
      }
    }
  }

  _removeEntry(type, entry) {
    const list = this._listeners.get(type);
    if (!list) return;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
  }
}
