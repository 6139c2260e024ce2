// My conversations kept by notify frames, the tab title, the divider and @ completion.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  applyMention, Conversations, displayName, dividerSeq, mentionAt, mentionCandidates, mentions,
  ReadPointer, titleWithCount,
} from '../conversations.js';

const me = { id: 2, username: 'bob' };
const alice = { id: 1, username: 'alice' };

function entry(slug, extra = {}) {
  return {
    slug, name: slug, kind: 'public', peer: null, last_seq: 0, last_read_seq: 0, unread: 0, mentions: 0,
    last_message: null, ...extra,
  };
}

test('the welcome list is kept latest activity first, and a DM is named by its peer', () => {
  const c = new Conversations({ me });
  c.reset([
    entry('old', { last_seq: 3, last_message: { body: 'x', ts: '2026-01-01T00:00:00Z' } }),
    entry('dm-ab', { kind: 'direct', name: 'alice, bob', peer: alice, last_message: { body: 'hi', ts: '2026-02-01T00:00:00Z' } }),
    entry('quiet'),
    { slug: '' },
    null,
  ]);
  assert.deepEqual(c.list().map((e) => e.slug), ['dm-ab', 'old', 'quiet']);
  assert.equal(displayName(c.get('dm-ab')), 'alice');
  assert.equal(displayName(c.get('old')), 'old');
});

test('activity from others raises the badge and moves the room up; mine does not count', () => {
  const changes = [];
  const c = new Conversations({ me, onChange: (d) => changes.push(d.reason) });
  c.reset([entry('a', { last_message: { body: '', ts: '2026-02-01T00:00:00Z' } }), entry('b')]);
  c.activity({ room: 'b', seq: 1, user: alice, preview: 'hello', ts: '2026-03-01T00:00:00Z' });
  c.activity({ room: 'b', seq: 2, user: alice, preview: 'hey @bob.', ts: '2026-03-01T00:00:01Z' });
  assert.deepEqual(c.list().map((e) => e.slug), ['b', 'a']);
  assert.equal(c.get('b').unread, 2);
  assert.equal(c.get('b').mentions, 1);
  c.activity({ room: 'b', seq: 3, user: me, preview: 'mine', ts: '2026-03-01T00:00:02Z' });
  assert.equal(c.get('b').unread, 2);
  assert.equal(c.get('b').last_read_seq, 3);
  // A resumed socket repeating a seq changes nothing.
  c.activity({ room: 'b', seq: 2, user: alice, preview: 'again', ts: '2026-03-01T00:00:01Z' });
  assert.equal(c.get('b').unread, 2);
  assert.equal(c.totalUnread(), 2);
  assert.deepEqual(changes, ['reset', 'activity', 'activity', 'activity']);
});

test('new messages in the room I am reading raise no badge', () => {
  const c = new Conversations({ me });
  c.reset([entry('here'), entry('there')]);
  c.reading = 'here';
  c.activity({ room: 'here', seq: 1, user: alice, preview: 'hi', ts: '2026-03-01T00:00:00Z' });
  c.activity({ room: 'there', seq: 1, user: alice, preview: 'hi', ts: '2026-03-01T00:00:00Z' });
  assert.deepEqual([c.get('here').unread, c.get('there').unread], [0, 1]);
});

test('activity in a room not listed asks for the list again (a DM someone started)', () => {
  const asked = [];
  const c = new Conversations({ me, unknown: (slug) => asked.push(slug) });
  c.reset([]);
  c.activity({ room: 'dm-new', seq: 1, user: alice, preview: 'hi', ts: '2026-03-01T00:00:00Z' });
  assert.deepEqual(asked, ['dm-new']);
});

test('a read frame sets the count from the server, and never moves the pointer back', () => {
  const c = new Conversations({ me });
  c.reset([entry('r', { last_seq: 10, last_read_seq: 4, unread: 6, mentions: 2 })]);
  c.read({ room: 'r', seq: 8, unread: 2 });
  assert.equal(c.get('r').unread, 2);
  assert.equal(c.get('r').mentions, 2);
  c.read({ room: 'r', seq: 10, unread: 0 });
  assert.deepEqual([c.get('r').unread, c.get('r').mentions, c.get('r').last_read_seq], [0, 0, 10]);
  c.read({ room: 'r', seq: 5, unread: 5 });
  assert.equal(c.get('r').unread, 0);
  c.read({ room: 'nope', seq: 1, unread: 1 });
  assert.equal(c.totalUnread(), 0);
});

test('the tab title counts unread, replaces an old count, and drops it at zero', () => {
  assert.equal(titleWithCount('Realtime', 3), '(3) Realtime');
  assert.equal(titleWithCount('(3) Realtime', 5), '(5) Realtime');
  assert.equal(titleWithCount('(99+) Realtime', 0), 'Realtime');
  assert.equal(titleWithCount('Realtime', 250), '(99+) Realtime');
});

test('mentions in a preview follow the server rule', () => {
  assert.ok(mentions('hi @bob', 'bob'));
  assert.ok(mentions('@Bob. how are you', 'bob'));
  assert.ok(mentions('(@bob)', 'bob'));
  assert.ok(!mentions('mail x@bob now', 'bob'));
  assert.ok(!mentions('hi @bobby', 'bob'));
  assert.ok(!mentions('hi @bob.smith', 'bob'));
  assert.ok(!mentions('no one', 'bob'));
});

test('the divider goes before the first message after my pointer that is not mine', () => {
  const msgs = [{ seq: 1, userId: 1 }, { seq: 2, userId: 2 }, { seq: 3, userId: 2 }, { seq: 4, userId: 1 }];
  assert.equal(dividerSeq(msgs, 1, 2), 4);
  assert.equal(dividerSeq(msgs, 0, 2), 1);
  assert.equal(dividerSeq(msgs, 4, 2), null);
  assert.equal(dividerSeq(msgs, null, 2), null);
});

test('@ completion finds the name at the caret, offers matches, and inserts the choice', () => {
  assert.deepEqual(mentionAt('hello @al', 9), { start: 6, query: 'al' });
  assert.deepEqual(mentionAt('@', 1), { start: 0, query: '' });
  assert.equal(mentionAt('mail x@al', 9), null);
  assert.equal(mentionAt('hello al', 8), null);
  assert.deepEqual(mentionCandidates(['carol', 'alice', 'Alan', 'bob', 'alice'], 'al', 'bob'), ['Alan', 'alice']);
  assert.deepEqual(mentionCandidates(['bob', 'carol'], '', 'bob'), ['carol']);
  assert.deepEqual(applyMention('hi @al and', 3, 6, 'alice'), { text: 'hi @alice and', caret: 10 });
  assert.deepEqual(applyMention('@a', 0, 2, 'alice'), { text: '@alice ', caret: 7 });
});

test('the read pointer is sent once per quiet spell, only forward, and again after a failure', () => {
  const timers = [];
  const sent = [];
  let ok = true;
  const p = new ReadPointer({
    send: (seq) => { sent.push(seq); return ok; },
    setTimeout: (fn) => { timers.push(fn); return timers.length; },
    clearTimeout: (id) => { timers[id - 1] = null; },
  });
  p.want(3);
  p.want(5);
  timers.filter(Boolean).forEach((fn) => fn());
  assert.deepEqual(sent, [5]);
  p.want(4);
  p.known(7);
  p.want(7);
  assert.equal(timers.filter(Boolean).length, 1); // only the spent one; nothing new armed
  ok = false;
  timers.length = 0;
  p.want(9);
  timers.forEach((fn) => fn && fn());
  ok = true;
  timers.length = 0;
  p.want(9);
  timers.forEach((fn) => fn && fn());
  assert.deepEqual(sent, [5, 9, 9]);
});
