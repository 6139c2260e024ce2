import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  connectAndWelcome, fakeFetch, flush, messagesEndpoint, msg, setup, welcome,
} from './fakes.mjs';

const seqs = (ctx) => ctx.of('message').map((m) => m.seq);

/** Drop the socket and reconnect after the scheduled delay; returns the new socket. */
function reconnect(ctx, code = 1006) {
  ctx.WS.last.serverClose(code);
  ctx.clock.advance(ctx.of('retry').at(-1).delay);
  return ctx.WS.last;
}

test('the reconnect URL carries since=<last seq> and keeps the other query params', () => {
  const ctx = setup({}, 'ws://chat.test/ws/chat/lobby/?lang=de&token=abc');
  const ws1 = connectAndWelcome(ctx, { history: [msg(4), msg(5)] });
  assert.equal(ws1.url, 'ws://chat.test/ws/chat/lobby/?lang=de&token=abc');
  ws1.serverSend(msg(6));
  const ws2 = reconnect(ctx);
  const params = ws2.params;
  assert.equal(params.get('since'), '6');
  assert.equal(params.get('lang'), 'de');
  assert.equal(params.get('token'), 'abc');
  assert.equal(ctx.client.lastSeq, 6);
});

test('a relative chat URL resolves against the page location', () => {
  const ctx = setup({ location: { href: 'https://chat.example/rooms/lobby/' } }, '/ws/chat/lobby/');
  ctx.client.connect();
  assert.equal(ctx.WS.last.url, 'wss://chat.example/ws/chat/lobby/');
  assert.equal(ctx.client.room, 'lobby');
});

test('a since in the given URL seeds lastSeq for the first connect', () => {
  const ctx = setup({}, 'ws://chat.test/ws/chat/lobby/?since=41');
  assert.equal(ctx.client.lastSeq, 41);
  ctx.client.connect();
  assert.equal(ctx.WS.last.params.get('since'), '41');
});

test('the first connect has no since; history messages arrive as message events', () => {
  const ctx = setup();
  connectAndWelcome(ctx, { history: [msg(2), msg(1), msg(3)] });
  assert.equal(ctx.WS.last.params.has('since'), false);
  assert.deepEqual(seqs(ctx), [1, 2, 3]);
  assert.deepEqual(ctx.events.filter(([t]) => t === 'message').map(([, , meta]) => meta.source),
    ['history', 'history', 'history']);
});

test('a message seen twice (live, then in the resume history) is delivered once', () => {
  const ctx = setup();
  const ws = connectAndWelcome(ctx, { history: [msg(1)] });
  ws.serverSend(msg(2));
  ws.serverSend(msg(2));
  reconnect(ctx);
  ctx.WS.last.serverOpen();
  ctx.WS.last.serverSend(welcome({ history: [msg(2), msg(3)] }));
  assert.deepEqual(seqs(ctx), [1, 2, 3]);
});

test('messages are deduplicated by id even without a seq', () => {
  const ctx = setup({}, 'ws://chat.test/ws/notify/user/1/');
  const ws = connectAndWelcome(ctx);
  const m = { type: 'message', id: 5, body: 'x' };
  ws.serverSend(m);
  ws.serverSend(m);
  assert.equal(ctx.of('message').length, 1);
});

test('a seq gap is backfilled over REST and delivered in order', async () => {
  const server = [1, 2, 3, 4, 5, 6].map((n) => msg(n));
  const fetch = fakeFetch(messagesEndpoint(server));
  const ctx = setup({ fetch, token: 'tok' });
  const ws = connectAndWelcome(ctx, { history: [msg(1), msg(2)] });
  ws.serverSend(msg(5));
  ws.serverSend(msg(6));
  assert.deepEqual(seqs(ctx), [1, 2], 'held until the gap is filled');
  ctx.clock.advance(299);
  assert.equal(fetch.calls.length, 0, 'a reordered message gets a grace period first');
  ctx.clock.advance(1);
  await flush();
  assert.equal(fetch.calls.length, 1);
  assert.equal(fetch.calls[0].url, 'http://chat.test/api/rooms/lobby/messages/?after=2&limit=200');
  assert.equal(fetch.calls[0].init.headers.Authorization, 'Bearer tok');
  assert.deepEqual(seqs(ctx), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(ctx.of('gap'), [{ room: 'lobby', after: 2, next: 5, reason: 'gap' }]);
  const [done] = ctx.of('backfill');
  assert.equal(done.ok, true);
  assert.equal(done.count, 2);
  assert.deepEqual(
    ctx.events.filter(([t]) => t === 'message').slice(2).map(([, m, meta]) => [m.seq, meta.source]),
    [[3, 'backfill'], [4, 'backfill'], [5, 'live'], [6, 'live']],
  );
});

test('a message arriving out of order within the grace period needs no backfill', async () => {
  const fetch = fakeFetch(() => assert.fail('no REST call expected'));
  const ctx = setup({ fetch });
  const ws = connectAndWelcome(ctx, { history: [msg(1)] });
  ws.serverSend(msg(3));
  ws.serverSend(msg(2));
  ctx.clock.advance(1000);
  await flush();
  assert.deepEqual(seqs(ctx), [1, 2, 3]);
  assert.equal(fetch.calls.length, 0);
});

test('backfill pages with after=<last seq> until a short page comes back', async () => {
  const server = Array.from({ length: 12 }, (_, i) => msg(i + 1));
  const fetch = fakeFetch(messagesEndpoint(server));
  const ctx = setup({ fetch, backfillLimit: 5 });
  const ws = connectAndWelcome(ctx, { history: [msg(1)] });
  ws.serverSend(msg(12));
  ctx.clock.advance(300);
  await flush();
  assert.deepEqual(fetch.calls.map((c) => new URL(c.url).searchParams.get('after')), ['1', '6', '11']);
  assert.deepEqual(seqs(ctx), server.map((m) => m.seq));
});

test('an incomplete welcome history is backfilled at once', async () => {
  const server = Array.from({ length: 8 }, (_, i) => msg(i + 1));
  const fetch = fakeFetch(messagesEndpoint(server));
  const ctx = setup({ fetch, lastSeq: 2 });
  connectAndWelcome(ctx, { history: [msg(3), msg(4)], complete: false });
  assert.equal(ctx.WS.last.params.get('since'), '2');
  await flush();
  assert.equal(new URL(fetch.calls[0].url).searchParams.get('after'), '4');
  assert.deepEqual(seqs(ctx), [3, 4, 5, 6, 7, 8]);
  assert.equal(ctx.of('gap')[0].reason, 'incomplete');
});

test('backfill accepts a DRF paginated envelope and uses a custom backfillUrl', async () => {
  const fetch = fakeFetch(() => ({ count: 1, next: null, results: [msg(2)] }));
  const ctx = setup({
    fetch,
    backfillUrl: (room, after, limit) => `/custom/${room}?a=${after}&l=${limit}`,
  });
  const ws = connectAndWelcome(ctx, { history: [msg(1)] });
  ws.serverSend(msg(3));
  ctx.clock.advance(300);
  await flush();
  assert.equal(fetch.calls[0].url, '/custom/lobby?a=1&l=200');
  assert.deepEqual(seqs(ctx), [1, 2, 3]);
});

test('a failed backfill releases the held messages and reports it', async () => {
  const fetch = fakeFetch(() => ({ status: 503, body: { detail: 'down' } }));
  const ctx = setup({ fetch });
  const ws = connectAndWelcome(ctx, { history: [msg(1)] });
  ws.serverSend(msg(4));
  ctx.clock.advance(300);
  await flush();
  assert.deepEqual(seqs(ctx), [1, 4]);
  const [done] = ctx.of('backfill');
  assert.equal(done.ok, false);
  assert.match(done.error.message, /HTTP 503/);
  ws.serverSend(msg(5));
  assert.deepEqual(seqs(ctx), [1, 4, 5], 'live delivery continues');
});

test('a notify socket never adds since and never backfills', async () => {
  const fetch = fakeFetch(() => assert.fail('no REST call expected'));
  const ctx = setup({ fetch }, 'ws://chat.test/ws/notify/user/1/');
  assert.equal(ctx.client.room, null);
  const ws = connectAndWelcome(ctx);
  ws.serverSend({ type: 'notification', id: 1, title: 't', body: 'b', level: 'info' });
  ws.serverSend({ ...msg(9), type: 'message' });
  reconnect(ctx);
  await flush();
  assert.equal(ctx.WS.last.params.has('since'), false);
  assert.equal(ctx.of('notification').length, 1);
  assert.equal(fetch.calls.length, 0);
});

test('a room option turns resume on for any URL', () => {
  const ctx = setup({ room: 'lobby' }, 'ws://chat.test/custom/socket/');
  const ws = connectAndWelcome(ctx, { history: [msg(3)] });
  assert.equal(ctx.client.room, 'lobby');
  reconnect(ctx);
  assert.equal(ctx.WS.last.params.get('since'), '3');
  assert.equal(ws.params.has('since'), false);
});

test('an incomplete welcome while a backfill is in flight gets a backfill of its own', async () => {
  // The first backfill's page was asked before the second welcome: it cannot hold 9.
  let release;
  const server = Array.from({ length: 9 }, (_, i) => msg(i + 1));
  const fetch = fakeFetch(async (url) => {
    const after = Number(new URL(url).searchParams.get('after'));
    if (after === 2) {
      await new Promise((r) => { release = r; });
      return server.slice(2, 5);
    }
    return server.filter((m) => m.seq > after);
  });
  const ctx = setup({ fetch });
  connectAndWelcome(ctx, { history: [msg(1), msg(2)], complete: false });
  await flush();
  reconnect(ctx);
  ctx.WS.last.serverOpen();
  ctx.WS.last.serverSend(welcome({ history: [msg(6), msg(7)], complete: false }));
  release();
  await flush();
  await flush();
  ctx.clock.advance(300);
  await flush();
  assert.deepEqual(seqs(ctx), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('a gap seen after the page was asked is not given up when the page cannot fill it', async () => {
  let release;
  const server = Array.from({ length: 6 }, (_, i) => msg(i + 1));
  const fetch = fakeFetch(async (url) => {
    const after = Number(new URL(url).searchParams.get('after'));
    if (fetch.calls.length === 1) {
      await new Promise((r) => { release = r; });
      return []; // asked when only 3 existed
    }
    return server.filter((m) => m.seq > after);
  });
  const ctx = setup({ fetch });
  const ws = connectAndWelcome(ctx, { history: [msg(1), msg(2), msg(3)], complete: false });
  await flush();
  ws.serverSend(msg(6)); // 4 and 5 reordered behind it
  release();
  await flush();
  assert.deepEqual(seqs(ctx), [1, 2, 3], '6 is still held, not released past the gap');
  ctx.clock.advance(300);
  await flush();
  assert.deepEqual(seqs(ctx), [1, 2, 3, 4, 5, 6]);
});
