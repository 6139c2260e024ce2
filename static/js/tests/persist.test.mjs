// Unsent messages and drafts survive a reload: the client's `persistKey` option keeps its
// pending messages in storage and restores them, and room/drafts.js keeps the composer's text.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { DraftStore, roomKeys } from '../room/drafts.js';
import { MessageStore } from '../realtime/persist.js';
import { ALICE, BOB, connectAndWelcome, msg, setup } from './fakes.mjs';

/** A Map-backed stand-in for localStorage, shared by the "pages" of one test. */
class MemoryStorage {
  constructor() { this.map = new Map(); }
  getItem(k) { return this.map.has(k) ? this.map.get(k) : null; }
  setItem(k, v) { this.map.set(k, String(v)); }
  removeItem(k) { this.map.delete(k); }
}

const KEY = 'realtime:1:room:lobby:outbox';

test('a message queued offline is sent once, with its client_id, after a reload', () => {
  const storage = new MemoryStorage();
  const before = setup({ storage, persistKey: KEY });
  before.client.sendMessage('sent while offline', { client_id: 'c-1' });
  // The page goes away before any socket opened.
  const after = setup({ storage, persistKey: KEY });
  assert.deepEqual(after.client.pending.map((f) => f.client_id), ['c-1']);
  const ws = connectAndWelcome(after);
  assert.deepEqual(ws.frames, [{ type: 'message', body: 'sent while offline', client_id: 'c-1' }]);
  ws.serverSend(msg(1, { user: ALICE, body: 'sent while offline', client_id: 'c-1' }));
  assert.deepEqual(after.client.pending, []);
  assert.equal(storage.getItem(KEY), null, 'the echo ends its life in storage');
  assert.equal(setup({ storage, persistKey: KEY }).client.pending.length, 0, 'a third page sends nothing');
});

test('a restored message the server already stored is not sent again', () => {
  const storage = new MemoryStorage();
  const before = setup({ storage, persistKey: KEY });
  const ws1 = connectAndWelcome(before);
  before.client.sendMessage('in flight', { client_id: 'c-2' });
  assert.equal(ws1.frames.length, 1);
  // Reloaded before the echo came back; the server had stored it.
  const after = setup({ storage, persistKey: KEY });
  const acks = [];
  after.client.on('ack', (a) => acks.push(a.client_id));
  const ws2 = connectAndWelcome(after, {
    history: [msg(1, { user: ALICE, body: 'in flight', client_id: 'c-2' })],
  });
  assert.deepEqual(ws2.frames, [], 'the history echo confirmed it');
  assert.deepEqual(acks, ['c-2']);
  assert.equal(storage.getItem(KEY), null);
});

test('another user’s message with our client_id does not erase ours', () => {
  const storage = new MemoryStorage();
  const ctx = setup({ storage, persistKey: KEY });
  const ws = connectAndWelcome(ctx);
  ctx.client.sendMessage('mine', { client_id: 'c-3' });
  ws.serverSend(msg(1, { user: BOB, client_id: 'c-3' }));
  assert.equal(new MessageStore({ storage, key: KEY }).load().length, 1);
});

test('a discarded message is forgotten by storage too', () => {
  const storage = new MemoryStorage();
  const ctx = setup({ storage, persistKey: KEY });
  ctx.client.sendMessage('refused', { client_id: 'c-4' });
  ctx.client.discard('c-4');
  assert.equal(storage.getItem(KEY), null);
});

test('two tabs of one room keep each other’s queued messages', () => {
  const storage = new MemoryStorage();
  const a = setup({ storage, persistKey: KEY });
  const b = setup({ storage, persistKey: KEY });
  a.client.sendMessage('from a', { client_id: 'a-1' });
  b.client.sendMessage('from b', { client_id: 'b-1' });
  const ws = connectAndWelcome(a);
  ws.serverSend(msg(1, { user: ALICE, body: 'from a', client_id: 'a-1' }));
  const later = setup({ storage, persistKey: KEY });
  assert.deepEqual(later.client.pending.map((f) => f.client_id), ['b-1']);
});

test('garbage, foreign frames and broken storage never break the client', () => {
  const storage = new MemoryStorage();
  storage.setItem(KEY, '{not json');
  assert.deepEqual(setup({ storage, persistKey: KEY }).client.pending, []);
  storage.setItem(KEY, JSON.stringify([
    { type: 'read', id: 1 }, { type: 'message', body: 5, client_id: 'x' },
    { type: 'message', body: 'ok', client_id: 'y'.repeat(65) },
    { type: 'message', body: 'good', client_id: 'g' }, { type: 'message', body: 'dup', client_id: 'g' },
  ]));
  assert.deepEqual(setup({ storage, persistKey: KEY }).client.pending.map((f) => f.body), ['good']);
  const broken = {
    getItem() { throw new Error('denied'); },
    setItem() { throw new Error('quota'); },
    removeItem() { throw new Error('denied'); },
  };
  const ctx = setup({ storage: broken, persistKey: KEY });
  const ws = connectAndWelcome(ctx);
  ctx.client.sendMessage('still sent', { client_id: 'z' });
  assert.equal(ws.frames.length, 1);
});

test('restored messages respect maxQueue', () => {
  const storage = new MemoryStorage();
  const store = new MessageStore({ storage, key: KEY, max: 10 });
  for (let i = 0; i < 5; i += 1) store.put({ type: 'message', body: `m${i}`, client_id: `id${i}` });
  const ctx = setup({ storage, persistKey: KEY, maxQueue: 3 });
  assert.equal(ctx.client.pending.length, 3);
});

test('without persistKey nothing is stored', () => {
  const storage = new MemoryStorage();
  setup({ storage }).client.sendMessage('x', { client_id: 'n' });
  assert.equal(storage.map.size, 0);
});

test('drafts are kept per room and a blank one is removed', () => {
  const storage = new MemoryStorage();
  const lobby = new DraftStore({ storage, key: roomKeys(1, 'lobby').draft });
  const other = new DraftStore({ storage, key: roomKeys(1, 'other').draft });
  lobby.save('half a thought');
  assert.equal(new DraftStore({ storage, key: roomKeys(1, 'lobby').draft }).load(), 'half a thought');
  assert.equal(other.load(), '');
  lobby.save('   ');
  assert.equal(lobby.load(), '');
  assert.equal(new DraftStore({ storage: null, key: 'k' }).load(), '');
  assert.notEqual(roomKeys(1, 'lobby').draft, roomKeys(2, 'lobby').draft);
});
