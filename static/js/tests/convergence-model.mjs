// The model and the seeded run behind convergence.test.mjs.
//
// Convergence (PROTOCOL.md section 10): "a client that applies the welcome and then live
// frames holds, for every message it has, exactly the server's current state, after any
// number of disconnects."
//
// A fake server model keeps a room exactly as the contract says (gapless seq, a room rev
// bumped by every change and stamped on the message, tombstones, toggled reactions,
// idempotent client_id, welcome history and changes with since/rev, complete:false past
// a bound, REST `after` and `changes/?rev=` pages). Seeded random runs then send, edit,
// delete and react (other users on the server, and the client itself over its socket)
// while the client's socket drops, frames are reordered, and REST answers come back late
// (computed when asked, delivered after newer live frames). After settling, every
// message the client holds, and every message a page built from its events shows, must
// equal the server's current state field for field.
import assert from 'node:assert/strict';

import { RealtimeClient } from '../realtime-client.js';
import { FakeClock, fakeWebSocketClass, flush } from './fakes.mjs';

/** mulberry32: a small seeded PRNG, so a failing seed can be replayed. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const USERS = [{ id: 1, username: 'alice' }, { id: 2, username: 'bob' }, { id: 3, username: 'carol' }];
const ME = USERS[0];
const EMOJI = ['👍', '🎉', '❤️', 'ok'];

/** One room, as the contract describes the server's side of it. */
class RoomModel {
  constructor({ historyLast, welcomeMax, pageMax, creationBumps }) {
    this.historyLast = historyLast; // "the last 50 messages"
    this.welcomeMax = welcomeMax; // "at most 500"
    this.pageMax = pageMax; // REST page size
    this.creationBumps = creationBumps; // whether a new message takes a rev (the contract is silent)
    this.messages = []; // index seq-1
    this.rev = 0;
    this.clock = 0;
    this.byClientId = new Map();
    this.sockets = new Set(); // { ws, queue, read }
  }

  ts() {
    this.clock += 1;
    return new Date(Date.UTC(2026, 0, 1) + this.clock * 1000).toISOString();
  }

  frame(m) {
    return {
      type: 'message',
      id: m.id,
      seq: m.seq,
      room: 'lobby',
      user: m.user,
      body: m.deleted ? '' : m.body,
      ts: m.ts,
      client_id: m.client_id,
      rev: m.rev,
      edited: m.edited,
      deleted: m.deleted,
      reactions: m.deleted ? [] : [...m.reactions].map(([emoji, users]) => ({ emoji, count: users.length, users: users.slice(0, 100) })),
      reply_to: m.reply_to,
    };
  }

  broadcast(frame) {
    for (const s of this.sockets) s.queue.push(JSON.stringify(frame));
  }

  create(user, body, clientId = null, replyTo = null, socket = null) {
    if (clientId !== null) {
      const key = `${user.id}:${clientId}`;
      if (this.byClientId.has(key)) {
        // Idempotent: the sender gets the original back, nobody gets a second one.
        socket?.queue.push(JSON.stringify(this.frame(this.messages[this.byClientId.get(key) - 1])));
        return;
      }
    }
    const seq = this.messages.length + 1;
    const target = replyTo ? this.messages[replyTo - 1] : null;
    const m = {
      id: 500 + seq * 3, seq, user, body, ts: this.ts(), client_id: clientId,
      rev: this.creationBumps ? ++this.rev : 0, edited: null, deleted: false, reactions: new Map(),
      reply_to: target ? { id: target.id, seq: target.seq, user: target.user, preview: target.deleted ? '' : target.body.slice(0, 100) } : null,
    };
    this.messages.push(m);
    if (clientId !== null) this.byClientId.set(`${user.id}:${clientId}`, seq);
    this.broadcast(this.frame(m));
  }

  change(m, fn) {
    fn(m);
    m.rev = ++this.rev;
    this.broadcast({ type: 'message_updated', message: this.frame(m) });
  }

  edit(user, id, body) {
    const m = this.messages.find((x) => x.id === id);
    if (!m || m.deleted || m.user.id !== user.id) return;
    this.change(m, () => {
      m.body = body;
      m.edited = this.ts();
    });
  }

  remove(id) {
    const m = this.messages.find((x) => x.id === id);
    if (!m || m.deleted) return;
    this.change(m, () => {
      m.deleted = true;
      m.body = '';
      m.reactions = new Map();
    });
  }

  react(user, id, emoji) {
    const m = this.messages.find((x) => x.id === id);
    if (!m || m.deleted) return;
    this.change(m, () => {
      const users = m.reactions.get(emoji) ?? [];
      const next = users.includes(user.id) ? users.filter((u) => u !== user.id) : [...users, user.id];
      if (next.length) m.reactions.set(emoji, next);
      else m.reactions.delete(emoji);
    });
  }

  /** The welcome for a handshake with `since`/`rev` as the URL has them. */
  welcome(params) {
    const since = params.has('since') ? Number(params.get('since')) : null;
    const rev = params.has('rev') ? Number(params.get('rev')) : null;
    let history;
    let complete = true;
    if (since === null) {
      history = this.messages.slice(-this.historyLast);
    } else {
      history = this.messages.filter((m) => m.seq > since);
      if (history.length > this.welcomeMax) {
        history = history.slice(0, this.welcomeMax);
        complete = false;
      }
    }
    let changes = [];
    if (since !== null && rev !== null) {
      changes = this.messages.filter((m) => m.seq <= since && m.rev > rev).sort((a, b) => a.rev - b.rev);
      if (changes.length > this.welcomeMax) {
        changes = changes.slice(0, this.welcomeMax);
        complete = false;
      }
    }
    return {
      type: 'welcome', room: 'lobby', user: ME, connection_id: 'c', heartbeat_interval: 25,
      online: [ME], online_count: 1, rev: this.rev, complete,
      history: history.map((m) => this.frame(m)),
      changes: changes.map((m) => this.frame(m)),
    };
  }

  /** REST, as the server answers at the moment it is asked. */
  rest(url) {
    const u = new URL(url);
    if (u.pathname.endsWith('/changes/')) {
      const rev = Number(u.searchParams.get('rev'));
      const all = this.messages.filter((m) => m.rev > rev).sort((a, b) => a.rev - b.rev);
      return { results: all.slice(0, this.pageMax).map((m) => this.frame(m)), has_more: all.length > this.pageMax };
    }
    const after = Number(u.searchParams.get('after'));
    const limit = Number(u.searchParams.get('limit'));
    const page = this.messages.filter((m) => m.seq > after).slice(0, limit);
    return { results: page.map((m) => this.frame(m)), has_more: this.messages.filter((m) => m.seq > after).length > limit };
  }

  /** The frames the client sent on a socket since last time. */
  receive(sock) {
    while (sock.read < sock.ws.sent.length) {
      const f = JSON.parse(sock.ws.sent[sock.read]);
      sock.read += 1;
      if (f.type === 'message') this.create(ME, f.body, f.client_id, f.reply_to ?? null, sock);
      else if (f.type === 'edit') this.edit(ME, f.id, f.body);
      else if (f.type === 'delete') {
        const m = this.messages.find((x) => x.id === f.id);
        if (m && m.user.id === ME.id) this.remove(f.id);
      } else if (f.type === 'react') this.react(ME, f.id, f.emoji);
    }
  }
}

/**
 * One seeded run; returns a description of the first difference, or null. `stats`, if
 * given, gets how much of the contract the run went through.
 */
export async function run(seed, steps = 150, stats = {}) {
  const rnd = prng(seed);
  const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
  const chance = (p) => rnd() < p;
  const server = new RoomModel({
    historyLast: 1 + Math.floor(rnd() * 8),
    welcomeMax: 1 + Math.floor(rnd() * 6),
    pageMax: 1 + Math.floor(rnd() * 5),
    creationBumps: chance(0.5),
  });
  for (let i = 0, n = Math.floor(rnd() * 12); i < n; i += 1) server.create(pick(USERS), `old ${i}`);

  // REST answers are computed when asked and delivered when the run says so.
  const inflight = [];
  const fetch = (url) => {
    const body = server.rest(String(url));
    return new Promise((resolve) => inflight.push(() => resolve({ ok: true, status: 200, json: async () => body })));
  };
  const clock = new FakeClock();
  const WS = fakeWebSocketClass();
  let nextClientId = 0;
  const client = new RealtimeClient('ws://chat.test/ws/chat/lobby/', {
    WebSocket: WS, timers: clock, random: () => 0.5, eventTarget: null, fetch, heartbeat: false,
    backfillLimit: server.pageMax, gapGrace: 50, baseDelay: 100, maxDelay: 400, jitter: 'none',
    reportError: (err) => { throw err; },
    makeClientId: () => `c${nextClientId++}`,
  });
  // What a page shows: built from the events alone.
  const page = new Map();
  client.on('message', (m) => page.set(m.id, m));
  client.on('message_updated', ({ message }) => { if (page.has(message.id)) page.set(message.id, message); });

  let sock = null; // the server's side of the client's current socket
  const accept = () => {
    const ws = WS.last;
    if (!ws || ws.readyState !== WS.CONNECTING || ws === sock?.ws) return;
    ws.serverOpen();
    ws.serverSend(server.welcome(ws.params));
    sock = { ws, queue: [], read: 0 };
    server.sockets.add(sock);
  };
  const drop = () => {
    if (!sock) return;
    server.sockets.delete(sock);
    if (sock.ws.readyState === WS.OPEN) sock.ws.serverClose(1006);
    sock = null;
  };
  const pump = (n) => {
    for (let i = 0; i < n && sock && sock.queue.length; i += 1) sock.ws.serverSend(sock.queue.shift());
  };
  const live = () => server.messages.filter((m) => !m.deleted);
  const mine = () => live().filter((m) => m.user.id === ME.id);

  client.connect();
  Object.assign(stats, { drops: 0, changes: 0, incomplete: 0, updates: 0 });
  client.on('message_updated', () => { stats.updates += 1; });
  client.on('welcome', (w) => {
    stats.changes += w.changes.length;
    if (!w.complete) stats.incomplete += 1;
  });
  // Offline spells: a dropped client stays away for a while, as a train in a tunnel does.
  let away = 0;
  for (let step = 0; step < steps; step += 1) {
    if (away > 0) away -= 1;
    else accept();
    const r = rnd();
    if (r < 0.18) {
      server.create(pick(USERS.slice(1)), `s${step}`, null, chance(0.2) && server.messages.length ? 1 + Math.floor(rnd() * server.messages.length) : null);
    } else if (r < 0.3 && server.messages.length) {
      const m = pick(server.messages);
      server.edit(m.user, m.id, `edit ${step}`);
    } else if (r < 0.36 && server.messages.length) {
      server.remove(pick(server.messages).id);
    } else if (r < 0.48 && server.messages.length) {
      server.react(pick(USERS.slice(1)), pick(server.messages).id, pick(EMOJI));
    } else if (r < 0.56) {
      try {
        const c = rnd();
        if (c < 0.4) client.sendMessage(`mine ${step}`);
        else if (c < 0.6 && mine().length) client.edit(pick(mine()).id, `my edit ${step}`);
        else if (c < 0.7 && mine().length) client.deleteMessage(pick(mine()).id);
        else if (live().length) client.react(pick(live()).id, pick(EMOJI));
      } catch {
        // queue full: a page says so; nothing to converge
      }
    } else if (r < 0.74) {
      pump(1 + Math.floor(rnd() * 4));
    } else if (r < 0.8) {
      if (sock) stats.drops += 1;
      drop();
      away = Math.floor(rnd() * 25);
    } else if (r < 0.86 && sock && sock.queue.length > 1) {
      // The channel layer may deliver two commits out of order.
      const i = Math.floor(rnd() * (sock.queue.length - 1));
      [sock.queue[i], sock.queue[i + 1]] = [sock.queue[i + 1], sock.queue[i]];
    } else if (r < 0.93 && inflight.length) {
      inflight.splice(Math.floor(rnd() * inflight.length), 1)[0]();
    } else {
      clock.advance(Math.floor(rnd() * 200));
    }
    if (sock) server.receive(sock);
    await flush();
  }

  // Settle: the network heals; everything in flight arrives; timers run out.
  for (let i = 0; i < 200; i += 1) {
    accept();
    if (sock) server.receive(sock);
    pump(Infinity);
    while (inflight.length) inflight.shift()();
    await flush();
    const quiet = sock && sock.queue.length === 0 && inflight.length === 0 && client.state === 'open'
      && client.pending.length === 0 && sock.read === sock.ws.sent.length;
    if (quiet && i > 3) break;
    clock.advance(500);
  }

  const want = new Map(server.messages.map((m) => [m.id, server.frame(m)]));
  const strip = ({ type, ...m }) => m;
  if (client.state !== 'open') return `client ${client.state} after settling`;
  if (client.lastSeq !== server.messages.length) return `lastSeq ${client.lastSeq}, server has ${server.messages.length}`;
  for (const [label, held] of [['client', client.messages], ['page', [...page.values()]]]) {
    for (const m of held) {
      try {
        assert.deepEqual(strip(m), strip(want.get(m.id)));
      } catch (err) {
        return `${label} holds message ${m.id} (seq ${m.seq}) unlike the server: ${err.message}`;
      }
    }
  }
  // Every message from the first welcome's window on is held.
  const first = Math.min(...[...page.values()].map((m) => m.seq));
  for (const m of server.messages) {
    if (m.seq >= first && !page.has(m.id)) return `the page lacks seq ${m.seq}`;
  }
  if (client.rev === null || client.rev > server.rev) return `rev ${client.rev} vs server ${server.rev}`;
  return null;
}

