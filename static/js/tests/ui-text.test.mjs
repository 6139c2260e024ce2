// What ui.js says in words: REST errors without raw field names, and day separators.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { dayLabel, errorText, fieldErrors } from '../ui.js';

test('field errors come from the {detail, code, errors} shape, one sentence per field', () => {
  const body = {
    detail: 'slug: Room with this Slug already exists.',
    code: 'invalid',
    errors: { slug: ['Room with this Slug already exists.'], name: ['Too long.', 'Really.'] },
  };
  assert.deepEqual(fieldErrors(body), {
    slug: 'Room with this Slug already exists.',
    name: 'Too long. Really.',
  });
  assert.deepEqual(fieldErrors({ username: ['Taken.'], non_field_errors: ['Nope.'] }), {
    username: 'Taken.', '': 'Nope.',
  });
});

test('errorText never shows a raw field name: the label, or the sentence alone', () => {
  const body = { detail: 'username: No such user.', code: 'invalid', errors: { username: ['No such user.'] } };
  assert.equal(errorText(body), 'No such user.');
  assert.equal(errorText(body, 'x', { username: 'Username' }), 'Username: No such user.');
  assert.equal(errorText({ detail: 'Not found.', code: 'not_found' }), 'Not found.');
  assert.equal(errorText(null, 'fallback'), 'fallback');
});

test('day separators say Today, Yesterday, or the day', () => {
  const now = new Date(2026, 11, 4, 9, 0);
  assert.equal(dayLabel(new Date(2026, 11, 4, 0, 5).toISOString(), now), 'Today');
  assert.equal(dayLabel(new Date(2026, 11, 3, 23, 59).toISOString(), now), 'Yesterday');
  assert.match(dayLabel(new Date(2026, 10, 20, 12).toISOString(), now), /20/);
  assert.match(dayLabel(new Date(2025, 10, 20, 12).toISOString(), now), /2025/);
});
