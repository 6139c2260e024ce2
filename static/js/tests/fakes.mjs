// Test doubles for realtime-client.js: a fake clock, a scriptable fake WebSocket, a
// fake fetch, and helpers that build a client wired to all of them.

import { RealtimeClient } from '../realtime-client.js';

/** Timers that only move when the test says so. Ties fire in creation order. */
export class FakeClock {
  constructor(start = 1_700_000_000_000) {
    this._now = start;
    this._timers = new Map();
    this._nextId = 1;
    this.now = () => this._now;
    this.setTimeout = (fn, ms = 0) => {
      const id = this._nextId++;
      this._timers.set(id, { id, fn, at: this._now + Math.max(0, ms) });
      return id;
    };
    this.clearTimeout = (id) => {
      this._timers.delete(id);
    };
  }

  /** Move time forward by ms, firing every timer that falls due, in order. */
  advance(ms) {
    const end = this._now + ms;
    for (;;) {
      let next = null;
      for (const t of this._timers.values()) {
        if (t.at <= end && (next === null || t.at < next.at || (t.at === next.at && t.id < next.id))) {
          next = t;
        }
      }
      if (next === null) break;
      this._timers.delete(next.id);
      this._now = next.at;
      next.fn();
    }
    this._now = end;
  }

  /** Delays (from now) of the timers waiting, soonest first. */
  get delays() {
    return [...this._timers.values()].map((t) => t.at - this._now).sort((a, b) => a - b);
  }

  get size() {
    return this._timers.size;
  }
}

/** A fresh WebSocket double class per test, so instances never leak between tests. */
export function fakeWebSocketClass() {
  class FakeWebSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    static instances = [];

    static get last() {
      return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    }

    constructor(url) {
      this.url = url;
      this.readyState = FakeWebSocket.CONNECTING;
      this.sent = [];
      this.closedWith = null;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      FakeWebSocket.instances.push(this);
    }

    send(data) {
      if (this.readyState !== FakeWebSocket.OPEN) throw new Error('InvalidStateError: not open');
      this.sent.push(data);
    }

    close(code, reason) {
      this.closedWith = { code, reason };
      this.readyState = FakeWebSocket.CLOSING;
    }

    /** The frames the client sent, parsed. */
    get frames() {
      return this.sent.map((s) => JSON.parse(s));
    }

    get params() {
      return new URL(this.url).searchParams;
    }

    // -- the server's side --
    serverOpen() {
      this.readyState = FakeWebSocket.OPEN;
      this.onopen?.({ type: 'open' });
    }

    serverSend(frame) {
      this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
    }

    serverClose(code, reason = '') {
      this.readyState = FakeWebSocket.CLOSED;
      this.onclose?.({ code, reason, wasClean: code !== 1006 });
    }
  }
  return FakeWebSocket;
}

/** Replays values in a loop: deterministic "randomness". */
export function fixedRandom(...values) {
  let i = 0;
  return () => values[i++ % values.length];
}

/** A fetch double answering from `handler(url)` with a JSON body; records calls. */
export function fakeFetch(handler) {
  const fetch = async (url, init) => {
    fetch.calls.push({ url: String(url), init });
    const out = await handler(String(url));
    const status = out?.status ?? 200;
    const body = out?.status ? out.body : out;
    return { ok: status >= 200 && status < 300, status, json: async () => body };
  };
  fetch.calls = [];
  return fetch;
}

/** A REST messages endpoint over `messages`, honouring after and limit. */
export function messagesEndpoint(messages) {
  return (url) => {
    const u = new URL(url);
    const after = Number(u.searchParams.get('after'));
    const limit = Number(u.searchParams.get('limit'));
    return messages.filter((m) => m.seq > after).slice(0, limit);
  };
}

/** Let pending promise callbacks run (no time passes; this is not a sleep). */
export function flush() {
  return new Promise((resolve) => setImmediate(resolve));
}

export const ALICE = Object.freeze({ id: 1, username: 'alice' });
export const BOB = Object.freeze({ id: 2, username: 'bob' });

/** A chat message frame with seq n (id 1000+n unless given). */
export function msg(seq, extra = {}) {
  return {
    type: 'message',
    id: 1000 + seq,
    seq,
    room: 'lobby',
    user: BOB,
    body: `m${seq}`,
    ts: '2024-01-01T00:00:00Z',
    client_id: null,
    ...extra,
  };
}

export function welcome(extra = {}) {
  return {
    type: 'welcome',
    room: 'lobby',
    user: ALICE,
    connection_id: 'c1',
    heartbeat_interval: 25,
    online: [ALICE],
    online_count: 1,
    history: [],
    complete: true,
    ...extra,
  };
}

/** An unsigned JWT with the given claims (only the payload matters to the client). */
export function makeJwt(claims) {
  const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
  return `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}.sig`;
}

/**
 * A client on `url` wired to fakes. Returns the client, the fakes and `events`, a log
 * of every lifecycle and frame event as [type, payload].
 */
export function setup(options = {}, url = 'ws://chat.test/ws/chat/lobby/') {
  const clock = new FakeClock();
  const WS = fakeWebSocketClass();
  const target = new EventTarget();
  const errors = [];
  const client = new RealtimeClient(url, {
    WebSocket: WS,
    timers: clock,
    random: () => 0.5,
    eventTarget: target,
    reportError: (err) => errors.push(err),
    fetch: fakeFetch(() => []),
    ...options,
  });
  const events = [];
  const types = [
    'state', 'retry', 'fatal', 'auth_required', 'ack', 'pending', 'gap', 'backfill',
    'token_refreshed', 'token_refresh_failed', 'raw', 'welcome', 'message', 'presence',
    'system', 'error', 'heartbeat', 'auth', 'notification', 'unread',
  ];
  for (const type of types) client.on(type, (payload, meta) => events.push([type, payload, meta]));
  const of = (type) => events.filter(([t]) => t === type).map(([, p]) => p);
  return { client, clock, WS, target, errors, events, of };
}

/** connect(), then open the socket and send the welcome. */
export function connectAndWelcome(ctx, welcomeExtra = {}) {
  if (ctx.client.state === 'idle' || ctx.client.state === 'closed') ctx.client.connect();
  const ws = ctx.WS.last;
  ws.serverOpen();
  ws.serverSend(welcome(welcomeExtra));
  return ws;
}
