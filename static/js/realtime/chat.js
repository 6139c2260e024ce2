/**
 * realtime/chat.js: the chat sequencer. Message frames from a room's socket, its
 * welcome history and REST backfill all pass through here to be delivered once (by
 * id) and in `seq` order; it tracks the last seq for resuming with `?since=`, holds a
 * message past a gap for a moment (the channel layer may reorder two commits), then
 * pages the gap from GET /api/rooms/<slug>/messages/?after=<seq> (PROTOCOL.md section 4:
 * the database is the source of truth).
 *
 * Without a room (notify, echo) it only dedupes by id. It owns no socket: the client
 * hands it frames and lends it its timers, fetch, events and token.
 */
import { RealtimeError } from './errors.js';

const SEEN_IDS = 5000; // ids remembered for dedupe

/** The room slug of a /ws/chat/<slug>/ socket path, or null. */
export function roomFromPath(pathname) {
  const m = /^\/ws\/chat\/([^/]+)\/?$/.exec(pathname);
  return m ? decodeURIComponent(m[1]) : null;
}

/** The http(s) origin of a ws(s) URL: where the REST API of that socket lives. */
export function httpOrigin(url) {
  return `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}`;
}

/** The default `backfillUrl`: the messages endpoint under `restBase`. */
export function messagesUrl(restBase) {
  const base = restBase.replace(/\/+$/, '');
  return (room, after, limit) =>
    `${base}/api/rooms/${encodeURIComponent(room)}/messages/?after=${after}&limit=${limit}`;
}

/** Orders, dedupes and backfills one socket's messages. */
export class ChatSequencer {
  /**
   * @param {object} o
   *   room, lastSeq     the room slug (null: dedupe only) and the seq already shown;
   *   gapGrace, backfillLimit, backfillUrl, fetch   see static/js/README.md;
   *   later(fn, ms), cancel(timer)   the client's timers;
   *   emit(type, ...args)            the client's events ('message', 'gap', 'backfill');
   *   confirm(msg)      called for every message first (our own echo ends its resends);
   *   token()           the socket's access token, for the REST call, or null;
   *   stopped()         whether the client was closed by its user.
   */
  constructor(o) {
    this.room = o.room;
    this._lastSeq = o.lastSeq;
    this._gapGrace = o.gapGrace;
    this._backfillLimit = o.backfillLimit;
    this._backfillUrl = o.backfillUrl;
    this._fetch = o.fetch;
    this._later = o.later;
    this._cancel = o.cancel;
    this._emit = o.emit;
    this._confirm = o.confirm;
    this._token = o.token;
    this._stopped = o.stopped;
    this._seen = new Set();
    this._held = new Map(); // seq -> { msg, source }
    this._gapTimer = null;
    this._backfilling = false;
  }

  /** Highest message seq delivered for the room, or null. */
  get lastSeq() {
    return this._lastSeq;
  }

  /** Add since=<last seq> to the URL of the next handshake, in a room. */
  resumeParams(url) {
    if (this.room != null && this._lastSeq != null) url.searchParams.set('since', String(this._lastSeq));
  }

  /** The welcome's history (and, when it is incomplete, a backfill of the rest). */
  welcome(welcome) {
    if (this.room == null) return;
    const history = Array.isArray(welcome.history) ? [...welcome.history] : [];
    history.sort((a, b) => a.seq - b.seq);
    for (const msg of history) if (msg && typeof msg === 'object') this.ingest(msg, 'history');
    // More than the 500 the welcome may carry: page the rest over REST.
    if (welcome.complete === false) this._backfill('incomplete');
  }

  /** The client was closed: no gap timer may fire. */
  stop() {
    this._clearGapTimer();
  }

  /**
   * Deliver a message once and, in a room, in seq order. A message past a gap is held
   * for gapGrace ms (the channel layer may reorder two commits), then the gap is
   * backfilled over REST.
   * @returns {'delivered'|'held'|'duplicate'}
   */
  ingest(msg, source) {
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
    if (this._held.size === 0) this._clearGapTimer();
  }

  /** Deliver whatever is held, in order, accepting a gap nothing can fill. */
  _releaseHeld() {
    const rest = [...this._held.values()].sort((a, b) => a.msg.seq - b.msg.seq);
    this._held.clear();
    this._clearGapTimer();
    for (const { msg, source } of rest) if (!this._seen.has(msg.id)) this._deliver(msg, source);
  }

  _armGapTimer() {
    if (this._backfilling || this._gapTimer !== null) return;
    this._gapTimer = this._later(() => {
      this._gapTimer = null;
      if (this._held.size > 0) this._backfill('gap');
    }, this._gapGrace);
  }

  _clearGapTimer() {
    if (this._gapTimer !== null) {
      this._cancel(this._gapTimer);
      this._gapTimer = null;
    }
  }

  /** Page GET /api/rooms/<slug>/messages/?after=<seq> until a short page. */
  async _backfill(reason) {
    if (this._backfilling) return;
    this._backfilling = true;
    this._clearGapTimer();
    const from = this._lastSeq ?? 0;
    const firstHeld = this._held.size > 0 ? Math.min(...this._held.keys()) : null;
    this._emit('gap', { room: this.room, after: from, next: firstHeld, reason });
    let count = 0;
    let error = null;
    try {
      if (!this._fetch) throw new RealtimeError('no fetch available for backfill', 'no_fetch');
      const limit = this._backfillLimit;
      let after = from;
      for (;;) {
        const page = await this._fetchPage(after, limit);
        if (this._stopped()) return;
        page.sort((a, b) => a.seq - b.seq);
        for (const msg of page) if (this.ingest(msg, 'backfill') === 'delivered') count += 1;
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
    const token = this._token();
    if (token) headers.Authorization = `Bearer ${token}`;
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
}
