/**
 * realtime-client.js: the reusable browser client for the platform's sockets, and the
 * one module pages and API clients import.
 *
 * A dependency-free ES module that wraps one socket URL (`/ws/chat/<slug>/`,
 * `/ws/notify/user/<id>/` or `/ws/echo/`) and implements the client side of
 * docs/protocol.md: the close-code policy (section 5), resume by `seq` with REST
 * backfill, heartbeats, token refresh, and an idempotent outgoing queue.
 *
 * The parts live in realtime/ by concern (static/js/README.md maps them):
 * policy.js (pure rules), connection.js (the socket kept connected), chat.js (the
 * message sequencer). RealtimeClient below is a Connection with the sequencer plugged
 * into its hooks; everything else here is a re-export.
 *
 * Everything that touches time, the network or randomness is injectable, so the
 * behaviour is tested under `node --test` with fakes (see tests/fakes.mjs).
 * All durations given as options are in milliseconds.
 */
import {
  changesUrl, ChatSequencer, httpOrigin, messagesUrl, roomFromPath,
} from './realtime/chat.js';
import { Connection } from './realtime/connection.js';

export { STATES } from './realtime/connection.js';
export { ClientClosedError, QueueFullError, RealtimeError } from './realtime/errors.js';
export { LIFECYCLE_EVENTS } from './realtime/events.js';
export { randomClientId } from './realtime/outbox.js';
export {
  backoffDelay, CLOSE_POLICY, closePolicy, DEFAULT_BACKOFF, DEFAULT_CLOSE_POLICY,
} from './realtime/policy.js';
export { jwtExp } from './realtime/tokens.js';

/**
 * One socket URL, kept connected: states, reconnects, queue, resume and events.
 *
 * @example
 *   const client = new RealtimeClient('/ws/chat/lobby/', { refreshToken, token });
 *   client.on('message', (m) => render(m));
 *   client.connect();
 *   client.send({ type: 'message', body: 'hi' });
 */
export class RealtimeClient extends Connection {
  /**
   * @param {string} url socket URL; relative ('/ws/chat/x/') resolves against `location`.
   *   A `token`, `since` or `rev` query parameter in it seeds the `token`/`lastSeq`/`rev` options.
   * @param {object} [options] see static/js/README.md for the full list.
   */
  constructor(url, options = {}) {
    super(url, options);
    const o = options;
    const parsed = new URL(this._url);
    const room = o.room ?? roomFromPath(parsed.pathname);
    // Like the token, since lives in the client: each connect writes the latest.
    let urlSince = null;
    let urlRev = null;
    if (room != null) {
      urlSince = parsed.searchParams.get('since');
      urlRev = parsed.searchParams.get('rev');
      parsed.searchParams.delete('since');
      parsed.searchParams.delete('rev');
      this._url = parsed.toString();
    }
    const int = (v) => (v !== null && /^\d+$/.test(v) ? Number(v) : null);
    this._chat = new ChatSequencer({
      room,
      lastSeq: o.lastSeq ?? int(urlSince),
      gapGrace: o.gapGrace ?? 300,
      backfillLimit: o.backfillLimit ?? 200,
      rev: o.rev ?? int(urlRev),
      backfillUrl: o.backfillUrl ?? messagesUrl(o.restBase ?? httpOrigin(parsed)),
      changesUrl: o.changesUrl ?? changesUrl(o.restBase ?? httpOrigin(parsed)),
      fetch: o.fetch ?? (globalThis.fetch ? globalThis.fetch.bind(globalThis) : null),
      later: (fn, ms) => this._later(fn, ms),
      cancel: (timer) => this._clearTimeout(timer),
      emit: (type, ...args) => this._emit(type, ...args),
      confirm: (msg) => this._confirm(msg),
      token: () => this._activeToken,
      stopped: () => this._closedByUser,
    });
  }

  /** The room slug; resume and backfill are on only when it is set. */
  get room() { return this._chat.room; }

  /** Highest message seq delivered for the room, or null. */
  get lastSeq() { return this._chat.lastSeq; }

  /** The room's rev the held messages are current at (sent as `&rev=` on resume), or null. */
  get rev() { return this._chat.rev; }

  /** The newest state known of message `id` (a copy), or null. */
  message(id) { return this._chat.message(id); }

  /** Every message known, in seq order (copies). */
  get messages() { return this._chat.messages(); }

  /**
   * Messages the page fetched itself (scrollback, around a seq): merged with what the
   * client knows, so an older REST page never undoes a live edit. Returns their newest
   * states, in the order given.
   */
  absorb(messages) { return this._chat.absorb(messages); }

  /** Edit my message (PROTOCOL.md section 10); queued like any frame while offline. */
  edit(id, body) { return this.send({ type: 'edit', id, body }); }

  /** Delete a message (mine, or any as the room's owner or staff). */
  deleteMessage(id) { return this.send({ type: 'delete', id }); }

  /** Toggle my reaction `emoji` on a message. */
  react(id, emoji) { return this.send({ type: 'react', id, emoji }); }

  /** Say that I am typing; only while open (an old "typing" is worth nothing later). */
  typing() {
    if (this.state !== 'open') return false;
    this.send({ type: 'typing' });
    return true;
  }

  _resumeParams(url) {
    this._chat.resumeParams(url);
  }

  _onMessageFrame(frame) {
    this._chat.ingest(frame, 'live');
  }

  _onUpdateFrame(frame) {
    if (this._chat.room == null) super._onUpdateFrame(frame);
    else this._chat.update(frame.message, 'live');
  }

  _onWelcome(welcome) {
    this._chat.welcome(welcome);
  }

  _onClose() {
    this._chat.stop();
  }
}
