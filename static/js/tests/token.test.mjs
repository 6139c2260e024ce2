import { test } from 'node:test';
import assert from 'node:assert/strict';

import { jwtExp } from '../realtime-client.js';
import { connectAndWelcome, flush, makeJwt, setup } from './fakes.mjs';

const NOW_S = 1_700_000_000; // FakeClock starts at this epoch second

test('jwtExp reads exp from a base64url JWT payload', () => {
  // 'é' and '~~~' make the base64url form use the - and _ characters and UTF-8.
  const token = makeJwt({ exp: 1234567890, username: 'é~~~?>' });
  assert.match(token.split('.')[1], /[-_]/);
  assert.equal(jwtExp(token), 1234567890);
});

test('jwtExp is null for tokens it cannot read', () => {
  assert.equal(jwtExp('opaque-session-token'), null);
  assert.equal(jwtExp('a.!!!.c'), null);
  assert.equal(jwtExp(makeJwt({ sub: 1 })), null);
  assert.equal(jwtExp(null), null);
});

test('the token goes into the URL as ?token= on connect', () => {
  const token = makeJwt({ exp: NOW_S + 3600 });
  const ctx = setup({ token });
  ctx.client.connect();
  assert.equal(ctx.WS.last.params.get('token'), token);
});

test('a session-authenticated client sends no token and schedules no refresh', () => {
  const ctx = setup({ refreshToken: async () => assert.fail('no refresh expected') });
  connectAndWelcome(ctx);
  assert.equal(ctx.WS.last.params.has('token'), false);
  ctx.clock.advance(24 * 3600 * 1000);
  assert.equal(ctx.of('token_refreshed').length, 0);
});

test('the token is refreshed refreshSkew before exp and sent as an auth frame', async () => {
  const first = makeJwt({ exp: NOW_S + 300 });
  const second = makeJwt({ exp: NOW_S + 600 });
  const third = makeJwt({ exp: NOW_S + 900 });
  const issued = [second, third];
  // Heartbeats off: this test only looks at auth frames over ten minutes of silence.
  const ctx = setup({ token: first, refreshToken: async () => issued.shift(), heartbeat: false });
  const ws = connectAndWelcome(ctx);
  ctx.clock.advance(270_000 - 1);
  await flush();
  assert.equal(ws.frames.length, 0);
  ctx.clock.advance(1);
  await flush();
  assert.deepEqual(ws.frames, [{ type: 'auth', token: second }]);
  assert.deepEqual(ctx.of('token_refreshed'), [{ exp: NOW_S + 600 }]);
  assert.equal(ctx.client.state, 'open');
  // The next refresh is scheduled from the new token's exp.
  ctx.clock.advance(299_999);
  await flush();
  assert.equal(ws.frames.length, 1);
  ctx.clock.advance(1);
  await flush();
  assert.deepEqual(ws.frames[1], { type: 'auth', token: third });
});

test('the refreshed token is used in the URL of the next connect', async () => {
  const fresh = makeJwt({ exp: NOW_S + 3600 });
  const ctx = setup({ token: makeJwt({ exp: NOW_S + 60 }), refreshToken: async () => fresh });
  connectAndWelcome(ctx);
  ctx.clock.advance(30_000);
  await flush();
  ctx.WS.last.serverClose(1006);
  ctx.clock.advance(ctx.of('retry')[0].delay);
  assert.equal(ctx.WS.last.params.get('token'), fresh);
});

test('a failed refresh before expiry is reported and keeps the socket open', async () => {
  const ctx = setup({
    token: makeJwt({ exp: NOW_S + 60 }),
    refreshToken: async () => { throw new Error('offline'); },
  });
  connectAndWelcome(ctx);
  ctx.clock.advance(30_000);
  await flush();
  assert.equal(ctx.of('token_refresh_failed').length, 1);
  assert.equal(ctx.of('token_refresh_failed')[0].error.message, 'offline');
  assert.equal(ctx.client.state, 'open');
});

test('an already expired token is refreshed before connecting', async () => {
  const fresh = makeJwt({ exp: NOW_S + 3600 });
  const ctx = setup({ token: makeJwt({ exp: NOW_S - 1 }), refreshToken: async () => fresh });
  ctx.client.connect();
  assert.equal(ctx.WS.instances.length, 0, 'no handshake with a dead token');
  await flush();
  assert.equal(ctx.WS.instances.length, 1);
  assert.equal(ctx.WS.last.params.get('token'), fresh);
});

test('getToken is asked for the latest token on every connect', async () => {
  const tokens = ['t1', 't2'];
  const ctx = setup({ getToken: async () => tokens.shift() });
  ctx.client.connect();
  await flush();
  assert.equal(ctx.WS.last.params.get('token'), 't1');
  connectAndWelcome(ctx).serverClose(1006);
  ctx.clock.advance(ctx.of('retry')[0].delay);
  await flush();
  assert.equal(ctx.WS.last.params.get('token'), 't2');
});

test('a token living less than refreshSkew is refreshed at half its life, not in a loop', async () => {
  let calls = 0;
  const ctx = setup({
    token: makeJwt({ exp: NOW_S + 20 }),
    refreshToken: async () => {
      calls += 1;
      return makeJwt({ exp: Math.floor(ctx.clock.now() / 1000) + 20 });
    },
    heartbeat: false,
  });
  connectAndWelcome(ctx);
  ctx.clock.advance(9_999);
  await flush();
  assert.equal(calls, 0);
  ctx.clock.advance(1);
  await flush();
  assert.equal(calls, 1);
  ctx.clock.advance(9_999);
  await flush();
  assert.equal(calls, 1, 'the next refresh waits half the new token life again');
});
