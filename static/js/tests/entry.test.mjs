// realtime-client.js is the one public entry: it exports the documented API, the same
// objects the modules in realtime/ define.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import * as entry from '../realtime-client.js';
import * as chat from '../realtime/chat.js';
import * as connection from '../realtime/connection.js';
import * as policy from '../realtime/policy.js';

test('the entry exports exactly the API static/js/README.md documents', () => {
  assert.deepEqual(Object.keys(entry).sort(), [
    'CLOSE_POLICY', 'ClientClosedError', 'DEFAULT_BACKOFF', 'DEFAULT_CLOSE_POLICY',
    'LIFECYCLE_EVENTS', 'QueueFullError', 'RealtimeClient', 'RealtimeError', 'STATES',
    'backoffDelay', 'closePolicy', 'jwtExp', 'randomClientId',
  ]);
});

test('the entry re-exports the modules’ own objects', () => {
  assert.equal(entry.CLOSE_POLICY, policy.CLOSE_POLICY);
  assert.equal(entry.backoffDelay, policy.backoffDelay);
  assert.equal(entry.STATES, connection.STATES);
  assert.ok(entry.RealtimeClient.prototype instanceof connection.Connection);
});

test('a notify or echo socket has no room; a chat socket takes its room from the path', () => {
  const opts = { WebSocket: class {}, eventTarget: null };
  assert.equal(new entry.RealtimeClient('ws://x.test/ws/chat/caf%C3%A9/', opts).room, 'café');
  assert.equal(new entry.RealtimeClient('ws://x.test/ws/notify/user/1/', opts).room, null);
  assert.equal(chat.roomFromPath('/ws/echo/'), null);
});
