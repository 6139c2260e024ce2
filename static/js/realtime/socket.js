/**
 * realtime/socket.js: one WebSocket, the unit a Connection dials and throws away:
 * its URL, its handlers (detached when it is dropped, so a late event of an old
 * socket can never reach the client), sending JSON, closing it, reading its frames.
 */
import { defaultReportError } from './events.js';

const WS_OPEN = 1;

/** One dialled socket. */
export class Link {
  /**
   * @param {typeof WebSocket} WebSocket the constructor (injected in tests).
   * @param {string} url the full ws(s):// URL of this handshake.
   * @param {object} on `open(link)`, `message(link, event)`, `close(link, event)`.
   * @throws whatever the WebSocket constructor throws (only for a malformed URL).
   */
  constructor(WebSocket, url, on) {
    const ws = new WebSocket(url);
    this._ws = ws;
    ws.onopen = () => on.open(this);
    ws.onmessage = (ev) => on.message(this, ev);
    ws.onclose = (ev) => on.close(this, ev);
    ws.onerror = () => {}; // the close event that always follows carries the code
  }

  /** Whether frames can be sent now. */
  get isOpen() {
    return this._ws.readyState === WS_OPEN;
  }

  /** Send an object as JSON, a string as is. */
  send(frame) {
    this._ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Stop hearing from this socket. */
  detach() {
    const ws = this._ws;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
  }

  close(code, reason) {
    try {
      this._ws.close(code, reason);
    } catch (err) {
      // Closing an already-closing socket may throw in old browsers; it is going anyway.
      defaultReportError(err);
    }
  }
}

/**
 * The JSON object a text frame carries, or null for anything else (binary data, text
 * that is not JSON, as the echo endpoint returns whatever it was sent, or an array).
 */
export function parseFrame(data) {
  if (typeof data !== 'string') return null;
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return null;
  }
  return frame !== null && typeof frame === 'object' && !Array.isArray(frame) ? frame : null;
}

/** A ws(s):// URL from a ws(s)://, http(s):// or relative one (against `location`). */
export function resolveSocketUrl(url, location) {
  let u;
  try {
    u = new URL(url);
  } catch {
    if (!location?.href) throw new TypeError(`relative socket URL ${url} needs a location`);
    u = new URL(url, location.href);
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  return u.toString();
}
