/**
 * realtime/outbox.js: the idempotent send queue. Frames wait here for a socket; a
 * `message` frame gets a client_id and stays pending until the server echoes it, being
 * re-sent after every reconnect (the server dedupes by client_id, PROTOCOL.md section 4).
 */
import { QueueFullError } from './errors.js';

export const MAX_CLIENT_ID = 64; // PROTOCOL.md section 4

/**
 * A random client_id (a v4 UUID). crypto.randomUUID exists only in secure contexts
 * (https, localhost), hence the getRandomValues and Math.random fallbacks.
 */
export function randomClientId(cryptoImpl = globalThis.crypto) {
  if (typeof cryptoImpl?.randomUUID === 'function') return cryptoImpl.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof cryptoImpl?.getRandomValues === 'function') {
    cryptoImpl.getRandomValues(bytes);
  } else {
    for (let i = 0; i < 16; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Whether a frame given to send() is a chat message (and so gets a client_id). */
export function isMessageFrame(frame) {
  return frame !== null && typeof frame === 'object' && frame.type === 'message';
}

/** Frames waiting for a socket, and message frames waiting for their echo. */
export class Outbox {
  /** @param {object} o `maxQueue` (the bound on both) and `makeClientId`. */
  constructor({ maxQueue, makeClientId }) {
    this._max = maxQueue;
    this._makeClientId = makeClientId;
    this._queue = [];
    this._pending = new Map(); // client_id -> { frame, queued }
  }

  /** Copies of the message frames not yet echoed, oldest first. */
  get pending() {
    return [...this._pending.values()].map((p) => ({ ...p.frame }));
  }

  /** Frames waiting for a socket; offline, unconfirmed messages a dead socket took count too. */
  size(live) {
    return live ? this._queue.length : this._unsent();
  }

  /**
   * Take a frame from send(): transmit it now when `live`, else queue it. A message
   * frame gets its client_id here and becomes pending.
   * @returns the frame as taken (a copy of an object frame).
   * @throws {RangeError} for a client_id that is not a string of at most 64 characters.
   * @throws {QueueFullError} when maxQueue frames already wait.
   */
  add(frame, live, transmit) {
    const out = typeof frame === 'string' ? frame : { ...frame };
    const isMessage = isMessageFrame(out);
    if (isMessage) {
      if (out.client_id == null) out.client_id = this._makeClientId();
      if (typeof out.client_id !== 'string' || out.client_id.length > MAX_CLIENT_ID) {
        throw new RangeError(`client_id must be a string of at most ${MAX_CLIENT_ID} characters`);
      }
      const known = this._pending.has(out.client_id);
      if (!known && this._pending.size >= this._max) throw new QueueFullError(this._max);
    }
    if (!live && this._unsent() >= this._max) throw new QueueFullError(this._max);
    if (live) transmit(out);
    else this._queue.push(out);
    if (isMessage) this._pending.set(out.client_id, { frame: out, queued: !live });
    return out;
  }

  /**
   * The echo of a pending message ends its resends. client_ids are public in room
   * broadcasts: only the echo from our own `user` (when known) confirms.
   * @returns whether `msg` confirmed a pending message.
   */
  confirm(msg, user) {
    if (typeof msg.client_id !== 'string' || !this._pending.has(msg.client_id)) return false;
    if (user && msg.user && msg.user.id !== user.id) return false;
    const { queued } = this._pending.get(msg.client_id);
    this._pending.delete(msg.client_id);
    // Echoed before it went out (a message restored after a reload that the server had
    // already stored shows up in the welcome's history): no need to send it again.
    if (queued) this._queue = this._queue.filter((f) => typeof f !== 'object' || f.client_id !== msg.client_id);
    return true;
  }

  /** Stop re-sending a pending message; returns whether it was pending. */
  discard(clientId) {
    if (!this._pending.delete(clientId)) return false;
    this._queue = this._queue.filter((f) => typeof f !== 'object' || f.client_id !== clientId);
    return true;
  }

  /** After a (re)connect: first the messages a dead socket may have lost, then the queue. */
  flush(transmit) {
    for (const p of this._pending.values()) if (!p.queued) transmit(p.frame);
    while (this._queue.length > 0) {
      const frame = this._queue.shift();
      transmit(frame);
      if (typeof frame === 'object' && frame.type === 'message') {
        const p = this._pending.get(frame.client_id);
        if (p) p.queued = false;
      }
    }
  }

  _unsent() {
    let unsent = this._queue.length;
    for (const p of this._pending.values()) if (!p.queued) unsent += 1;
    return unsent;
  }
}
