/**
 * conversations.js: my rooms and direct messages as the notify socket tells them
 * (docs/protocol.md section 3.3 and 8.6), and the small pure helpers of the chat
 * screen (tab title, "new messages" divider, @ completion). No DOM here: it runs
 * under `node --test` (static/js/tests/conversations.test.mjs).
 */

const MAX_BADGE = 99;

/** A badge's text: "99+" past 99. */
export function badgeText(n) {
  return n > MAX_BADGE ? `${MAX_BADGE}+` : String(n);
}

/** The tab title with the unread count in front ("(3) Realtime"), or without one. */
export function titleWithCount(title, count) {
  const base = String(title).replace(/^\(\d+\+?\) /, '');
  return count > 0 ? `(${badgeText(count)}) ${base}` : base;
}

/** What a conversation is called in a list: a direct room by the other person. */
export function displayName(entry) {
  if (entry.kind === 'direct' && entry.peer && typeof entry.peer.username === 'string') return entry.peer.username;
  return entry.name || entry.slug;
}

function nonNegative(value) {
  return Number.isInteger(value) && value > 0 ? value : 0;
}

function entryOf(raw) {
  if (!raw || typeof raw.slug !== 'string' || !raw.slug) return null;
  return {
    slug: raw.slug,
    name: typeof raw.name === 'string' ? raw.name : raw.slug,
    kind: ['public', 'private', 'direct'].includes(raw.kind) ? raw.kind : 'public',
    peer: raw.peer && typeof raw.peer.username === 'string' ? raw.peer : null,
    last_seq: nonNegative(raw.last_seq),
    last_read_seq: nonNegative(raw.last_read_seq),
    unread: nonNegative(raw.unread),
    mentions: nonNegative(raw.mentions),
    // When the room last moved, for the order (ISO strings compare as times).
    ts: typeof raw.last_message?.ts === 'string' ? raw.last_message.ts : '',
    preview: typeof raw.last_message?.body === 'string' ? raw.last_message.body : '',
  };
}

/**
 * My conversations, latest activity first, kept by the notify socket's frames:
 * `reset(welcome.rooms)`, `activity(frame)`, `read(frame)`. `onChange` runs after
 * each change; `unknown(slug)` when activity names a room not in the list (a direct
 * room someone just started with me: fetch the list again).
 */
export class Conversations {
  constructor({ me = null, onChange = () => {}, unknown = () => {} } = {}) {
    this.me = me;
    this.rooms = new Map(); // slug -> entry
    this.loaded = false;
    // The room I am reading right now (open, tab visible, newest message on screen): its
    // new messages are read as they come, so they never flash a badge; the read frame
    // that follows sets the count either way.
    this.reading = null;
    this._onChange = onChange;
    this._unknown = unknown;
  }

  reset(rooms) {
    this.rooms.clear();
    for (const raw of Array.isArray(rooms) ? rooms : []) {
      const entry = entryOf(raw);
      if (entry) this.rooms.set(entry.slug, entry);
    }
    this.loaded = true;
    this._onChange({ reason: 'reset' });
  }

  /** A new message somewhere: it moves its room to the top, and counts unless it is mine. */
  activity(frame) {
    const slug = frame?.room;
    if (typeof slug !== 'string' || !Number.isInteger(frame.seq)) return;
    const entry = this.rooms.get(slug);
    if (!entry) {
      this._unknown(slug);
      return;
    }
    if (frame.seq <= entry.last_seq) return; // seen already (a resumed socket)
    entry.last_seq = frame.seq;
    entry.ts = typeof frame.ts === 'string' ? frame.ts : entry.ts;
    entry.preview = typeof frame.preview === 'string' ? frame.preview : entry.preview;
    const mine = this.me && frame.user && frame.user.id === this.me.id;
    if (mine || slug === this.reading) {
      entry.last_read_seq = Math.max(entry.last_read_seq, frame.seq);
    } else if (frame.seq > entry.last_read_seq) {
      entry.unread += 1;
      if (this.me && mentions(frame.preview, this.me.username)) entry.mentions += 1;
    }
    this._onChange({ reason: 'activity', slug, frame, mine: Boolean(mine) });
  }

  /** My read pointer moved (any tab, any device): the server's count is the truth. */
  read(frame) {
    const entry = this.rooms.get(frame?.room);
    if (!entry || !Number.isInteger(frame.seq)) return;
    if (frame.seq < entry.last_read_seq) return;
    entry.last_read_seq = frame.seq;
    entry.last_seq = Math.max(entry.last_seq, frame.seq);
    if (Number.isInteger(frame.unread)) entry.unread = Math.max(0, frame.unread);
    // Mentions are among the unread: none are left when nothing is.
    if (entry.unread === 0) entry.mentions = 0;
    this._onChange({ reason: 'read', slug: entry.slug });
  }

  get(slug) {
    return this.rooms.get(slug) ?? null;
  }

  /** Latest activity first; rooms without any by name. */
  list() {
    return [...this.rooms.values()].sort((a, b) => {
      if (a.ts !== b.ts) return a.ts < b.ts ? 1 : -1;
      return displayName(a).localeCompare(displayName(b));
    });
  }

  /** Unread messages over every room (what the tab title counts). */
  totalUnread() {
    let n = 0;
    for (const entry of this.rooms.values()) n += entry.unread;
    return n;
  }
}

/**
 * Whether `text` mentions `username` the way the server decides (section 8.6): no word
 * character or `@` right before the `@`, and the name not running on into more of a name.
 * Only for a badge guess on a preview; the server's count replaces it at the next read.
 */
export function mentions(text, username) {
  if (typeof text !== 'string' || !username) return false;
  const lower = text.toLowerCase();
  const name = `@${username.toLowerCase()}`;
  for (let i = lower.indexOf(name); i >= 0; i = lower.indexOf(name, i + 1)) {
    const before = i > 0 ? lower[i - 1] : '';
    const after = lower.slice(i + name.length);
    if (/[\w@]/.test(before)) continue;
    if (after === '' || !/^[\w.+-]/.test(after) || /^[.-](?![\w.+-])/.test(after)) return true;
  }
  return false;
}

/**
 * Where the "new messages" divider goes: before the first message after my read
 * pointer that is not mine. `messages` are {seq, userId} in order; returns the seq, or null.
 */
export function dividerSeq(messages, lastReadSeq, myId) {
  if (!Number.isInteger(lastReadSeq)) return null;
  for (const m of messages) {
    if (m.seq > lastReadSeq && m.userId !== myId) return m.seq;
  }
  return null;
}

/**
 * The `@name` being typed at the caret: {start, query} (start: the index of `@`), or
 * null when the caret is not in one.
 */
export function mentionAt(text, caret) {
  const upto = text.slice(0, caret);
  const match = /(^|[^\w@])@([\w.+-]{0,150})$/.exec(upto);
  if (!match) return null;
  return { start: caret - match[2].length - 1, query: match[2] };
}

/** Usernames that complete `query` (prefix, case-insensitive), me excluded, at most `limit`. */
export function mentionCandidates(usernames, query, me, limit = 8) {
  const q = query.toLowerCase();
  const seen = new Set();
  const out = [];
  for (const name of usernames) {
    if (typeof name !== 'string' || !name || name === me || seen.has(name)) continue;
    seen.add(name);
    if (name.toLowerCase().startsWith(q)) out.push(name);
  }
  out.sort((a, b) => a.localeCompare(b));
  return out.slice(0, limit);
}

/** The text with the `@query` at `start..caret` replaced by `@username `, and the new caret. */
export function applyMention(text, start, caret, username) {
  const insert = `@${username} `;
  const rest = text.slice(caret).replace(/^[\w.+-]*/, '');
  return { text: text.slice(0, start) + insert + rest.replace(/^ /, ''), caret: start + insert.length };
}

/**
 * Debounced read pointer: `want(seq)` asks for the pointer at `seq`; `send(seq)` runs
 * once per quiet `delay`, only for a seq past what was sent. Timers are injected.
 */
export class ReadPointer {
  constructor({
    send, delay = 400,
    // Wrapped: window.setTimeout called as a method of another object throws "Illegal invocation".
    setTimeout: later = (fn, ms) => globalThis.setTimeout(fn, ms),
    clearTimeout: cancel = (id) => globalThis.clearTimeout(id),
  }) {
    this._send = send;
    this._delay = delay;
    this._later = later;
    this._cancel = cancel;
    this.sent = 0;
    this._wanted = 0;
    this._timer = null;
  }

  want(seq) {
    if (!Number.isInteger(seq) || seq <= this.sent || seq <= this._wanted) return;
    this._wanted = seq;
    if (this._timer !== null) this._cancel(this._timer);
    this._timer = this._later(() => this.flush(), this._delay);
  }

  flush() {
    this._timer = null;
    if (this._wanted <= this.sent) return;
    if (this._send(this._wanted) !== false) this.sent = this._wanted;
    else this._wanted = this.sent; // not sent (offline): the next want() tries again
  }

  /** The server said the pointer is at `seq` (a read frame): nothing at or before it is sent. */
  known(seq) {
    if (Number.isInteger(seq) && seq > this.sent) this.sent = seq;
  }
}
