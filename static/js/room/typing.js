/**
 * room/typing.js: "alice is typing…" (PROTOCOL.md section 10).
 *
 * The server sends `{"type":"typing","users":[user,...]}` at most once a second per
 * room, listing who typed in the last 5 s, and a frame without a user once they sent
 * their message or went quiet. The page says it in words under the messages (never
 * myself), and clears it when the socket drops (no frame can take a name off then) or
 * when no frame has come for a while. The composer reports my typing through
 * TypingNotifier, at most once per `every` ms.
 */

/** The words for who is typing (me left out), or '' for nobody. */
export function typingText(users, meId) {
  const names = [];
  for (const u of Array.isArray(users) ? users : []) {
    if (!u || u.id === meId || typeof u.username !== 'string' || names.includes(u.username)) continue;
    names.push(u.username);
  }
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  if (names.length === 3) return `${names[0]}, ${names[1]} and ${names[2]} are typing…`;
  return `${names[0]}, ${names[1]} and ${names.length - 2} others are typing…`;
}

/**
 * My typing, to the server: `input(text)` on every keystroke sends `send()` when the
 * composer has text and the last one went `every` ms ago or more; `sent()` (my message
 * went out) starts over, so the next keystroke says it again at once.
 */
export class TypingNotifier {
  constructor({ send, now = Date.now, every = 3000 }) {
    this._send = send;
    this._now = now;
    this._every = every;
    this._last = -Infinity;
  }

  input(text) {
    if (!text || !text.trim()) return false;
    const t = this._now();
    if (t - this._last < this._every) return false;
    if (this._send() === false) return false; // not sent (offline): try on the next key
    this._last = t;
    return true;
  }

  sent() {
    this._last = -Infinity;
  }
}

/** The line under the messages. `apply(frame)` for each typing frame; `clear()` when offline. */
export class TypingIndicator {
  constructor(node, meId, {
    later = (fn, ms) => setTimeout(fn, ms), cancel = (t) => clearTimeout(t), stale = 7000,
  } = {}) {
    this.node = node;
    this.meId = meId;
    this._later = later;
    this._cancel = cancel;
    this._stale = stale;
    this._timer = null;
  }

  apply(frame) {
    this._show(typingText(frame?.users, this.meId));
  }

  clear() {
    this._show('');
  }

  _show(text) {
    if (this._timer !== null) this._cancel(this._timer);
    this._timer = null;
    if (this.node.textContent !== text) this.node.textContent = text;
    this.node.hidden = text === '';
    // The server's next frame would take the names off; if it never comes, time does.
    if (text) this._timer = this._later(() => this.clear(), this._stale);
  }
}
