/**
 * realtime/connection.js: one socket URL, kept connected.
 *
 * States, the dial (token, URL, handshake timeout), reconnects as realtime/policy.js
 * decides, heartbeats and the dead-link watchdog, token refresh on the open socket,
 * the send queue (realtime/outbox.js) and the event bus (realtime/events.js). It knows
 * nothing of rooms: RealtimeClient (realtime-client.js) plugs the chat sequencer into
 * the hooks at the end of the class.
 *
 * Time, the socket, randomness and the `online` event source are injected, so the
 * behaviour is tested under `node --test` with fakes that never sleep.
 */
import { ClientClosedError } from './errors.js';
import { defaultReportError, Emitter, isLifecycleEvent } from './events.js';
import { Liveness } from './liveness.js';
import { Outbox, randomClientId } from './outbox.js';
import { defaultStorage, MessageStore } from './persist.js';
import {
  AUTH_STREAK_RESET, closePolicy, connectionOptions, MAX_AUTH_STREAK, refreshDelay, retryDelay,
} from './policy.js';
import { Link, parseFrame, resolveSocketUrl } from './socket.js';
import { Credentials, isThenable, jwtExp } from './tokens.js';

/** The client's states, in the order a healthy session passes through them. */
export const STATES = Object.freeze(['idle', 'connecting', 'open', 'reconnecting', 'closed']);

const MAX_TIMER = 2 ** 31 - 1; // setTimeout fires at once for longer delays

/** A socket URL kept connected: states, reconnects, heartbeats, tokens, queue, events. */
export class Connection extends Emitter {
  /**
   * @param {string} url socket URL; relative ('/ws/echo/') resolves against `location`.
   *   A `token` query parameter in it seeds the `token` option.
   * @param {object} [options] see static/js/README.md for the full list.
   */
  constructor(url, options = {}) {
    const o = options;
    super(o.reportError ?? defaultReportError);
    this._opts = connectionOptions(o);
    const timers = o.timers ?? {};
    this._setTimeout = timers.setTimeout ?? globalThis.setTimeout.bind(globalThis);
    this._clearTimeout = timers.clearTimeout ?? globalThis.clearTimeout.bind(globalThis);
    this._now = timers.now ?? Date.now;
    this._WebSocket = o.WebSocket ?? globalThis.WebSocket;
    this._random = o.random ?? Math.random;
    this._eventTarget = o.eventTarget !== undefined ? o.eventTarget : (globalThis.window ?? null);

    const parsed = new URL(resolveSocketUrl(url, o.location ?? globalThis.location));
    // The token lives in the client, not in the URL: each connect writes the latest.
    const urlToken = parsed.searchParams.get('token');
    parsed.searchParams.delete('token');
    this._url = parsed.toString();
    this._credentials = new Credentials({
      token: o.token ?? urlToken ?? null,
      getToken: o.getToken ?? null,
      refreshToken: o.refreshToken ?? null,
      now: this._now,
    });
    this._expectWelcome = o.expectWelcome ?? !/^\/ws\/echo\/?$/.test(parsed.pathname);
    this._outbox = new Outbox({ maxQueue: o.maxQueue ?? 100, makeClientId: o.makeClientId ?? randomClientId });
    // With `persistKey`, unsent messages outlive the page: restored here as queued, they
    // go out after the next welcome with their original client_id.
    const storage = o.persistKey ? (o.storage !== undefined ? o.storage : defaultStorage()) : null;
    this._store = storage ? new MessageStore({ storage, key: o.persistKey, max: o.maxQueue ?? 100 }) : null;
    for (const frame of this._store?.load() ?? []) {
      try {
        this._outbox.add(frame, false, () => {});
      } catch {
        this._store.remove(frame.client_id); // over the bound: forget it
      }
    }

    this._state = 'idle';
    this._link = null;
    this._gen = 0; // bumped per dial and on close(): stale async results check it
    this._closedByUser = false;
    this._attempt = 0;
    this._retryTimer = null;
    this._retryAt = null;
    this._connectTimer = null;
    this._liveness = new Liveness({
      later: (fn, ms) => this._later(fn, ms),
      cancel: (timer) => this._clearTimeout(timer),
      now: this._now,
      factor: this._opts.heartbeatTimeoutFactor,
      send: (frame) => this._transmit(frame),
      onDead: () => this._linkDead('heartbeat timeout'),
    });
    this._openedAt = null;
    this._refreshTimer = null;
    this._activeToken = null;
    this._authStreak = 0;
    this._user = null;
    this._onOnline = () => {
      if (this._state === 'reconnecting' && this._retryTimer !== null) this.retryNow();
    };
  }

  // ---- public surface -------------------------------------------------------------

  /** Current state: 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'. */
  get state() { return this._state; }

  /** Epoch ms of the scheduled reconnect, or null when none is waiting. */
  get nextRetryAt() { return this._retryTimer === null ? null : this._retryAt; }

  /** Reconnect attempts since the last welcome. */
  get attempt() { return this._attempt; }

  /** The user from the last welcome frame, or null. */
  get user() { return this._user; }

  /** The socket URL without token (and, in a room, without since). */
  get url() { return this._url; }

  /** Copies of the 'message' frames not yet echoed by the server, oldest first. */
  get pending() { return this._outbox.pending; }

  /** Number of frames waiting for a socket (unconfirmed messages count while offline). */
  get queued() { return this._outbox.size(this._isLive()); }

  /** Open the socket (from 'idle' or 'closed'); a no-op while connected or retrying. */
  connect() {
    if (this._state !== 'idle' && this._state !== 'closed') return this;
    this._closedByUser = false;
    this._attempt = 0;
    this._authStreak = 0;
    this._listenOnline(true);
    this._setState('connecting');
    this._dial();
    return this;
  }

  /** Skip the backoff wait and reconnect now; from 'idle' or 'closed' this is connect(). */
  retryNow() {
    if (this._state === 'idle' || this._state === 'closed') return this.connect();
    if (this._state === 'reconnecting' && this._retryTimer !== null) {
      this._clear('_retryTimer');
      this._dial();
    }
    return this;
  }

  /**
   * Close for good (code 1000 by default): no reconnect. Queued and pending frames are
   * kept and go out if connect() is called again.
   */
  close(code = 1000, reason = '') {
    if (this._state === 'closed') return this;
    this._closedByUser = true;
    this._gen += 1;
    const link = this._link;
    this._teardownSocket();
    this._clear('_retryTimer');
    this._onClose();
    link?.close(code, reason);
    this._listenOnline(false);
    this._setState('closed', { code, reason, byClient: true });
    return this;
  }

  /**
   * Send a frame (an object, sent as JSON; a string is sent as is). While not open
   * it is queued and sent in order after the next welcome. A `message` frame gets a
   * `client_id` here if it has none, and stays in `pending` until the server echoes
   * it, being re-sent after every reconnect (the server dedupes by client_id).
   * @returns the frame as sent (a copy, with its client_id).
   * @throws {QueueFullError} when maxQueue frames already wait.
   * @throws {ClientClosedError} after close() or a fatal close.
   */
  send(frame) {
    if (this._state === 'closed') throw new ClientClosedError();
    const out = this._outbox.add(frame, this._isLive(), (f) => this._transmit(f));
    if (typeof out === 'string') return out;
    if (out.type === 'message') {
      this._store?.put(out);
      this._emit('pending', this.pending);
    }
    return { ...out };
  }

  /** Send a chat message; shorthand for send({type:'message', body, ...extra}). */
  sendMessage(body, extra = {}) {
    return this.send({ ...extra, type: 'message', body });
  }

  /** Give up on a pending message (e.g. the server refused it): no more resends. */
  discard(clientId) {
    if (!this._outbox.discard(clientId)) return false;
    this._store?.remove(clientId);
    this._emit('pending', this.pending);
    return true;
  }

  // ---- connection lifecycle ---------------------------------------------------------

  _dial() {
    const gen = ++this._gen;
    let token;
    try {
      token = this._credentials.forConnect();
    } catch (err) {
      this._authRequired(err, null);
      return;
    }
    if (isThenable(token)) {
      token.then(
        (t) => { if (gen === this._gen) this._openSocket(t); },
        (err) => { if (gen === this._gen) this._authRequired(err, null); },
      );
    } else {
      this._openSocket(token);
    }
  }

  _openSocket(token) {
    this._activeToken = token || null;
    const url = new URL(this._url);
    if (token) url.searchParams.set('token', token);
    this._resumeParams(url);
    let link;
    try {
      link = new Link(this._WebSocket, url.toString(), {
        open: (l) => { if (l === this._link) this._onOpen(); },
        message: (l, ev) => { if (l === this._link) this._onMessage(ev); },
        close: (l, ev) => {
          if (l !== this._link) return;
          this._teardownSocket();
          this._handleDrop(ev.code, ev.reason ?? '');
        },
      });
    } catch (err) {
      // The constructor throws only for a malformed URL: retrying cannot help.
      const reason = String(err?.message ?? err);
      this._reportError(err);
      this._finish({ code: null, reason });
      this._emit('fatal', {
        code: null, reason, kind: 'client_bug', meaning: 'the WebSocket constructor refused the URL',
      });
      return;
    }
    this._link = link;
    // A handshake can hang without ever failing (a dead proxy, a black-holed SYN).
    this._connectTimer = this._later(() => {
      this._connectTimer = null;
      this._linkDead('connect timeout');
    }, this._opts.connectTimeout);
  }

  _onOpen() {
    this._liveness.touch();
    if (!this._expectWelcome) this._ready(null);
  }

  _onMessage(ev) {
    this._liveness.touch();
    const frame = parseFrame(ev.data);
    if (frame === null) {
      this._emit('raw', ev.data);
      return;
    }
    this._emit('frame', frame);
    const type = typeof frame.type === 'string' ? frame.type : null;
    if (type === 'welcome' && this._expectWelcome) {
      this._ready(frame);
    } else if (type === 'message') {
      this._onMessageFrame(frame);
    } else if (type === 'message_updated') {
      this._onUpdateFrame(frame);
    } else if (type !== null && !isLifecycleEvent(type)) {
      this._emit(type, frame);
    }
  }

  /** The link is usable: after the welcome frame (chat, notify) or the open (echo). */
  _ready(welcome) {
    this._clear('_connectTimer');
    this._attempt = 0;
    this._openedAt = this._now();
    if (welcome?.user) this._user = welcome.user;
    const seconds = Number(welcome?.heartbeat_interval);
    if (this._opts.heartbeat) {
      this._liveness.start(seconds > 0 ? seconds * 1000 : this._opts.heartbeatInterval);
    }
    this._scheduleTokenRefresh();
    if (welcome) {
      this._emit('welcome', welcome);
      this._onWelcome(welcome);
    }
    // Flush before announcing 'open', so frames sent from 'state' handlers follow the
    // queued ones instead of overtaking them.
    this._outbox.flush((f) => this._transmit(f));
    this._setState('open', welcome ? { welcome } : {});
  }

  _handleDrop(code, reason) {
    const policy = closePolicy(code);
    if (policy.action !== 'refresh') this._authStreak = 0;
    switch (policy.action) {
      case 'stop':
        this._finish({ code, reason });
        return;
      case 'fatal':
        this._finish({ code, reason });
        this._emit('fatal', { code, reason, kind: policy.kind, meaning: policy.meaning });
        return;
      case 'refresh':
        this._reauthenticate(code, reason);
        return;
      default:
        this._scheduleReconnect(policy.action, code, reason);
    }
  }

  _scheduleReconnect(action, code, reason) {
    if (this._attempt >= this._opts.maxRetries) {
      this._finish({ code, reason });
      this._emit('fatal', {
        code, reason, kind: 'max_retries', meaning: `gave up after ${this._attempt} retries`,
      });
      return;
    }
    const delay = retryDelay(action, this._attempt, this._opts, this._random);
    this._attempt += 1;
    this._retryAt = this._now() + delay;
    const info = { code, reason, attempt: this._attempt, delay, retryAt: this._retryAt };
    this._retryTimer = this._later(() => {
      this._retryTimer = null;
      this._dial();
    }, delay);
    this._setState('reconnecting', info);
    this._emit('retry', info);
  }

  /**
   * 4401: refresh, then reconnect. A server that keeps answering a fresh token with
   * 4401 (the user logged out, was deactivated) ends with auth_required after a few
   * short-lived tries, rather than looping on the refresh endpoint.
   */
  _reauthenticate(code, reason) {
    if (this._openedAt !== null && this._now() - this._openedAt >= AUTH_STREAK_RESET) {
      this._authStreak = 0;
    }
    this._authStreak += 1;
    if (!this._credentials.canRefresh || this._authStreak > MAX_AUTH_STREAK) {
      this._authRequired(null, code);
      return;
    }
    this._setState('reconnecting', { code, reason });
    const gen = this._gen;
    this._credentials.refresh().then(
      () => { if (gen === this._gen && !this._closedByUser) this._scheduleReconnect('now', code, reason); },
      (err) => { if (gen === this._gen && !this._closedByUser) this._authRequired(err, code); },
    );
  }

  _authRequired(error, code) {
    this._finish({ code, reason: 'auth_required' });
    this._emit('auth_required', { code, error: error ?? null });
  }

  /** Dead link: stop waiting for a close handshake that may never come. */
  _linkDead(reason) {
    const link = this._link;
    this._teardownSocket();
    link?.close(4408, reason);
    this._handleDrop(4408, reason);
  }

  /** Closed without reconnecting (policy, give-up or auth); the client may connect() again. */
  _finish(detail) {
    this._teardownSocket();
    this._clear('_retryTimer');
    this._listenOnline(false);
    this._setState('closed', detail);
  }

  _teardownSocket() {
    this._link?.detach();
    this._link = null;
    this._clear('_connectTimer');
    this._liveness.stop();
    this._clear('_refreshTimer');
  }

  _listenOnline(on) {
    const target = this._eventTarget;
    if (!target || typeof target.addEventListener !== 'function') return;
    if (on) target.addEventListener('online', this._onOnline);
    else target.removeEventListener('online', this._onOnline);
  }

  _setState(state, detail = {}) {
    const previous = this._state;
    if (previous === state) return;
    this._state = state;
    this._emit('state', { ...detail, state, previous });
  }

  // ---- token refresh on the open socket ------------------------------------------------

  _scheduleTokenRefresh() {
    this._clear('_refreshTimer');
    if (!this._credentials.canRefresh) return;
    const exp = jwtExp(this._activeToken);
    if (exp === null) return;
    this._refreshTimer = this._later(() => {
      this._refreshTimer = null;
      this._refreshOnSocket();
    }, refreshDelay(exp, this._now(), this._opts.refreshSkew));
  }

  async _refreshOnSocket() {
    const link = this._link;
    let token;
    try {
      token = await this._credentials.refresh();
    } catch (error) {
      // Not final: the server will close with 4401 at expiry, and that path retries.
      this._emit('token_refresh_failed', { error });
      return;
    }
    if (link === null || link !== this._link || !this._isLive()) return; // the next dial uses it
    this._activeToken = token;
    this._transmit({ type: 'auth', token });
    this._emit('token_refreshed', { exp: jwtExp(token) });
    this._scheduleTokenRefresh();
  }

  // ---- plumbing ------------------------------------------------------------------------

  _isLive() {
    return this._state === 'open' && this._link !== null && this._link.isOpen;
  }

  _transmit(frame) {
    this._link?.send(frame);
  }

  /** Emit `ack` and `pending` when `msg` is the echo of one of our pending messages. */
  _confirm(msg) {
    if (!this._outbox.confirm(msg, this._user)) return;
    this._store?.remove(msg.client_id);
    this._emit('ack', { client_id: msg.client_id, message: msg });
    this._emit('pending', this.pending);
  }

  _later(fn, ms) {
    return this._setTimeout(fn, Math.min(MAX_TIMER, ms));
  }

  _clear(name) {
    if (this[name] !== null) {
      this._clearTimeout(this[name]);
      this[name] = null;
    }
  }

  // ---- hooks for a subclass (RealtimeClient plugs the chat sequencer in here) ----------

  /** Add resume parameters to the URL of the next handshake. */
  _resumeParams(_url) {}

  /** A live `message` frame. */
  _onMessageFrame(frame) {
    this._confirm(frame);
    this._emit('message', frame, { source: 'live' });
  }

  /** A live `message_updated` frame (PROTOCOL.md section 10). */
  _onUpdateFrame(frame) {
    this._emit('message_updated', frame, { source: 'live' });
  }

  /** The welcome frame arrived; called after the `welcome` event, before the queue flushes. */
  _onWelcome(_welcome) {}

  /** close() was called: cancel whatever the subclass has scheduled. */
  _onClose() {}
}
