import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ClientClosedError, QueueFullError, randomClientId } from '../realtime-client.js';
import { ALICE, BOB, connectAndWelcome, msg, setup, welcome } from './fakes.mjs';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('frames sent before the welcome are queued and flushed in order after it', () => {
  const ctx = setup();
  ctx.client.send({ type: 'read', id: 1 });
  ctx.client.connect();
  ctx.client.sendMessage('one', { client_id: 'a' });
  ctx.client.send({ type: 'read', all: true });
  const ws = ctx.WS.last;
  ws.serverOpen();
  assert.deepEqual(ws.sent, [], 'nothing goes out before the welcome');
  ws.serverSend(welcome());
  assert.deepEqual(ws.frames, [
    { type: 'read', id: 1 },
    { type: 'message', body: 'one', client_id: 'a' },
    { type: 'read', all: true },
  ]);
  assert.equal(ctx.client.queued, 0);
});

test('frames sent while open go straight to the socket', () => {
  const ctx = setup();
  const ws = connectAndWelcome(ctx);
  ctx.client.send({ type: 'read', id: 3 });
  assert.deepEqual(ws.frames, [{ type: 'read', id: 3 }]);
});

test('frames sent from an open-state handler follow the queued ones', () => {
  const ctx = setup();
  ctx.client.on('state', ({ state }) => {
    if (state === 'open') ctx.client.send({ type: 'read', id: 2 });
  });
  ctx.client.send({ type: 'read', id: 1 });
  const ws = connectAndWelcome(ctx);
  assert.deepEqual(ws.frames.map((f) => f.id), [1, 2]);
});

test('the queue is bounded by maxQueue and refuses with QueueFullError', () => {
  const ctx = setup({ maxQueue: 3 });
  for (let i = 0; i < 3; i += 1) ctx.client.send({ type: 'read', id: i });
  assert.throws(() => ctx.client.send({ type: 'read', id: 99 }), (err) => {
    assert.ok(err instanceof QueueFullError);
    assert.equal(err.code, 'queue_full');
    assert.equal(err.limit, 3);
    assert.match(err.message, /queue is full/);
    return true;
  });
  const ws = connectAndWelcome(ctx);
  assert.deepEqual(ws.frames.map((f) => f.id), [0, 1, 2], 'the refused frame was not kept');
});

test('the default queue bound is 100 frames', () => {
  const ctx = setup();
  for (let i = 0; i < 100; i += 1) ctx.client.send({ type: 'read', id: i });
  assert.throws(() => ctx.client.send({ type: 'read', id: 100 }), QueueFullError);
});

test('unconfirmed messages count against the bound while offline', () => {
  const ctx = setup({ maxQueue: 2 });
  const ws = connectAndWelcome(ctx);
  ctx.client.sendMessage('sent, never echoed');
  ws.serverClose(1006);
  ctx.client.sendMessage('queued');
  assert.throws(() => ctx.client.send({ type: 'read', id: 1 }), QueueFullError);
});

test('a client_id is assigned at enqueue and returned to the caller', () => {
  const ids = ['id-1', 'id-2'];
  const ctx = setup({ makeClientId: () => ids.shift() });
  const original = { type: 'message', body: 'hi' };
  const sent = ctx.client.send(original);
  assert.equal(sent.client_id, 'id-1');
  assert.equal(original.client_id, undefined, "the caller's object is not mutated");
  assert.deepEqual(ctx.client.pending, [{ type: 'message', body: 'hi', client_id: 'id-1' }]);
  const ws = connectAndWelcome(ctx);
  assert.equal(ws.frames[0].client_id, 'id-1');
});

test('a client_id given by the caller is kept', () => {
  const ctx = setup();
  assert.equal(ctx.client.sendMessage('x', { client_id: 'mine' }).client_id, 'mine');
  assert.throws(() => ctx.client.sendMessage('y', { client_id: 'z'.repeat(65) }), RangeError);
});

test('an unconfirmed message is re-sent with the same client_id after a reconnect', () => {
  const ctx = setup();
  const ws1 = connectAndWelcome(ctx);
  const { client_id: id } = ctx.client.sendMessage('hello');
  assert.equal(ws1.frames[0].client_id, id);
  ws1.serverClose(1006);
  ctx.client.sendMessage('later', { client_id: 'later' });
  ctx.clock.advance(ctx.of('retry')[0].delay);
  const ws2 = connectAndWelcome(ctx);
  assert.deepEqual(ws2.frames, [
    { type: 'message', body: 'hello', client_id: id },
    { type: 'message', body: 'later', client_id: 'later' },
  ]);
});

test('the echo of our own message confirms it: ack, and no resend later', () => {
  const ctx = setup();
  const ws1 = connectAndWelcome(ctx);
  const { client_id: id } = ctx.client.sendMessage('hello');
  assert.equal(ctx.client.pending.length, 1);
  const echo = msg(1, { user: ALICE, body: 'hello', client_id: id });
  ws1.serverSend(echo);
  assert.deepEqual(ctx.of('ack'), [{ client_id: id, message: echo }]);
  assert.deepEqual(ctx.client.pending, []);
  assert.deepEqual(ctx.of('pending').at(-1), []);
  ws1.serverClose(1006);
  ctx.clock.advance(ctx.of('retry')[0].delay);
  assert.deepEqual(connectAndWelcome(ctx).frames, []);
});

test('an echo found in the resume history confirms before the resend', () => {
  const ctx = setup();
  const ws1 = connectAndWelcome(ctx, { history: [msg(1)] });
  const { client_id: id } = ctx.client.sendMessage('hello');
  ws1.serverClose(1006);
  ctx.clock.advance(ctx.of('retry')[0].delay);
  const ws2 = connectAndWelcome(ctx, { history: [msg(2, { user: ALICE, client_id: id })] });
  assert.deepEqual(ws2.frames, []);
  assert.equal(ctx.of('ack').length, 1);
});

test("another user's message carrying our client_id does not confirm ours", () => {
  const ctx = setup();
  const ws = connectAndWelcome(ctx);
  const { client_id: id } = ctx.client.sendMessage('hello');
  ws.serverSend(msg(1, { user: BOB, client_id: id }));
  assert.equal(ctx.of('ack').length, 0);
  assert.equal(ctx.client.pending.length, 1);
});

test('discard drops a pending message from the queue and from resends', () => {
  const ctx = setup();
  const { client_id: id } = ctx.client.sendMessage('oops');
  ctx.client.sendMessage('keep', { client_id: 'keep' });
  assert.equal(ctx.client.discard(id), true);
  assert.equal(ctx.client.discard(id), false);
  const ws = connectAndWelcome(ctx);
  assert.deepEqual(ws.frames.map((f) => f.client_id), ['keep']);
});

test('send after close() throws ClientClosedError', () => {
  const ctx = setup();
  connectAndWelcome(ctx);
  ctx.client.close();
  assert.throws(() => ctx.client.send({ type: 'read', all: true }), ClientClosedError);
});

test('randomClientId makes v4 UUIDs with or without crypto.randomUUID', () => {
  assert.equal(randomClientId({ randomUUID: () => 'from-randomUUID' }), 'from-randomUUID');
  const viaValues = randomClientId({ getRandomValues: (b) => b.fill(0xff) });
  assert.match(viaValues, UUID_V4);
  assert.match(randomClientId({}), UUID_V4);
  assert.notEqual(randomClientId({}), randomClientId({}));
  assert.match(randomClientId(), UUID_V4);
});
