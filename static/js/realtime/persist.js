/**
 * realtime/persist.js: unsent chat messages kept in Web Storage (localStorage), so a
 * message queued while offline survives a reload or a navigation and goes out, once,
 * with its original client_id when the page is back (the server dedupes by client_id,
 * PROTOCOL.md section 4).
 *
 * Each operation is a small read-modify-write of one key, keyed by client_id, so two
 * tabs of the same room add and remove their own messages without erasing each other's.
 * Storage that is missing, full, disabled or holds garbage never breaks sending: the
 * store then just forgets.
 */
import { MAX_CLIENT_ID } from './outbox.js';

/** A frame worth restoring: a chat message with a string body and a valid client_id. */
export function isStorableMessage(frame) {
  return frame !== null && typeof frame === 'object' && frame.type === 'message'
    && typeof frame.body === 'string'
    && typeof frame.client_id === 'string' && frame.client_id.length > 0
    && frame.client_id.length <= MAX_CLIENT_ID;
}

/** The unsent message frames of one socket, under one storage key. */
export class MessageStore {
  /**
   * @param {object} o `storage` (getItem/setItem/removeItem), `key`, `max` (bound).
   */
  constructor({ storage, key, max = 100 }) {
    this._storage = storage;
    this._key = key;
    this._max = max;
  }

  /** The stored frames, oldest first (at most `max`; anything malformed is dropped). */
  load() {
    let raw = null;
    try {
      raw = this._storage.getItem(this._key);
    } catch {
      return [];
    }
    if (!raw) return [];
    let data;
    try {
      data = JSON.parse(raw);
    } catch {
      return [];
    }
    if (!Array.isArray(data)) return [];
    const seen = new Set();
    const out = [];
    for (const frame of data) {
      if (!isStorableMessage(frame) || seen.has(frame.client_id)) continue;
      seen.add(frame.client_id);
      out.push({ ...frame });
    }
    return out.slice(-this._max);
  }

  /** Keep `frame` (replacing a stored one with the same client_id, keeping its place). */
  put(frame) {
    if (!isStorableMessage(frame)) return;
    const frames = this.load();
    const at = frames.findIndex((f) => f.client_id === frame.client_id);
    if (at >= 0) frames[at] = { ...frame };
    else frames.push({ ...frame });
    this._write(frames.slice(-this._max));
  }

  /** Forget the message with this client_id (echoed by the server, or given up). */
  remove(clientId) {
    const frames = this.load();
    const kept = frames.filter((f) => f.client_id !== clientId);
    if (kept.length !== frames.length) this._write(kept);
  }

  _write(frames) {
    try {
      if (frames.length === 0) this._storage.removeItem(this._key);
      else this._storage.setItem(this._key, JSON.stringify(frames));
    } catch {
      // Full or disabled storage: the message still goes out while the page lives.
    }
  }
}

/**
 * The default storage: the page's localStorage, or null where there is none (Node, a
 * sandboxed iframe, storage disabled by the user).
 */
export function defaultStorage() {
  try {
    const s = globalThis.localStorage;
    return s && typeof s.getItem === 'function' ? s : null;
  } catch {
    return null;
  }
}
