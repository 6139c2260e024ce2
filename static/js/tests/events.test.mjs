import { test } from 'node:test';
import assert from 'node:assert/strict';

import { connectAndWelcome, setup } from './fakes.mjs';

test('server frames are dispatched to handlers by their type', () => {
  const ctx = setup({}, 'ws://chat.test/ws/notify/user/1/');
  const ws = connectAndWelcome(ctx);
  const frames = [
    { type: 'presence', joins: [], leaves: [], count: 1 },
    { type: 'system', body: 'maintenance', ts: 'now', degraded: true },
    { type: 'notification', id: 1, title: 't', body: 'b', level: 'info', ts: 'now', read: false },
    { type: 'unread', count: 3 },
    { type: 'error', code: 'rate_limited', detail: 'slow down' },
    { type: 'auth', exp: 1 },
  ];
  for (const f of frames) ws.serverSend(f);
  for (const f of frames) assert.deepEqual(ctx.of(f.type), [f]);
  assert.equal(ctx.of('welcome').length, 1);
});

test('off removes a handler and on returns an unsubscribe function', () => {
  const ctx = setup();
  const ws = connectAndWelcome(ctx);
  const seen = [];
  const a = (f) => seen.push(['a', f.count]);
  ctx.client.on('unread', a);
  const unsubscribe = ctx.client.on('unread', (f) => seen.push(['b', f.count]));
  ws.serverSend({ type: 'unread', count: 1 });
  ctx.client.off('unread', a);
  unsubscribe();
  ws.serverSend({ type: 'unread', count: 2 });
  assert.deepEqual(seen, [['a', 1], ['b', 1]]);
});

test('once fires a single time and can be removed with off', () => {
  const ctx = setup();
  const ws = connectAndWelcome(ctx);
  const seen = [];
  ctx.client.once('unread', (f) => seen.push(f.count));
  const never = () => seen.push('never');
  ctx.client.once('unread', never);
  ctx.client.off('unread', never);
  ws.serverSend({ type: 'unread', count: 1 });
  ws.serverSend({ type: 'unread', count: 2 });
  assert.deepEqual(seen, [1]);
});

test('a throwing handler is reported and does not stop the other handlers', () => {
  const ctx = setup();
  const boom = new Error('handler bug');
  const seen = [];
  ctx.client.on('unread', () => { throw boom; });
  ctx.client.on('unread', (f) => seen.push(f.count));
  ctx.client.on('state', () => { throw boom; });
  const ws = connectAndWelcome(ctx);
  ws.serverSend({ type: 'unread', count: 7 });
  assert.deepEqual(seen, [7]);
  assert.equal(ctx.client.state, 'open', 'a throwing state handler does not break the client');
  assert.ok(ctx.errors.length >= 2);
  assert.ok(ctx.errors.every((e) => e === boom));
});

test('a server frame cannot impersonate a lifecycle event', () => {
  const ctx = setup();
  const ws = connectAndWelcome(ctx);
  const frames = [];
  ctx.client.on('frame', (f) => frames.push(f.type));
  ws.serverSend({ type: 'fatal', code: 4403 });
  ws.serverSend({ type: 'state', state: 'closed' });
  assert.equal(ctx.of('fatal').length, 0);
  assert.equal(ctx.of('state').at(-1).state, 'open');
  assert.deepEqual(frames, ['fatal', 'state']);
});

test('text that is not a JSON object arrives as a raw event', () => {
  const ctx = setup();
  const ws = connectAndWelcome(ctx);
  ws.serverSend('not json');
  ws.serverSend('[1,2]');
  ws.onmessage({ data: new Uint8Array([1, 2]) });
  assert.equal(ctx.of('raw').length, 3);
  assert.equal(ctx.client.state, 'open');
});

test('handlers must be functions', () => {
  const ctx = setup();
  assert.throws(() => ctx.client.on('message', null), TypeError);
  assert.throws(() => ctx.client.once('message', 'x'), TypeError);
});
