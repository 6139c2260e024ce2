// The words of the room page's section 10 parts: who reacted, who is typing, search
// highlights and snippets. Pure functions: no DOM.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { reacted, reactionLabel, validEmoji } from '../room/reactions.js';
import { TypingIndicator, TypingNotifier, typingText } from '../room/typing.js';
import { fold, highlightParts, resultHref, snippet } from '../search.js';
import { FakeClock } from './fakes.mjs';

const names = new Map([[1, 'alice'], [2, 'bob'], [3, 'carol']]);
const nameOf = (id) => names.get(id) ?? null;

test('a reaction says who: me as "you", known names, ids otherwise, and how many more', () => {
  assert.equal(reactionLabel({ emoji: '👍', count: 2, users: [2, 1] }, nameOf, 1), '👍 2: you, bob');
  assert.equal(reactionLabel({ emoji: '🎉', count: 1, users: [42] }, nameOf, 1), '🎉 1: user 42');
  assert.equal(reactionLabel({ emoji: '👀', count: 150, users: [2, 3, 4, 5] }, nameOf, 1), '👀 150: bob, carol, user 4 and 147 others');
  assert.equal(reactionLabel({ emoji: '🔥', count: 3, users: [] }, nameOf, 1), '🔥 3: 3 people');
  assert.equal(reacted({ users: [1] }, 1), true);
  assert.equal(reacted({ users: [2] }, 1), false);
});

test('an emoji is 1 to 16 characters without whitespace', () => {
  assert.ok(validEmoji('👍'));
  assert.ok(!validEmoji(''));
  assert.ok(!validEmoji('a b'));
  assert.ok(!validEmoji('x'.repeat(17)));
  assert.ok(!validEmoji(null));
});

test('typing words leave me out and shorten long lists', () => {
  const u = (id, username) => ({ id, username });
  assert.equal(typingText([u(1, 'alice')], 1), '');
  assert.equal(typingText([u(2, 'bob'), u(1, 'alice')], 1), 'bob is typing…');
  assert.equal(typingText([u(2, 'bob'), u(3, 'carol')], 1), 'bob and carol are typing…');
  assert.equal(typingText([u(2, 'b'), u(3, 'c'), u(4, 'd')], 1), 'b, c and d are typing…');
  assert.equal(typingText([u(2, 'b'), u(3, 'c'), u(4, 'd'), u(5, 'e')], 1), 'b, c and 2 others are typing…');
  assert.equal(typingText(null, 1), '');
});

test('my typing is sent at most once per interval, again at once after a send', () => {
  const clock = new FakeClock();
  const sent = [];
  const n = new TypingNotifier({ send: () => sent.push(clock.now()), now: clock.now, every: 3000 });
  assert.equal(n.input(''), false, 'an empty composer is not typing');
  assert.equal(n.input('h'), true);
  clock.advance(1000);
  assert.equal(n.input('he'), false);
  clock.advance(2000);
  assert.equal(n.input('hel'), true);
  n.sent();
  assert.equal(n.input('n'), true);
  assert.equal(sent.length, 3);
  const offline = new TypingNotifier({ send: () => false, now: clock.now });
  assert.equal(offline.input('x'), false);
});

test('the typing line clears itself when no frame takes a name off', () => {
  const clock = new FakeClock();
  const node = { textContent: '', hidden: true };
  const line = new TypingIndicator(node, 1, { later: clock.setTimeout, cancel: clock.clearTimeout, stale: 7000 });
  line.apply({ users: [{ id: 2, username: 'bob' }] });
  assert.equal(node.textContent, 'bob is typing…');
  assert.equal(node.hidden, false);
  clock.advance(6000);
  line.apply({ users: [{ id: 2, username: 'bob' }] });
  clock.advance(6000);
  assert.equal(node.hidden, false, 'a fresh frame keeps it');
  clock.advance(1000);
  assert.equal(node.hidden, true);
  line.apply({ users: [{ id: 3, username: 'carol' }] });
  line.apply({ users: [] });
  assert.equal(node.textContent, '');
});

test('search folds case and accents, and marks whole words matched by prefix', () => {
  assert.equal(fold('Café ÉTÉ'), 'cafe ete');
  assert.deepEqual(highlightParts('Le café est prêt, cafeteria', 'cafe pre'), [
    { text: 'Le ', hit: false }, { text: 'café', hit: true }, { text: ' est ', hit: false },
    { text: 'prêt', hit: true }, { text: ', ', hit: false }, { text: 'cafeteria', hit: true },
  ]);
  assert.deepEqual(highlightParts('<b>x</b>', 'b'), [
    { text: '<', hit: false }, { text: 'b', hit: true }, { text: '>x</', hit: false },
    { text: 'b', hit: true }, { text: '>', hit: false },
  ]);
});

test('a long result is cut around its first match', () => {
  const text = `${'word '.repeat(60)}needle ${'tail '.repeat(60)}`;
  const s = snippet(text, 'needle', 60);
  assert.ok(s.includes('needle'), s);
  assert.ok(s.startsWith('…') && s.endsWith('…'), s);
  assert.ok(s.length <= 62, s.length);
  assert.equal(snippet('short  text', 'x'), 'short text');
  assert.equal(resultHref({ room: 'café', seq: 7 }), '/rooms/caf%C3%A9/?seq=7');
});
