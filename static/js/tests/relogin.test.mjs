// ui.js's reLogin guard, in node: ui.js touches the DOM only when its helpers are called.
import { test } from 'node:test';
import assert from 'node:assert/strict';

const assigned = [];
globalThis.location = {
  href: 'http://chat.test/rooms/lobby/',
  pathname: '/rooms/lobby/',
  search: '',
  assign: (url) => assigned.push(url),
};

/** A fresh instance of ui.js (its flag is module state): a new URL is a new module. */
let instances = 0;
const freshUi = () => import(`../ui.js?instance=${(instances += 1)}`);

test('a page whose sockets all get 4401 goes to the login page once', async () => {
  assigned.length = 0;
  const { reLogin } = await freshUi();
  reLogin(); // the chat socket's auth_required
  reLogin(); // the notify socket's, a moment later: a second navigation would abort the first
  reLogin(); // a REST call answered 401
  assert.deepEqual(assigned, ['/login/?next=/rooms/lobby/']);
});

test('a page that is logging out is not sent to the login page', async () => {
  assigned.length = 0;
  const { markLoggingOut, reLogin } = await freshUi();
  markLoggingOut();
  reLogin();
  assert.deepEqual(assigned, []);
});
