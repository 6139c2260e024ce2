// Messages that change (PROTOCOL.md section 10): edits, tombstones and reactions replace
// the held message by id, the newest rev wins whatever the arrival order, and the resume
// carries `rev` so the welcome brings the changes missed.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { MessageState, normalize, RevCursor } from '../realtime/changes.js';
import {
  connectAndWelcome, fakeFetch, flush, msg, setup, welcome,
} from './fakes.mjs';

const updates = (ctx) => ctx.events.filter(([t]) => t === 'message_updated').map(([, f, meta]) => [f.message, meta.source]);

function track(ctx) {
  ctx.client.on('message_updated', (f, meta) => ctx.events.push(['message_updated', f, meta]));
  return ctx;
}

/** Drop the socket and reconnect after the scheduled delay; returns the new socket. */
function reconnect(ctx, code = 1006) {
  ctx.WS.last.serverClose(code);
  ctx.clock.advance(ctx.of('retry').at(-1).delay);
  return ctx.WS.last;
}

const edited = (seq, rev, body, extra = {}) => msg(seq, { rev, body, edited: '2024-01-01T00:01:00Z', ...extra });
const tomb = (seq, rev) => msg(seq, { rev, body: '', deleted: true, reactions: [] });

test('the welcome rev goes into the resume URL with since', () => {
  const ctx = track(setup());
  const ws = connectAndWelcome(ctx, { history: [msg(1), msg(2)], rev: 7 });
  assert.equal(ws.params.has('rev'), false, 'a first connect has nothing to update');
  assert.equal(ctx.client.rev, 7);
  const ws2 = reconnect(ctx);
  assert.equal(ws2.params.get('since'), '2');
  assert.equal(ws2.params.get('rev'), '7');
});

test('a since and rev in the given URL seed the first resume', () => {
  const ctx = setup({}, 'ws://chat.test/ws/chat/lobby/?since=4&rev=9');
  ctx.client.connect();
  assert.equal(ctx.WS.last.params.get('since'), '4');
  assert.equal(ctx.WS.last.params.get('rev'), '9');
});

test('a live message_updated replaces the held message by id', () => {
  const ctx = track(setup());
  const ws = connectAndWelcome(ctx, { history: [msg(1), msg(2)], rev: 3 });
  ws.serverSend({ type: 'message_updated', message: edited(1, 4, 'fixed typo') });
  const [[m, source]] = updates(ctx);
  assert.equal(source, 'live');
  assert.equal(m.body, 'fixed typo');
  assert.equal(m.edited, '2024-01-01T00:01:00Z');
  assert.equal(ctx.client.message(1001).body, 'fixed typo');
  assert.equal(ctx.client.rev, 4, 'rev 4 follows 3: the resume may start after it');
});

test('a tombstone clears body and reactions even if the frame carries them', () => {
  const ctx = track(setup());
  const ws = connectAndWelcome(ctx, {
    history: [msg(1, { rev: 2, reactions: [{ emoji: '👍', count: 1, users: [2] }] })], rev: 2,
  });
  ws.serverSend({ type: 'message_updated', message: msg(1, { rev: 3, deleted: true, body: 'left over', reactions: [{ emoji: '👍', count: 1, users: [2] }] }) });
  const held = ctx.client.message(1001);
  assert.equal(held.deleted, true);
  assert.equal(held.body, '');
  assert.deepEqual(held.reactions, []);
  assert.equal(held.seq, 1, 'same id and seq');
});

test('an older state arriving after a newer one changes nothing', () => {
  const ctx = track(setup());
  const ws = connectAndWelcome(ctx, { history: [msg(1)], rev: 0 });
  ws.serverSend({ type: 'message_updated', message: edited(1, 2, 'second edit') });
  ws.serverSend({ type: 'message_updated', message: edited(1, 1, 'first edit') });
  assert.deepEqual(updates(ctx).map(([m]) => m.body), ['second edit']);
  assert.equal(ctx.client.message(1001).body, 'second edit');
  assert.equal(ctx.client.rev, 0, 'rev 1 was never applied here: the resume asks from 0');
});

test('the resume rev stops below a change it never saw', () => {
  const ctx = track(setup());
  const ws = connectAndWelcome(ctx, { history: [msg(1), msg(2)], rev: 10 });
  ws.serverSend({ type: 'message_updated', message: edited(1, 11, 'a') });
  ws.serverSend({ type: 'message_updated', message: edited(2, 13, 'b') }); // 12 was lost
  assert.equal(ctx.client.rev, 11);
  assert.equal(reconnect(ctx).params.get('rev'), '11');
});

test('an update of a message not delivered yet delivers it, in order, in its current state', () => {
  const ctx = track(setup());
  const ws = connectAndWelcome(ctx, { history: [msg(1)], rev: 0 });
  // The edit's commit overtook the message's own frame on the channel layer.
  ws.serverSend({ type: 'message_updated', message: edited(2, 1, 'edited early') });
  ws.serverSend(msg(2));
  assert.deepEqual(ctx.of('message').map((m) => [m.seq, m.body]), [[1, 'm1'], [2, 'edited early']]);
  assert.deepEqual(updates(ctx), [], 'the stale original is a duplicate');
});

test('an update of a message held past a gap is delivered in its newest state', async () => {
  const ctx = track(setup({ fetch: fakeFetch(() => [msg(2)]) }));
  const ws = connectAndWelcome(ctx, { history: [msg(1)], rev: 0 });
  ws.serverSend(msg(3));
  ws.serverSend({ type: 'message_updated', message: edited(3, 1, 'm3 edited') });
  ctx.clock.advance(300);
  await flush();
  assert.deepEqual(ctx.of('message').map((m) => [m.seq, m.body]), [[1, 'm1'], [2, 'm2'], [3, 'm3 edited']]);
});

test('the welcome changes replace held messages; its history replaces a stale copy', () => {
  const ctx = track(setup());
  connectAndWelcome(ctx, { history: [msg(1), msg(2), msg(3)], rev: 5 });
  reconnect(ctx);
  const ws = ctx.WS.last;
  assert.equal(ws.params.get('rev'), '5');
  ws.serverOpen();
  ws.serverSend(welcome({
    rev: 8,
    history: [msg(3, { rev: 8, body: 'm3 now' }), msg(4)],
    changes: [tomb(1, 6), edited(2, 7, 'm2 now')],
  }));
  assert.deepEqual(updates(ctx).map(([m, s]) => [m.seq, m.body, m.deleted, s]),
    [[3, 'm3 now', false, 'history'], [1, '', true, 'changes'], [2, 'm2 now', false, 'changes']]);
  assert.deepEqual(ctx.of('message').map((m) => m.seq), [1, 2, 3, 4]);
  assert.equal(ctx.client.rev, 8);
});

test('an incomplete welcome pages the changes over REST, then takes the welcome rev', async () => {
  const pages = {
    6: { results: [edited(2, 7, 'b')], has_more: true },
    7: { results: [tomb(3, 9)], has_more: false },
  };
  const fetch = fakeFetch((url) => {
    const u = new URL(url);
    if (u.pathname.endsWith('/changes/')) return pages[u.searchParams.get('rev')];
    return [];
  });
  const ctx = track(setup({ fetch }));
  connectAndWelcome(ctx, { history: [msg(1), msg(2), msg(3)], rev: 5 });
  reconnect(ctx);
  const ws = ctx.WS.last;
  ws.serverOpen();
  ws.serverSend(welcome({ rev: 9, history: [], changes: [edited(1, 6, 'a')], complete: false }));
  assert.equal(ctx.client.rev, 6, 'not the welcome rev before the rest of its changes are here');
  await flush();
  const urls = fetch.calls.map((c) => c.url);
  // From the last change the welcome brought (its changes come oldest change first).
  assert.ok(urls.includes('http://chat.test/api/rooms/lobby/changes/?rev=6'), urls);
  assert.ok(urls.includes('http://chat.test/api/rooms/lobby/changes/?rev=7'), urls);
  assert.ok(urls.includes('http://chat.test/api/rooms/lobby/messages/?after=3&limit=200'), urls);
  assert.deepEqual(ctx.client.messages.map((m) => [m.seq, m.body, m.deleted]),
    [[1, 'a', false], [2, 'b', false], [3, '', true]]);
  assert.equal(ctx.client.rev, 9);
});

test('a failed changes paging leaves the rev where it was, so the next resume asks again', async () => {
  const fetch = fakeFetch((url) => (url.includes('/changes/') ? { status: 503, body: {} } : []));
  const ctx = track(setup({ fetch }));
  const done = [];
  ctx.client.on('changes_backfill', (e) => done.push(e));
  connectAndWelcome(ctx, { history: [msg(1)], rev: 5 });
  reconnect(ctx);
  ctx.WS.last.serverOpen();
  ctx.WS.last.serverSend(welcome({ rev: 9, history: [], changes: [], complete: false }));
  await flush();
  assert.equal(done.length, 1);
  assert.equal(done[0].ok, false);
  assert.equal(ctx.client.rev, 5);
  assert.equal(reconnect(ctx).params.get('rev'), '5');
});

test('a REST page the page fetched itself never undoes a newer live state', () => {
  const ctx = track(setup());
  const ws = connectAndWelcome(ctx, { history: [msg(5)], rev: 0 });
  ws.serverSend({ type: 'message_updated', message: edited(2, 3, 'edited while the page loaded') });
  const merged = ctx.client.absorb([msg(1), msg(2, { rev: 1, body: 'older' })]);
  assert.deepEqual(merged.map((m) => m.body), ['m1', 'edited while the page loaded']);
});

test('edit, delete, react and typing are frames on the socket', () => {
  const ctx = setup();
  assert.equal(ctx.client.typing(), false, 'typing is not queued while offline');
  const ws = connectAndWelcome(ctx);
  ctx.client.edit(4, 'new');
  ctx.client.deleteMessage(4);
  ctx.client.react(4, '🎉');
  assert.equal(ctx.client.typing(), true);
  assert.deepEqual(ws.frames, [
    { type: 'edit', id: 4, body: 'new' }, { type: 'delete', id: 4 },
    { type: 'react', id: 4, emoji: '🎉' }, { type: 'typing' },
  ]);
});

test('on a socket without a room, message_updated is passed on as it came', () => {
  const ctx = track(setup({}, 'ws://chat.test/ws/notify/user/1/'));
  const ws = connectAndWelcome(ctx);
  ws.serverSend({ type: 'message_updated', message: edited(1, 2, 'x') });
  assert.equal(updates(ctx).length, 1);
});

test('MessageState keeps the newest state by rev and normalizes tombstones', () => {
  const s = new MessageState({ keep: 2 });
  assert.equal(s.offer(msg(1, { rev: 2 })).changed, true);
  assert.equal(s.offer(msg(1, { rev: 1, body: 'old' })).changed, false);
  assert.equal(s.offer(msg(1, { rev: 2 })).changed, false, 'the same state again');
  assert.equal(s.offer(msg(2)).changed, true);
  s.offer(msg(3));
  assert.equal(s.size, 2, 'bounded');
  assert.equal(s.get(1001), null, 'the least recently touched goes first');
  assert.deepEqual(normalize({ id: 1, body: 'x', deleted: true, reactions: [1] }),
    { id: 1, body: '', deleted: true, reactions: [], rev: 0, edited: null, reply_to: null });
});

test('RevCursor moves only over an unbroken run of revs', () => {
  const r = new RevCursor(null);
  r.see(1);
  assert.equal(r.value, null, 'nothing known before a welcome');
  r.set(4);
  r.see(6);
  r.see(7);
  assert.equal(r.value, 4);
  r.see(5);
  assert.equal(r.value, 7);
  r.raise(3);
  assert.equal(r.value, 7, 'raise never goes back');
  r.set(2);
  assert.equal(r.value, 2, 'a welcome sets it exactly');
});
