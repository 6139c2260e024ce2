// Heartbeats, dead-link detection, connect timeouts, and the online event.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { connectAndWelcome, setup, welcome } from './fakes.mjs';

const heartbeats = (ws) => ws.frames.filter((f) => f.type === 'heartbeat').length;

test('a heartbeat is sent every heartbeat_interval seconds from the welcome', () => {
  const ctx = setup();
  const ws = connectAndWelcome(ctx, { heartbeat_interval: 10 });
  ctx.clock.advance(9999);
  assert.equal(heartbeats(ws), 0);
  ctx.clock.advance(1);
  assert.equal(heartbeats(ws), 1);
  ws.serverSend({ type: 'heartbeat', ts: 'now' });
  ctx.clock.advance(10000);
  assert.equal(heartbeats(ws), 2);
  assert.deepEqual(ws.frames[0], { type: 'heartbeat' });
});

test('answered heartbeats keep the link open indefinitely', () => {
  const ctx = setup();
  const ws = connectAndWelcome(ctx, { heartbeat_interval: 10 });
  for (let i = 0; i < 50; i += 1) {
    ctx.clock.advance(10000);
    ws.serverSend({ type: 'heartbeat', ts: 'now' });
  }
  assert.equal(ctx.client.state, 'open');
  assert.equal(heartbeats(ws), 50);
});

test('no frame for two heartbeat intervals closes the dead link and reconnects', () => {
  const ctx = setup();
  const ws = connectAndWelcome(ctx, { heartbeat_interval: 10 });
  ctx.clock.advance(19999);
  assert.equal(ctx.client.state, 'open');
  ctx.clock.advance(1);
  assert.equal(ctx.client.state, 'reconnecting');
  assert.equal(ws.closedWith.code, 4408);
  assert.equal(ctx.of('retry')[0].code, 4408);
  ctx.clock.advance(ctx.of('retry')[0].delay);
  assert.equal(ctx.WS.instances.length, 2);
});

test('any frame, not only a heartbeat answer, counts as a sign of life', () => {
  const ctx = setup();
  const ws = connectAndWelcome(ctx, { heartbeat_interval: 10 });
  ctx.clock.advance(15000);
  ws.serverSend({ type: 'system', body: 'hello', ts: 'now' });
  ctx.clock.advance(19999);
  assert.equal(ctx.client.state, 'open');
  ctx.clock.advance(1);
  assert.equal(ctx.client.state, 'reconnecting');
});

test('a welcome without heartbeat_interval uses the heartbeatInterval option', () => {
  const ctx = setup({ heartbeatInterval: 5000 }, 'ws://chat.test/ws/notify/user/1/');
  const ws = connectAndWelcome(ctx, { heartbeat_interval: undefined });
  ctx.clock.advance(5000);
  assert.equal(heartbeats(ws), 1);
});

test('a handshake that never completes times out and is retried', () => {
  const ctx = setup({ connectTimeout: 10000 });
  ctx.client.connect();
  const ws = ctx.WS.last;
  ctx.clock.advance(9999);
  assert.equal(ctx.client.state, 'connecting');
  ctx.clock.advance(1);
  assert.equal(ctx.client.state, 'reconnecting');
  assert.equal(ws.closedWith.code, 4408);
  assert.equal(ctx.of('retry')[0].reason, 'connect timeout');
});

test('the echo endpoint is open on the socket open, with no welcome', () => {
  const ctx = setup({}, 'ws://chat.test/ws/echo/');
  ctx.client.send('queued text');
  ctx.client.connect();
  ctx.WS.last.serverOpen();
  assert.equal(ctx.client.state, 'open');
  assert.deepEqual(ctx.WS.last.sent, ['queued text']);
  ctx.WS.last.serverSend('queued text');
  assert.deepEqual(ctx.of('raw'), ['queued text']);
});

test('the retry event and reconnecting state carry the time of the next retry', () => {
  const ctx = setup({ random: () => 0.5 });
  const start = ctx.clock.now();
  connectAndWelcome(ctx).serverClose(1006);
  const state = ctx.of('state').at(-1);
  assert.equal(state.state, 'reconnecting');
  assert.equal(state.previous, 'open');
  assert.equal(state.retryAt, start + 500);
  assert.deepEqual(ctx.of('retry'), [
    { code: 1006, reason: '', attempt: 1, delay: 500, retryAt: start + 500 },
  ]);
  assert.equal(ctx.client.nextRetryAt, start + 500);
  ctx.clock.advance(500);
  assert.equal(ctx.client.nextRetryAt, null);
});

test('the browser online event triggers an immediate retry', () => {
  const ctx = setup({ jitter: 'none' });
  connectAndWelcome(ctx);
  for (let i = 0; i < 5; i += 1) {
    ctx.WS.last.serverClose(1006);
    ctx.clock.advance(ctx.of('retry').at(-1).delay);
  }
  ctx.WS.last.serverClose(1006);
  assert.equal(ctx.of('retry').at(-1).delay, 30000);
  const before = ctx.WS.instances.length;
  ctx.target.dispatchEvent(new Event('online'));
  assert.equal(ctx.WS.instances.length, before + 1, 'no waiting for the 30 s backoff');
  assert.equal(ctx.client.nextRetryAt, null);
  ctx.clock.advance(30000);
  assert.equal(ctx.WS.instances.length, before + 1, 'the cancelled timer does not dial again');
});

test('the online event does nothing while open or after close()', () => {
  const ctx = setup();
  connectAndWelcome(ctx);
  ctx.target.dispatchEvent(new Event('online'));
  assert.equal(ctx.WS.instances.length, 1);
  ctx.client.close();
  ctx.target.dispatchEvent(new Event('online'));
  assert.equal(ctx.WS.instances.length, 1);
  assert.equal(ctx.client.state, 'closed');
});

test('the online listener is removed when the client closes', () => {
  const listening = new Map();
  const target = {
    addEventListener: (type, fn) => listening.set(fn, type),
    removeEventListener: (type, fn) => listening.delete(fn),
  };
  const ctx = setup({ eventTarget: target });
  connectAndWelcome(ctx);
  assert.deepEqual([...listening.values()], ['online']);
  ctx.client.close();
  assert.equal(listening.size, 0);
});

test('retryNow skips the backoff wait', () => {
  const ctx = setup();
  connectAndWelcome(ctx).serverClose(1011);
  ctx.client.retryNow();
  assert.equal(ctx.WS.instances.length, 2);
  ctx.WS.last.serverOpen();
  ctx.WS.last.serverSend(welcome());
  assert.equal(ctx.client.state, 'open');
});

test('retryNow after giving up starts over', () => {
  const ctx = setup({ maxRetries: 0 });
  connectAndWelcome(ctx).serverClose(1011);
  assert.equal(ctx.client.state, 'closed');
  ctx.client.retryNow();
  assert.equal(ctx.client.state, 'connecting');
  assert.equal(ctx.WS.instances.length, 2);
});

test('states run idle, connecting, open, reconnecting, open, closed', () => {
  const ctx = setup();
  assert.equal(ctx.client.state, 'idle');
  connectAndWelcome(ctx).serverClose(1006);
  ctx.clock.advance(ctx.of('retry')[0].delay);
  connectAndWelcome(ctx);
  ctx.client.close();
  assert.deepEqual(ctx.of('state').map((s) => [s.previous, s.state]), [
    ['idle', 'connecting'],
    ['connecting', 'open'],
    ['open', 'reconnecting'],
    ['reconnecting', 'open'],
    ['open', 'closed'],
  ]);
});
