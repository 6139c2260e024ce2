/**
 * realtime/chat.js: the chat sequencer. Message frames from a room's socket, its
 * welcome history and REST backfill all pass through here to be delivered once (by
 * id) and in `seq` order; it tracks the last seq for resuming with `?since=`, holds a
 * message past a gap for a moment (the channel layer may reorder two commits), then
 * pages the gap from GET /api/rooms/<slug>/messages/?after=<seq> (PROTOCOL.md section 4:
 * the database is the source of truth).
 *
 * Messages also change (section 10): every state of a message passes through one
 * MessageState (changes.js), which keeps the newest by `rev`; a new state of a message
 * already delivered is a `message_updated` event, and the room's rev (RevCursor) goes
 * into the resume as `&rev=`, with GET /api/rooms/<slug>/changes/?rev= paging what an
 * incomplete welcome left out.
 *
 * Without a room (notify, echo) it only dedupes by id. It owns no socket: the client
 * hands it frames and lends it its timers, fetch, events and token.
 */
import { MessageState, RevCursor } from './changes.js';
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

/** The default `changesUrl`: the changes endpoint under `restBase`. */
export function changesUrl(restBase) {
  const base = restBase.replace(/\/+$/, '');
  return (room, rev) => `${base}/api/rooms/${encodeURIComponent(room)}/changes/?rev=${rev}`;
}

const isMessage = (m) => m !== null && typeof m === 'object' && Number.isInteger(m.id);

/** Orders, dedupes and backfills one socket's messages, and keeps their newest state. */
export class ChatSequencer {
  /**
   * @param {object} o
   *   room, lastSeq     the room slug (null: dedupe only) and the seq already shown;
   *   rev               the room's rev the shown messages are current at, or null;
   *   gapGrace, backfillLimit, backfillUrl, changesUrl, fetch   see static/js/README.md;
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
    this._changesUrl = o.changesUrl ?? null;
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
    this._backfillAgain = null; // a reason to backfill that came while one ran
    this._holds = 0; // messages held so far: did one arrive after a REST page was asked?
    this._state = new MessageState();
    this._rev = new RevCursor(o.rev ?? null);
    this._welcomes = 0; // a changes paging belongs to the welcome that started it
  }

  /** Highest message seq delivered for the room, or null. */
  get lastSeq() {
    return this._lastSeq;
  }

  /** The room's rev every held message is current at (the resume's `rev`), or null. */
  get rev() {
    return this._rev.value;
  }

  /** The newest state known of message `id` (a copy), or null. */
  message(id) {
    const m = this._state.get(id);
    return m ? { ...m } : null;
  }

  /** Every message known, in seq order (copies). */
  messages() {
    return this._state.all();
  }

  /**
   * Messages the page fetched itself (scrollback, a jump to an old message): merged
   * with what is known, so a page older than a live edit never undoes it.
   * @returns the newest state of each, in the order given.
   */
  absorb(list) {
    const out = [];
    for (const msg of list ?? []) if (isMessage(msg)) out.push({ ...this._state.offer(msg).message });
    return out;
  }

  /** Add since=<last seq> (and rev=<rev>) to the URL of the next handshake, in a room. */
  resumeParams(url) {
    if (this.room == null || this._lastSeq == null) return;
    url.searchParams.set('since', String(this._lastSeq));
    if (this._rev.value !== null) url.searchParams.set('rev', String(this._rev.value));
  }

  /**
   * The welcome: its history (new messages) and changes (held ones that changed), and,
   * when it is incomplete, the rest of both over REST.
   */
  welcome(welcome) {
    if (this.room == null) return;
    this._welcomes += 1;
    const fromRev = this._rev.value;
    const history = Array.isArray(welcome.history) ? [...welcome.history] : [];
    history.sort((a, b) => a.seq - b.seq);
    for (const msg of history) if (msg && typeof msg === 'object') this.ingest(msg, 'history');
    const changes = Array.isArray(welcome.changes) ? welcome.changes : [];
    for (const msg of changes) this.update(msg, 'changes');
    if (welcome.complete === false) {
      // More than the 500 the welcome may carry: page the rest over REST.
      this._backfill('incomplete');
      // Messages after `since` come from REST in their current state; only the changes
      // of held messages need paging, and only if we asked for them (a rev was sent).
      // `changes` come oldest change first: the paging goes on after the last of them.
      if (fromRev !== null && Number.isInteger(welcome.rev)) {
        const last = changes.reduce((r, m) => (Number.isInteger(m?.rev) && m.rev > r ? m.rev : r), fromRev);
        this._pageChanges(last, welcome.rev);
      }
      else this._rev.set(welcome.rev);
    } else {
      this._rev.set(welcome.rev);
    }
  }

  /**
   * A new state of a message (`message_updated`, a welcome's changes, a REST page of
   * changes). One not delivered yet goes through the sequencer (in its current state);
   * one delivered is a `message_updated` event when it is newer than the one held.
   */
  update(msg, source) {
    if (!isMessage(msg)) return;
    const ahead = this.room != null && Number.isInteger(msg.seq) && !this._seen.has(msg.id)
      && (this._lastSeq === null || msg.seq > this._lastSeq);
    if (ahead) {
      this.ingest(msg, source);
      return;
    }
    const { message, changed } = this._state.offer(msg);
    if (changed) this._changed(message, source);
  }

  _changed(message, source) {
    this._rev.see(message.rev);
    this._emit('message_updated', { type: 'message_updated', message: { ...message } }, { source });
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
    // Every state goes into the table first: a held message is delivered in its newest.
    const offered = isMessage(msg) ? this._state.offer(msg) : null;
    const old = this.room != null && Number.isInteger(msg.seq) && this._lastSeq !== null
      && msg.seq <= this._lastSeq;
    if ((msg.id != null && this._seen.has(msg.id)) || old) {
      // Seen before, maybe in an older state (a resumed history, a REST page).
      if (offered?.changed) this._changed(offered.message, source);
      return 'duplicate';
    }
    if (this.room == null || !Number.isInteger(msg.seq)) {
      this._deliver(msg, source);
      return 'delivered';
    }
    if (this._lastSeq === null || msg.seq === this._lastSeq + 1) {
      this._deliver(msg, source);
      this._drainHeld();
      return 'delivered';
    }
    if (this._held.has(msg.seq)) return 'duplicate';
    this._held.set(msg.seq, { msg, source });
    this._holds += 1;
    this._armGapTimer();
    return 'held';
  }

  _deliver(msg, source) {
    const best = isMessage(msg) ? this._state.get(msg.id) ?? msg : msg;
    if (msg.id != null) {
      this._seen.add(msg.id);
      if (this._seen.size > SEEN_IDS) this._seen.delete(this._seen.values().next().value);
    }
    if (Number.isInteger(msg.seq) && (this._lastSeq === null || msg.seq > this._lastSeq)) {
      this._lastSeq = msg.seq;
    }
    this._rev.see(best.rev);
    this._emit('message', { ...best }, { source });
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
    if (this._backfilling) {
      // One in flight asked its pages before this reason arose (a new incomplete
      // welcome): it cannot know of what came since, so another runs after it.
      this._backfillAgain = reason;
      return;
    }
    this._backfilling = true;
    this._clearGapTimer();
    const from = this._lastSeq ?? 0;
    const firstHeld = this._held.size > 0 ? Math.min(...this._held.keys()) : null;
    this._emit('gap', { room: this.room, after: from, next: firstHeld, reason });
    let count = 0;
    let error = null;
    let asked = this._holds;
    try {
      if (!this._fetch) throw new RealtimeError('no fetch available for backfill', 'no_fetch');
      const limit = this._backfillLimit;
      let after = from;
      for (;;) {
        asked = this._holds;
        const { items: page, more } = await this._fetchPage(after, limit);
        if (this._stopped()) return;
        page.sort((a, b) => a.seq - b.seq);
        for (const msg of page) if (this.ingest(msg, 'backfill') === 'delivered') count += 1;
        const last = page.length > 0 ? page[page.length - 1].seq : after;
        // The API's has_more says whether to go on; without it, a short page is the end.
        if (more === false || (more === null && page.length < limit) || !(last > after)) break;
        after = last;
      }
    } catch (err) {
      error = err;
    } finally {
      this._backfilling = false;
    }
    if (this._held.size > 0) {
      // Progress, or a message held after the last page was asked (that page could not
      // know of it), means the rest may still come: wait for it again. No progress or a
      // failure means REST (the source of truth) cannot fill it: stop stalling.
      if (error === null && (count > 0 || this._holds !== asked)) this._armGapTimer();
      else this._releaseHeld();
    }
    this._emit('backfill', { room: this.room, after: from, count, ok: error === null, error });
    const again = this._backfillAgain;
    this._backfillAgain = null;
    if (again && !this._stopped()) this._backfill(again);
  }

  /**
   * Page GET /api/rooms/<slug>/changes/?rev=<rev> (messages changed after rev, by rev)
   * until it runs dry; then everything up to `target` (the welcome's rev) is applied.
   * A failure leaves the rev where it was: the next resume asks again.
   */
  async _pageChanges(fromRev, target) {
    const welcomeNo = this._welcomes;
    let rev = fromRev;
    let count = 0;
    let error = null;
    try {
      if (!this._fetch || !this._changesUrl) throw new RealtimeError('no fetch available for changes', 'no_fetch');
      for (;;) {
        const { items, more } = await this._get(this._changesUrl(this.room, rev), 'changes');
        if (this._stopped() || welcomeNo !== this._welcomes) return; // a newer welcome rules
        items.sort((a, b) => (a.rev ?? 0) - (b.rev ?? 0));
        for (const msg of items) this.update(msg, 'backfill');
        count += items.length;
        const last = items.reduce((r, m) => (Number.isInteger(m.rev) && m.rev > r ? m.rev : r), rev);
        if (items.length === 0 || more === false || !(last > rev)) break;
        rev = last;
      }
      this._rev.raise(Math.max(target, rev));
    } catch (err) {
      error = err;
    }
    this._emit('changes_backfill', { room: this.room, rev: fromRev, count, ok: error === null, error });
  }

  async _fetchPage(after, limit) {
    const { items, more } = await this._get(this._backfillUrl(this.room, after, limit), 'backfill');
    return { items: items.filter((m) => Number.isInteger(m.seq)), more };
  }

  /** A GET of a list of messages: a bare list or a page ({results, has_more}). */
  async _get(url, what) {
    const headers = { Accept: 'application/json' };
    const token = this._token();
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await this._fetch(url, {
      headers,
      credentials: 'same-origin', // session-authenticated pages
    });
    if (!res.ok) throw new RealtimeError(`${what} failed: HTTP ${res.status}`, `${what}_http`);
    const data = await res.json();
    const items = Array.isArray(data) ? data : data?.results;
    if (!Array.isArray(items)) throw new RealtimeError(`${what}: unexpected response shape`, `${what}_shape`);
    const more = typeof data?.has_more === 'boolean' ? data.has_more : null;
    return { items: items.filter(isMessage), more };
  }
}
