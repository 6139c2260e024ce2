import { test } from 'node:test';
import assert from 'node:assert/strict';

import { CLOSE_POLICY, closePolicy, DEFAULT_CLOSE_POLICY } from '../realtime-client.js';
import { connectAndWelcome, flush, makeJwt, msg, setup } from './fakes.mjs';

test('the close policy table covers every code of PROTOCOL.md section 5', () => {
  const expected = {
    1000: 'stop',
    1003: 'fatal',
    1009: 'fatal',
    1011: 'backoff',
    1012: 'restart',
    1013: 'backoff',
    4400: 'fatal',
    4401: 'refresh',
    4403: 'fatal',
    4404: 'fatal',
    4408: 'backoff',
    4429: 'long_backoff',
    4503: 'backoff',
  };
  const actual = Object.fromEntries(Object.entries(CLOSE_POLICY).map(([c, p]) => [c, p.action]));
  assert.deepEqual(actual, expected);
  assert.equal(closePolicy(1006), DEFAULT_CLOSE_POLICY);
  assert.equal(closePolicy(4999).action, 'backoff');
  assert.ok(Object.isFrozen(CLOSE_POLICY));
});

for (const [code, kind] of [
  [4403, 'forbidden'],
  [4404, 'not_found'],
  [1003, 'client_bug'],
  [1009, 'client_bug'],
  [4400, 'client_bug'],
]) {
  test(`close ${code} stops for good and reports a ${kind} fatal`, () => {
    const ctx = setup();
    const ws = connectAndWelcome(ctx);
    ws.serverClose(code, 'why');
    assert.equal(ctx.client.state, 'closed');
    assert.deepEqual(
      ctx.of('fatal').map(({ code: c, kind: k, reason }) => ({ c, k, reason })),
      [{ c: code, k: kind, reason: 'why' }],
    );
    assert.equal(ctx.of('retry').length, 0);
    ctx.clock.advance(3_600_000);
    assert.equal(ctx.WS.instances.length, 1, 'never reconnects');
    assert.equal(ctx.clock.size, 0, 'no timer left behind');
  });
}

test('a 4403 refusal right after the handshake also stops', () => {
  const ctx = setup();
  ctx.client.connect();
  ctx.WS.last.serverOpen();
  ctx.WS.last.serverClose(4403);
  assert.equal(ctx.client.state, 'closed');
  assert.equal(ctx.of('fatal')[0].kind, 'forbidden');
});

test('close 1000 from the server closes without reconnecting or a fatal', () => {
  const ctx = setup();
  connectAndWelcome(ctx).serverClose(1000);
  assert.equal(ctx.client.state, 'closed');
  assert.equal(ctx.of('fatal').length, 0);
  ctx.clock.advance(600000);
  assert.equal(ctx.WS.instances.length, 1);
});

test('close() by the client sends 1000, ends in closed and never reconnects', () => {
  const ctx = setup();
  const ws = connectAndWelcome(ctx);
  ctx.client.close();
  assert.deepEqual(ws.closedWith, { code: 1000, reason: '' });
  assert.equal(ctx.client.state, 'closed');
  const last = ctx.of('state').at(-1);
  assert.equal(last.byClient, true);
  ws.serverClose(1000); // the browser's late close event changes nothing
  ctx.clock.advance(600000);
  assert.equal(ctx.WS.instances.length, 1);
  assert.equal(ctx.clock.size, 0);
});

test('close() while waiting to reconnect cancels the retry', () => {
  const ctx = setup();
  connectAndWelcome(ctx).serverClose(1006);
  assert.equal(ctx.client.state, 'reconnecting');
  ctx.client.close();
  ctx.clock.advance(600000);
  assert.equal(ctx.WS.instances.length, 1);
  assert.equal(ctx.client.state, 'closed');
});

test('close 4401 refreshes the token, then reconnects at once with the new one', async () => {
  const fresh = makeJwt({ exp: 9_999_999_999, n: 2 });
  let calls = 0;
  const ctx = setup({
    token: makeJwt({ exp: 9_999_999_999, n: 1 }),
    refreshToken: async () => {
      calls += 1;
      return fresh;
    },
  });
  connectAndWelcome(ctx).serverClose(4401);
  assert.equal(ctx.client.state, 'reconnecting');
  await flush();
  assert.equal(calls, 1);
  assert.equal(ctx.of('retry').at(-1).delay, 0);
  ctx.clock.advance(0);
  assert.equal(ctx.WS.instances.length, 2);
  assert.equal(ctx.WS.last.params.get('token'), fresh);
});

test('close 4401 with a failing refreshToken emits auth_required and stops', async () => {
  const failure = new Error('refresh token expired');
  const ctx = setup({ token: 'opaque', refreshToken: async () => { throw failure; } });
  connectAndWelcome(ctx).serverClose(4401);
  await flush();
  assert.equal(ctx.client.state, 'closed');
  assert.deepEqual(ctx.of('auth_required'), [{ code: 4401, error: failure }]);
  ctx.clock.advance(600000);
  assert.equal(ctx.WS.instances.length, 1);
});

test('close 4401 on a session socket without refreshToken emits auth_required', () => {
  const ctx = setup();
  connectAndWelcome(ctx).serverClose(4401);
  assert.equal(ctx.client.state, 'closed');
  assert.equal(ctx.of('auth_required').length, 1);
  assert.equal(ctx.of('auth_required')[0].code, 4401);
});

test('4401 answered again and again after refreshing ends in auth_required', async () => {
  let calls = 0;
  const ctx = setup({ token: 't0', refreshToken: async () => `t${++calls}` });
  connectAndWelcome(ctx);
  for (let i = 0; i < 3; i += 1) {
    ctx.WS.last.serverClose(4401);
    await flush();
    ctx.clock.advance(0);
    connectAndWelcome(ctx);
  }
  assert.equal(ctx.WS.instances.length, 4);
  ctx.WS.last.serverClose(4401);
  await flush();
  assert.equal(calls, 3);
  assert.equal(ctx.client.state, 'closed');
  assert.equal(ctx.of('auth_required').length, 1);
});

test('close 1012 reconnects at once with a jitter under one second', () => {
  for (const r of [0, 0.5, 0.999]) {
    // A 5 s base delay tells the restart jitter apart from the first backoff step.
    const ctx = setup({ random: () => r, baseDelay: 5000 });
    connectAndWelcome(ctx).serverClose(1012);
    const { delay } = ctx.of('retry')[0];
    assert.equal(delay, Math.floor(r * 1000));
    assert.ok(delay >= 0 && delay < 1000);
    ctx.clock.advance(delay);
    assert.equal(ctx.WS.instances.length, 2);
  }
});

test('a failed reconnect after 1012 falls back to the backoff', () => {
  const ctx = setup({ jitter: 'none', random: () => 0.5 });
  connectAndWelcome(ctx).serverClose(1012);
  ctx.clock.advance(ctx.of('retry')[0].delay);
  ctx.WS.last.serverClose(1012);
  assert.equal(ctx.of('retry')[1].delay, 2000);
});

test('close 4429 waits a long backoff before reconnecting', () => {
  const ctx = setup({ random: () => 0.5 });
  connectAndWelcome(ctx).serverClose(4429);
  const { delay } = ctx.of('retry')[0];
  assert.equal(delay, 60000 + 500);
  ctx.clock.advance(delay - 1);
  assert.equal(ctx.WS.instances.length, 1);
  ctx.clock.advance(1);
  assert.equal(ctx.WS.instances.length, 2);
});

for (const code of [4503, 1011, 1013, 4408, 1006, 1001, 4999]) {
  test(`close ${code} reconnects with backoff and since=<last seq>`, () => {
    const ctx = setup({ random: () => 0.5 });
    const ws = connectAndWelcome(ctx, { history: [msg(7), msg(8)] });
    ws.serverSend(msg(9));
    ws.serverClose(code);
    assert.equal(ctx.client.state, 'reconnecting');
    const [retry] = ctx.of('retry');
    assert.equal(retry.code, code);
    assert.equal(retry.delay, 500);
    ctx.clock.advance(499);
    assert.equal(ctx.WS.instances.length, 1);
    ctx.clock.advance(1);
    assert.equal(ctx.WS.instances.length, 2);
    assert.equal(ctx.WS.last.params.get('since'), '9');
  });
}

test('a URL the WebSocket constructor refuses is a client_bug fatal, not a retry loop', () => {
  class Refusing {
    constructor() { throw new SyntaxError('bad url'); }
  }
  const ctx = setup({ WebSocket: Refusing });
  ctx.client.connect();
  assert.equal(ctx.client.state, 'closed');
  assert.equal(ctx.of('fatal')[0].kind, 'client_bug');
  assert.equal(ctx.errors[0].message, 'bad url');
  assert.equal(ctx.clock.size, 0);
});
