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
import { ChatSequencer, httpOrigin, messagesUrl, roomFromPath } from './realtime/chat.js';
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
   *   A `token` or `since` query parameter in it seeds the `token`/`lastSeq` options.
   * @param {object} [options] see static/js/README.md for the full list.
   */
  constructor(url, options = {}) {
    super(url, options);
    const o = options;
    const parsed = new URL(this._url);
    const room = o.room ?? roomFromPath(parsed.pathname);
    // Like the token, since lives in the client: each connect writes the latest.
    let urlSince = null;
    if (room != null) {
      urlSince = parsed.searchParams.get('since');
      parsed.searchParams.delete('since');
      this._url = parsed.toString();
    }
    this._chat = new ChatSequencer({
      room,
      lastSeq: o.lastSeq ?? (urlSince !== null && /^\d+$/.test(urlSince) ? Number(urlSince) : null),
      gapGrace: o.gapGrace ?? 300,
      backfillLimit: o.backfillLimit ?? 200,
      backfillUrl: o.backfillUrl ?? messagesUrl(o.restBase ?? httpOrigin(parsed)),
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

  _resumeParams(url) {
    this._chat.resumeParams(url);
  }

  _onMessageFrame(frame) {
    this._chat.ingest(frame, 'live');
  }

  _onWelcome(welcome) {
    this._chat.welcome(welcome);
  }

  _onClose() {
    this._chat.stop();
  }
}
