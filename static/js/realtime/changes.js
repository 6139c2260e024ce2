/**
 * realtime/changes.js: messages that change (PROTOCOL.md section 10). The newest state
 * known of every message, by id, and the room's `rev` a resume may ask changes after.
 *
 * A message's `rev` is the room's change counter at its last change (edit, delete,
 * reaction), so of two states of one message the higher `rev` is the newer: frames may
 * arrive in any order (a reordered channel layer, a REST page fetched before a live
 * edit landed) and the client still ends at the server's current state.
 *
 * Pure data: no timers, no I/O. The chat sequencer (chat.js) feeds it.
 */

const KEEP = 20000; // messages remembered: plenty for a page, bounded for a long session

/** A message's rev as a number (a server without section 10 sends none: 0). */
export function revOf(msg) {
  return Number.isInteger(msg?.rev) ? msg.rev : 0;
}

/**
 * The message as the client holds it: a tombstone has no body and no reactions, and
 * the fields section 10 adds have their defaults when a server leaves them out.
 */
export function normalize(msg) {
  const out = {
    ...msg,
    rev: revOf(msg),
    edited: msg.edited ?? null,
    deleted: msg.deleted === true,
    reactions: Array.isArray(msg.reactions) ? msg.reactions : [],
    reply_to: msg.reply_to ?? null,
  };
  if (out.deleted) {
    out.body = '';
    out.reactions = [];
  }
  return out;
}

/** The newest known state of each message, by id. */
export class MessageState {
  constructor({ keep = KEEP } = {}) {
    this._keep = keep;
    this._byId = new Map();
  }

  /** The newest state known for `id`, or null. */
  get(id) {
    return this._byId.get(id) ?? null;
  }

  get size() {
    return this._byId.size;
  }

  /** Every message held, in seq order (copies). */
  all() {
    return [...this._byId.values()].sort((a, b) => a.seq - b.seq).map((m) => ({ ...m }));
  }

  /**
   * Take a state of a message. It replaces the held one unless that one is newer (a
   * higher rev); an equal rev is the same state (the server stamps every change).
   * @returns {{message: object, changed: boolean}} the newest state, and whether this
   *   one is now held (a first sighting, or newer than the state held before).
   */
  offer(msg) {
    const held = this._byId.get(msg.id);
    if (held && revOf(held) > revOf(msg)) return { message: held, changed: false };
    const next = normalize(msg);
    if (held && revOf(held) === next.rev && !differs(held, next)) return { message: held, changed: false };
    this._byId.delete(msg.id); // re-insert: the newest touched are the last evicted
    this._byId.set(msg.id, next);
    if (this._byId.size > this._keep) this._byId.delete(this._byId.keys().next().value);
    return { message: next, changed: true };
  }
}

const FIELDS = ['body', 'edited', 'deleted'];

function differs(a, b) {
  if (FIELDS.some((f) => a[f] !== b[f])) return true;
  return JSON.stringify(a.reactions) !== JSON.stringify(b.reactions)
    || JSON.stringify(a.reply_to) !== JSON.stringify(b.reply_to);
}

/**
 * The room's rev that a resume sends: every change at or below it is applied here.
 *
 * The welcome sets it (its history and changes bring everything up to the room's rev).
 * Live frames move it only over an unbroken run (rev+1, rev+2, ...): a change lost with
 * a dropped socket leaves a hole, and the resume asks from below the hole. Asking from
 * too low only costs a few repeated messages; too high would lose a change for good.
 */
export class RevCursor {
  constructor(rev = null) {
    this._rev = Number.isInteger(rev) ? rev : null;
    this._above = new Set();
  }

  /** The rev to resume from, or null when none is known. */
  get value() {
    return this._rev;
  }

  /** Everything up to `rev` is applied (a welcome, a finished REST paging). */
  set(rev) {
    if (!Number.isInteger(rev)) return;
    this._rev = rev;
    for (const r of this._above) if (r <= rev) this._above.delete(r);
    this._advance();
  }

  /** Like set(), but never backwards (a paging that started before the last welcome). */
  raise(rev) {
    if (Number.isInteger(rev) && (this._rev === null || rev > this._rev)) this.set(rev);
  }

  /** A change stamped `rev` was applied. */
  see(rev) {
    if (this._rev === null || !Number.isInteger(rev) || rev <= this._rev) return;
    this._above.add(rev);
    this._advance();
    if (this._above.size > KEEP) this._above.clear(); // a hole that never fills: resume covers it
  }

  _advance() {
    while (this._above.has(this._rev + 1)) {
      this._rev += 1;
      this._above.delete(this._rev);
    }
  }
}
