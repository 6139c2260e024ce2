/**
 * realtime-client.js: the reusable browser client for the platform's sockets.
 *
 * A dependency-free ES module that wraps one socket URL (`/ws/chat/<slug>/`,
 * `/ws/notify/user/<id>/` or `/ws/echo/`) and implements the client side of
 * shared/PROTOCOL.md: the close-code policy (section 5), resume by `seq` with REST
 * backfill, heartbeats, token refresh, and an idempotent outgoing queue.
 *
 * Everything that touches time, the network or randomness is injectable, so the
 * behaviour is tested under `node --test` with fakes (see tests/fakes.mjs).
 * All durations given as options are in milliseconds.
 */

/**
 * What the client does for each close code (PROTOCOL.md section 5), in one table.
 * `action` is one of:
 *   stop          closed, no reconnect, nothing to report
 *   fatal         closed, no reconnect, `fatal` event with `kind`
 *   refresh       await refreshToken(), then reconnect (`auth_required` if impossible)
 *   restart       reconnect at once after a small jitter (0..restartJitter)
 *   backoff       reconnect after exponential backoff, resuming with since=<lastSeq>
 *   long_backoff  reconnect after rateLimitDelay plus the backoff
 * Codes not listed (1001, 1005, 1006, ...) get DEFAULT_CLOSE_POLICY.
 */
export const CLOSE_POLICY = Object.freeze({
  1000: Object.freeze({ action: 'stop', meaning: 'normal closure' }),
  1003: Object.freeze({ action: 'fatal', kind: 'client_bug', meaning: 'binary frame on chat or notify' }),
  1009: Object.freeze({ action: 'fatal', kind: 'client_bug', meaning: 'frame over WS_MAX_FRAME_BYTES' }),
  1011: Object.freeze({ action: 'backoff', meaning: 'server error' }),
  1012: Object.freeze({ action: 'restart', meaning: 'server restarting or draining' }),
  1013: Object.freeze({ action: 'backoff', meaning: 'server overloaded' }),
  4400: Object.freeze({ action: 'fatal', kind: 'client_bug', meaning: 'too many invalid frames' }),
  4401: Object.freeze({ action: 'refresh', meaning: 'credentials expired' }),
  4403: Object.freeze({ action: 'fatal', kind: 'forbidden', meaning: 'forbidden here' }),
  4404: Object.freeze({ action: 'fatal', kind: 'not_found', meaning: 'no such room' }),
  4408: Object.freeze({ action: 'backoff', meaning: 'heartbeat timeout' }),
  4429: Object.freeze({ action: 'long_backoff', meaning: 'rate or connection limit abused' }),
  4503: Object.freeze({ action: 'backoff', meaning: 'outbound backlog passed its bound' }),
});

/** The policy for every code CLOSE_POLICY does not name: a dropped link. */
export const DEFAULT_CLOSE_POLICY = Object.freeze({ action: 'backoff', meaning: 'connection lost' });

/** Return the CLOSE_POLICY entry for a close code. */
export function closePolicy(code) {
  return Object.hasOwn(CLOSE_POLICY, code) ? CLOSE_POLICY[code] : DEFAULT_CLOSE_POLICY;
}

/** The default reconnect schedule: full jitter over 1 s doubling, capped at 30 s. */
export const DEFAULT_BACKOFF = Object.freeze({ baseDelay: 1000, maxDelay: 30000, jitter: 'full' });

const JITTERS = new Set(['full', 'none']);

/**
 * Delay in ms before reconnect attempt number `attempt` (0-based).
 * Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): uniform in
 * [0, min(maxDelay, baseDelay * 2^attempt)); 'none' returns that ceiling itself.
 */
export function backoffDelay(attempt, opts = {}, random = Math.random) {
  const { baseDelay, maxDelay, jitter } = { ...DEFAULT_BACKOFF, ...opts };
  if (!JITTERS.has(jitter)) throw new RangeError(`jitter must be 'full' or 'none', not ${jitter}`);
  const ceiling = Math.min(maxDelay, baseDelay * 2 ** Math.max(0, attempt));
  return jitter === 'none' ? ceiling : Math.floor(random() * ceiling);
}

/** Base of the errors this module throws. */
export class RealtimeError extends Error {
  constructor(message, code) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** send() while maxQueue frames already wait (for a socket, or for their echo). */
export class QueueFullError extends RealtimeError {
  constructor(limit) {
    super(`send queue is full (${limit} frames waiting); try again once connected`, 'queue_full');
    this.limit = limit;
  }
}

/** send() on a client that is closed (by close(), a fatal close code, or giving up). */
export class ClientClosedError extends RealtimeError {
  constructor() {
    super('the client is closed; call connect() first', 'closed');
  }
}

/**
 * The `exp` claim (seconds since the epoch) of a JWT, or null when it has none.
 * Only read to schedule a refresh: the server verifies the token, never this code.
 */
export function jwtExp(token) {
  if (typeof token !== 'string') return null;
  const part = token.split('.')[1];
  if (!part) return null;
  let payload;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '='));
    payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch {
    // An opaque or malformed token simply has no known expiry: no refresh is scheduled.
    return null;
  }
  return payload !== null && Number.isFinite(payload.exp) ? payload.exp : null;
}

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

/** The client's states, in the order a healthy session passes through them. */
export const STATES = Object.freeze(['idle', 'connecting', 'open', 'reconnecting', 'closed']);

/**
 * Events the client raises itself. A server frame whose `type` is one of these
 * names is only delivered through `frame`, so the server cannot fake them.
 */
export const LIFECYCLE_EVENTS = Object.freeze([
  'state', 'retry', 'fatal', 'auth_required', 'ack', 'pending', 'gap', 'backfill',
  'token_refreshed', 'token_refresh_failed', 'frame', 'raw',
]);
const LIFECYCLE = new Set(LIFECYCLE_EVENTS);

const WS_OPEN = 1;
const MAX_TIMER = 2 ** 31 - 1; // setTimeout fires at once for longer delays
const MAX_CLIENT_ID = 64; // PROTOCOL.md section 4
const MAX_AUTH_STREAK = 3; // 4401s in a row before giving up (see _reauthenticate)
const AUTH_STREAK_RESET = 60000;
const SEEN_IDS = 5000;

/**
 * One socket URL, kept connected: states, reconnects, queue, resume and events.
 *
 * @example
 *   const client = new RealtimeClient('/ws/chat/lobby/', { refreshToken, token });
 *   client.on('message', (m) => render(m));
 *   client.connect();
 *   client.send({ type: 'message', body: 'hi' });
 */
export class RealtimeClient {
  /**
   * @param {string} url socket URL; relative ('/ws/chat/x/') resolves against `location`.
   *   A `token` or `since` query parameter in it seeds the `token`/`lastSeq` options.
   * @param {object} [options] see static/js/README.md for the full list.
   */
  constructor(url, options = {}) {
    const o = options;
    this._opts = {
      baseDelay: o.baseDelay ?? DEFAULT_BACKOFF.baseDelay,
      maxDelay: o.maxDelay ?? DEFAULT_BACKOFF.maxDelay,
      jitter: o.jitter ?? DEFAULT_BACKOFF.jitter,
      maxRetries: o.maxRetries ?? Infinity,
      restartJitter: o.restartJitter ?? 1000,
      rateLimitDelay: o.rateLimitDelay ?? 60000,
      maxQueue: o.maxQueue ?? 100,
      heartbeat: o.heartbeat ?? true,
      heartbeatInterval: o.heartbeatInterval ?? 20000,
      heartbeatTimeoutFactor: o.heartbeatTimeoutFactor ?? 2,
      connectTimeout: o.connectTimeout ?? 20000,
      refreshSkew: o.refreshSkew ?? 30000,
      gapGrace: o.gapGrace ?? 300,
      backfillLimit: o.backfillLimit ?? 200,
    };
    if (!JITTERS.has(this._opts.jitter)) {
      throw new RangeError(`jitter must be 'full' or 'none', not ${this._opts.jitter}`);
    }
    const timers = o.timers ?? {};
    this._setTimeout = timers.setTimeout ?? globalThis.setTimeout.bind(globalThis);
    this._clearTimeout = timers.clearTimeout ?? globalThis.clearTimeout.bind(globalThis);
    this._now = timers.now ?? Date.now;
    this._WebSocket = o.WebSocket ?? globalThis.WebSocket;
    this._random = o.random ?? Math.random;
    this._fetch = o.fetch ?? (globalThis.fetch ? globalThis.fetch.bind(globalThis) : null);
    this._eventTarget = o.eventTarget !== undefined ? o.eventTarget : (globalThis.window ?? null);
    this._reportError = o.reportError ?? defaultReportError;
    this._makeClientId = o.makeClientId ?? randomClientId;
    this._getToken = o.getToken ?? null;
    this._refreshToken = o.refreshToken ?? null;

    const parsed = new URL(resolveSocketUrl(url, o.location ?? globalThis.location));
    /** The room slug; resume and backfill are on only when it is set. */
    this.room = o.room ?? roomFromPath(parsed.pathname);
    // Token and since live in the client, not in the URL: each connect writes the latest.
    const urlToken = parsed.searchParams.get('token');
    parsed.searchParams.delete('token');
    let urlSince = null;
    if (this.room != null) {
      urlSince = parsed.searchParams.get('since');
      parsed.searchParams.delete('since');
    }
    this._url = parsed.toString();
    this._token = o.token ?? urlToken ?? null;
    this._lastSeq = o.lastSeq ?? (urlSince !== null && /^\d+$/.test(urlSince) ? Number(urlSince) : null);
    this._expectWelcome = o.expectWelcome ?? !/^\/ws\/echo\/?$/.test(parsed.pathname);
    const restBase = (o.restBase ?? httpOrigin(parsed)).replace(/\/+$/, '');
    this._backfillUrl = o.backfillUrl ?? ((room, after, limit) =>
      `${restBase}/api/rooms/${encodeURIComponent(room)}/messages/?after=${after}&limit=${limit}`);

    this._state = 'idle';
    this._listeners = new Map();
    this._ws = null;
    this._gen = 0; // bumped per dial and on close(): stale async results check it
    this._closedByUser = false;
    this._attempt = 0;
    this._retryTimer = null;
    this._retryAt = null;
    this._connectTimer = null;
    this._hbTimer = null;
    this._watchdog = null;
    this._deadAfter = null;
    this._lastRx = 0;
    this._openedAt = null;
    this._refreshTimer = null;
    this._refreshing = null;
    this._activeToken = null;
    this._authStreak = 0;
    this._user = null;
    this._queue = [];
    this._pending = new Map();
    this._seen = new Set();
    this._held = new Map();
    this._gapTimer = null;
    this._backfilling = false;
    this._onOnline = () => {
      if (this._state === 'reconnecting' && this._retryTimer !== null) this.retryNow();
    };
  }

  // ---- public surface -------------------------------------------------------------

  /** Current state: 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'. */
  get state() { return this._state; }

  /** Highest message seq delivered for the room, or null. */
  get lastSeq() { return this._lastSeq; }

  /** Epoch ms of the scheduled reconnect, or null when none is waiting. */
  get nextRetryAt() { return this._retryTimer === null ? null : this._retryAt; }

  /** Reconnect attempts since the last welcome. */
  get attempt() { return this._attempt; }

  /** The user from the last welcome frame, or null. */
  get user() { return this._user; }

  /** The socket URL without token and since. */
  get url() { return this._url; }

  /** Copies of the 'message' frames not yet echoed by the server, oldest first. */
  get pending() { return [...this._pending.values()].map((p) => ({ ...p.frame })); }

  /** Number of frames waiting for a socket (unconfirmed messages count while offline). */
  get queued() { return this._isLive() ? this._queue.length : this._outboxSize(); }

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
    const ws = this._ws;
    this._teardownSocket();
    this._clearSession();
    if (ws) safeClose(ws, code, reason);
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
    const out = typeof frame === 'string' ? frame : { ...frame };
    const isMessage = typeof out === 'object' && out.type === 'message';
    if (isMessage) {
      if (out.client_id == null) out.client_id = this._makeClientId();
      if (typeof out.client_id !== 'string' || out.client_id.length > MAX_CLIENT_ID) {
        throw new RangeError(`client_id must be a string of at most ${MAX_CLIENT_ID} characters`);
      }
      const known = this._pending.has(out.client_id);
      if (!known && this._pending.size >= this._opts.maxQueue) {
        throw new QueueFullError(this._opts.maxQueue);
      }
    }
    const live = this._isLive();
    if (!live && this._outboxSize() >= this._opts.maxQueue) {
      throw new QueueFullError(this._opts.maxQueue);
    }
    if (live) this._transmit(out);
    else this._queue.push(out);
    if (isMessage) {
      this._pending.set(out.client_id, { frame: out, queued: !live });
      this._emit('pending', this.pending);
    }
    return typeof out === 'string' ? out : { ...out };
  }

  /** Send a chat message; shorthand for send({type:'message', body, ...extra}). */
  sendMessage(body, extra = {}) {
    return this.send({ ...extra, type: 'message', body });
  }

  /** Give up on a pending message (e.g. the server refused it): no more resends. */
  discard(clientId) {
    if (!this._pending.delete(clientId)) return false;
    this._queue = this._queue.filter((f) => typeof f !== 'object' || f.client_id !== clientId);
    this._emit('pending', this.pending);
    return true;
  }

  // ---- connection lifecycle ---------------------------------------------------------

  _dial() {
    const gen = ++this._gen;
    let token;
    try {
      token = this._tokenForConnect();
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

  /** The token for the next handshake; refreshed first if it has already expired. */
  _tokenForConnect() {
    const fresh = (t) => {
      const exp = jwtExp(t);
      // An expired token is refused with a bare HTTP 403, which looks like a network
      // drop (1006) to a browser: refresh first rather than retry it forever.
      if (t && this._refreshToken && exp !== null && exp * 1000 <= this._now()) {
        return this._doRefresh();
      }
      return t ?? null;
    };
    const t = this._getToken ? this._getToken() : this._token;
    return isThenable(t) ? t.then(fresh) : fresh(t);
  }

  _openSocket(token) {
    this._activeToken = token || null;
    const url = new URL(this._url);
    if (token) url.searchParams.set('token', token);
    if (this.room != null && this._lastSeq != null) url.searchParams.set('since', String(this._lastSeq));
    let ws;
    try {
      ws = new this._WebSocket(url.toString());
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
    this._ws = ws;
    ws.onopen = () => { if (ws === this._ws) this._onOpen(); };
    ws.onmessage = (ev) => { if (ws === this._ws) this._onMessage(ev); };
    ws.onclose = (ev) => {
      if (ws !== this._ws) return;
      this._teardownSocket();
      this._handleDrop(ev.code, ev.reason ?? '');
    };
    ws.onerror = () => {}; // the close event that always follows carries the code
    // A handshake can hang without ever failing (a dead proxy, a black-holed SYN).
    this._connectTimer = this._later(() => {
      this._connectTimer = null;
      this._linkDead('connect timeout');
    }, this._opts.connectTimeout);
  }

  _onOpen() {
    this._lastRx = this._now();
    if (!this._expectWelcome) this._ready(null);
  }

  _onMessage(ev) {
    this._lastRx = this._now();
    if (typeof ev.data !== 'string') {
      this._emit('raw', ev.data);
      return;
    }
    let frame;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      // Not JSON (the echo endpoint returns whatever it was sent): hand it over as is.
      this._emit('raw', ev.data);
      return;
    }
    if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
      this._emit('raw', ev.data);
      return;
    }
    this._emit('frame', frame);
    const type = typeof frame.type === 'string' ? frame.type : null;
    if (type === 'welcome' && this._expectWelcome) {
      this._ready(frame);
    } else if (type === 'message') {
      this._ingest(frame, 'live');
    } else if (type !== null && !LIFECYCLE.has(type)) {
      this._emit(type, frame);
    }
  }

  /** The link is usable: after the welcome frame (chat, notify) or the open (echo). */
  _ready(welcome) {
    this._clear('_connectTimer');
    this._attempt = 0;
    this._openedAt = this._now();
    if (welcome) {
      if (welcome.user) this._user = welcome.user;
      const seconds = Number(welcome.heartbeat_interval);
      this._startHeartbeat(seconds > 0 ? seconds * 1000 : this._opts.heartbeatInterval);
    } else {
      this._startHeartbeat(this._opts.heartbeatInterval);
    }
    this._scheduleTokenRefresh();
    if (welcome) {
      this._emit('welcome', welcome);
      if (this.room != null) this._ingestWelcome(welcome);
    }
    // Flush before announcing 'open', so frames sent from 'state' handlers follow the
    // queued ones instead of overtaking them.
    this._flushOutbox();
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
    const delay = this._delayFor(action);
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

  _delayFor(action) {
    const backoff = () => backoffDelay(this._attempt, this._opts, this._random);
    switch (action) {
      case 'now':
        return 0;
      case 'restart':
        // Spread a drained node's clients over a second; if that reconnect fails too,
        // the node pool is in trouble and the normal backoff applies.
        return this._attempt === 0 ? Math.floor(this._random() * this._opts.restartJitter) : backoff();
      case 'long_backoff':
        return this._opts.rateLimitDelay + backoff();
      default:
        return backoff();
    }
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
    if (!this._refreshToken || this._authStreak > MAX_AUTH_STREAK) {
      this._authRequired(null, code);
      return;
    }
    this._setState('reconnecting', { code, reason });
    const gen = this._gen;
    this._doRefresh().then(
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
    const ws = this._ws;
    this._teardownSocket();
    if (ws) safeClose(ws, 4408, reason);
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
    const ws = this._ws;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
      this._ws = null;
    }
    this._clear('_connectTimer');
    this._clear('_hbTimer');
    this._clear('_watchdog');
    this._clear('_refreshTimer');
  }

  _clearSession() {
    this._clear('_retryTimer');
    this._clear('_gapTimer');
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

  // ---- heartbeat ---------------------------------------------------------------------

  _startHeartbeat(intervalMs) {
    if (!this._opts.heartbeat) return;
    const tick = () => {
      this._hbTimer = this._later(tick, intervalMs);
      this._transmit({ type: 'heartbeat' });
    };
    this._hbTimer = this._later(tick, intervalMs);
    this._deadAfter = intervalMs * this._opts.heartbeatTimeoutFactor;
    this._armWatchdog();
  }

  /** One timer for liveness, re-armed lazily, instead of a reset on every frame. */
  _armWatchdog() {
    const due = this._lastRx + this._deadAfter - this._now();
    this._watchdog = this._later(() => {
      this._watchdog = null;
      if (this._now() - this._lastRx >= this._deadAfter) this._linkDead('heartbeat timeout');
      else this._armWatchdog();
    }, Math.max(0, due));
  }

  // ---- tokens --------------------------------------------------------------------------

  /** One refresh at a time: a 4401 and the expiry timer may ask together. */
  _doRefresh() {
    if (!this._refreshToken) return Promise.reject(new RealtimeError('no refreshToken option', 'no_refresh'));
    if (!this._refreshing) {
      this._refreshing = Promise.resolve()
        .then(() => this._refreshToken())
        .then((token) => {
          if (typeof token !== 'string' || !token) {
            throw new RealtimeError('refreshToken() did not return a token', 'bad_token');
          }
          this._token = token;
          return token;
        })
        .finally(() => { this._refreshing = null; });
    }
    return this._refreshing;
  }

  _scheduleTokenRefresh() {
    this._clear('_refreshTimer');
    if (!this._refreshToken) return;
    const exp = jwtExp(this._activeToken);
    if (exp === null) return;
    const remaining = exp * 1000 - this._now();
    // Half the remaining life when the token is shorter-lived than refreshSkew, so a
    // server issuing short tokens cannot put the client in a tight refresh loop.
    const delay = Math.max(0, remaining - this._opts.refreshSkew, remaining / 2);
    this._refreshTimer = this._later(() => {
      this._refreshTimer = null;
      this._refreshOnSocket();
    }, delay);
  }

  async _refreshOnSocket() {
    const ws = this._ws;
    let token;
    try {
      token = await this._doRefresh();
    } catch (error) {
      // Not final: the server will close with 4401 at expiry, and that path retries.
      this._emit('token_refresh_failed', { error });
      return;
    }
    if (ws === null || ws !== this._ws || !this._isLive()) return; // the next dial uses it
    this._activeToken = token;
    this._transmit({ type: 'auth', token });
    this._emit('token_refreshed', { exp: jwtExp(token) });
    this._scheduleTokenRefresh();
  }

  // ---- outgoing ------------------------------------------------------------------------

  _isLive() {
    return this._state === 'open' && this._ws !== null && this._ws.readyState === WS_OPEN;
  }

  _outboxSize() {
    let unsent = this._queue.length;
    for (const p of this._pending.values()) if (!p.queued) unsent += 1;
    return unsent;
  }

  _transmit(frame) {
    if (!this._ws) return;
    this._ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** After a (re)connect: first the messages a dead socket may have lost, then the queue. */
  _flushOutbox() {
    for (const p of this._pending.values()) if (!p.queued) this._transmit(p.frame);
    while (this._queue.length > 0) {
      const frame = this._queue.shift();
      this._transmit(frame);
      if (typeof frame === 'object' && frame.type === 'message') {
        const p = this._pending.get(frame.client_id);
        if (p) p.queued = false;
      }
    }
  }

  // ---- incoming messages: echo, dedupe, order, backfill ---------------------------------

  _confirm(msg) {
    if (typeof msg.client_id !== 'string' || !this._pending.has(msg.client_id)) return;
    // client_ids are public in room broadcasts: only our own user's echo confirms.
    if (this._user && msg.user && msg.user.id !== this._user.id) return;
    this._pending.delete(msg.client_id);
    this._emit('ack', { client_id: msg.client_id, message: msg });
    this._emit('pending', this.pending);
  }

  /**
   * Deliver a message once and, in a room, in seq order. A message past a gap is held
   * for gapGrace ms (the channel layer may reorder two commits), then the gap is
   * backfilled over REST.
   * @returns {'delivered'|'held'|'duplicate'}
   */
  _ingest(msg, source) {
    this._confirm(msg);
    if (msg.id != null && this._seen.has(msg.id)) return 'duplicate';
    if (this.room == null || !Number.isInteger(msg.seq)) {
      this._deliver(msg, source);
      return 'delivered';
    }
    if (this._lastSeq !== null && msg.seq <= this._lastSeq) return 'duplicate';
    if (this._lastSeq === null || msg.seq === this._lastSeq + 1) {
      this._deliver(msg, source);
      this._drainHeld();
      return 'delivered';
    }
    if (this._held.has(msg.seq)) return 'duplicate';
    this._held.set(msg.seq, { msg, source });
    this._armGapTimer();
    return 'held';
  }

  _deliver(msg, source) {
    if (msg.id != null) {
      this._seen.add(msg.id);
      if (this._seen.size > SEEN_IDS) this._seen.delete(this._seen.values().next().value);
    }
    if (Number.isInteger(msg.seq) && (this._lastSeq === null || msg.seq > this._lastSeq)) {
      this._lastSeq = msg.seq;
    }
    this._emit('message', msg, { source });
  }

  _drainHeld() {
    while (this._held.has(this._lastSeq + 1)) {
      const { msg, source } = this._held.get(this._lastSeq + 1);
      this._held.delete(msg.seq);
      this._deliver(msg, source);
    }
    // Anything held at or below lastSeq arrived twice.
    for (const seq of this._held.keys()) if (seq <= this._lastSeq) this._held.delete(seq);
    if (this._held.size === 0) this._clear('_gapTimer');
  }

  /** Deliver whatever is held, in order, accepting a gap nothing can fill. */
  _releaseHeld() {
    const rest = [...this._held.values()].sort((a, b) => a.msg.seq - b.msg.seq);
    this._held.clear();
    this._clear('_gapTimer');
    for (const { msg, source } of rest) if (!this._seen.has(msg.id)) this._deliver(msg, source);
  }

  _armGapTimer() {
    if (this._backfilling || this._gapTimer !== null) return;
    this._gapTimer = this._later(() => {
      this._gapTimer = null;
      if (this._held.size > 0) this._backfill('gap');
    }, this._opts.gapGrace);
  }

  _ingestWelcome(welcome) {
    const history = Array.isArray(welcome.history) ? [...welcome.history] : [];
    history.sort((a, b) => a.seq - b.seq);
    for (const msg of history) if (msg && typeof msg === 'object') this._ingest(msg, 'history');
    // More than the 500 the welcome may carry: page the rest over REST.
    if (welcome.complete === false) this._backfill('incomplete');
  }

  /** Page GET /api/rooms/<slug>/messages/?after=<seq> until a short page. */
  async _backfill(reason) {
    if (this._backfilling) return;
    this._backfilling = true;
    this._clear('_gapTimer');
    const from = this._lastSeq ?? 0;
    const firstHeld = this._held.size > 0 ? Math.min(...this._held.keys()) : null;
    this._emit('gap', { room: this.room, after: from, next: firstHeld, reason });
    let count = 0;
    let error = null;
    try {
      if (!this._fetch) throw new RealtimeError('no fetch available for backfill', 'no_fetch');
      const limit = this._opts.backfillLimit;
      let after = from;
      for (;;) {
        const page = await this._fetchPage(after, limit);
        if (this._closedByUser) return;
        page.sort((a, b) => a.seq - b.seq);
        for (const msg of page) if (this._ingest(msg, 'backfill') === 'delivered') count += 1;
        const last = page.length > 0 ? page[page.length - 1].seq : after;
        if (page.length < limit || !(last > after)) break;
        after = last;
      }
    } catch (err) {
      error = err;
    } finally {
      this._backfilling = false;
    }
    if (this._held.size > 0) {
      // Progress means the rest may still be in flight: wait for it again. No progress
      // or a failure means REST (the source of truth) cannot fill it: stop stalling.
      if (error === null && count > 0) this._armGapTimer();
      else this._releaseHeld();
    }
    this._emit('backfill', { room: this.room, after: from, count, ok: error === null, error });
  }

  async _fetchPage(after, limit) {
    const headers = { Accept: 'application/json' };
    if (this._activeToken) headers.Authorization = `Bearer ${this._activeToken}`;
    const res = await this._fetch(this._backfillUrl(this.room, after, limit), {
      headers,
      credentials: 'same-origin', // session-authenticated pages
    });
    if (!res.ok) throw new RealtimeError(`backfill failed: HTTP ${res.status}`, 'backfill_http');
    const data = await res.json();
    // A bare list, or a DRF paginated envelope.
    const items = Array.isArray(data) ? data : data?.results;
    if (!Array.isArray(items)) throw new RealtimeError('backfill: unexpected response shape', 'backfill_shape');
    return items.filter((m) => m && typeof m === 'object' && Number.isInteger(m.seq));
  }

  // ---- plumbing ------------------------------------------------------------------------

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

  _later(fn, ms) {
    return this._setTimeout(fn, Math.min(MAX_TIMER, ms));
  }

  _clear(name) {
    if (this[name] !== null) {
      this._clearTimeout(this[name]);
      this[name] = null;
    }
  }
}

function isThenable(value) {
  return value !== null && typeof value === 'object' && typeof value.then === 'function';
}

function safeClose(ws, code, reason) {
  try {
    ws.close(code, reason);
  } catch (err) {
    // Closing an already-closing socket may throw in old browsers; it is going anyway.
    defaultReportError(err);
  }
}

function defaultReportError(err) {
  if (typeof globalThis.reportError === 'function') globalThis.reportError(err);
  else console.error(err);
}

function resolveSocketUrl(url, location) {
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

function httpOrigin(url) {
  return `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`;
}

function roomFromPath(pathname) {
  const m = /^\/ws\/chat\/([^/]+)\/?$/.exec(pathname);
  return m ? decodeURIComponent(m[1]) : null;
}
