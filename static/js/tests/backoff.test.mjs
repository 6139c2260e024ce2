import { test } from 'node:test';
import assert from 'node:assert/strict';

import { backoffDelay, DEFAULT_BACKOFF } from '../realtime-client.js';
import { connectAndWelcome, fixedRandom, setup } from './fakes.mjs';

/** Fail the current socket (never opened) and return the delay the client scheduled. */
function failAndGetDelay(ctx, code = 1006) {
  ctx.WS.last.serverClose(code);
  const retries = ctx.of('retry');
  return retries[retries.length - 1]?.delay;
}

test('backoff doubles from the base delay and is capped at maxDelay', () => {
  const opts = { baseDelay: 1000, maxDelay: 30000, jitter: 'none' };
  const delays = [0, 1, 2, 3, 4, 5, 6, 10].map((a) => backoffDelay(a, opts));
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test('the default backoff is full jitter over 1 s doubling up to 30 s', () => {
  assert.deepEqual({ ...DEFAULT_BACKOFF }, { baseDelay: 1000, maxDelay: 30000, jitter: 'full' });
  assert.equal(backoffDelay(0, {}, () => 0.5), 500);
  assert.equal(backoffDelay(3, {}, () => 0.5), 4000);
  assert.equal(backoffDelay(20, {}, () => 0.5), 15000);
});

test('full jitter stays within zero and the exponential ceiling', () => {
  for (const attempt of [0, 1, 4, 7, 40]) {
    const ceiling = Math.min(30000, 1000 * 2 ** attempt);
    assert.equal(backoffDelay(attempt, {}, () => 0), 0);
    const top = backoffDelay(attempt, {}, () => 0.9999999);
    assert.ok(top < ceiling && top >= ceiling - 1, `attempt ${attempt}: ${top} vs ${ceiling}`);
  }
});

test('a huge attempt number still yields the cap, not Infinity or NaN', () => {
  assert.equal(backoffDelay(5000, { jitter: 'none' }), 30000);
  assert.equal(backoffDelay(5000, {}, () => 0.5), 15000);
});

test('an unknown jitter mode is refused', () => {
  assert.throws(() => backoffDelay(0, { jitter: 'equal' }), RangeError);
  assert.throws(() => setup({ jitter: 'decorrelated' }), RangeError);
});

test('the client schedules reconnects on the jittered exponential schedule', () => {
  const ctx = setup({ random: fixedRandom(0.25) });
  ctx.client.connect();
  const delays = [];
  for (let i = 0; i < 8; i += 1) {
    delays.push(failAndGetDelay(ctx));
    ctx.clock.advance(delays[i]);
  }
  assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 7500, 7500, 7500]);
  assert.equal(ctx.WS.instances.length, 9);
});

test('the client retries forever by default', () => {
  const ctx = setup();
  ctx.client.connect();
  for (let i = 0; i < 200; i += 1) ctx.clock.advance(failAndGetDelay(ctx));
  assert.equal(ctx.client.state, 'reconnecting');
  assert.equal(ctx.WS.instances.length, 201);
  assert.equal(ctx.of('fatal').length, 0);
});

test('maxRetries gives up with a max_retries fatal after that many reconnects', () => {
  const ctx = setup({ maxRetries: 3 });
  connectAndWelcome(ctx);
  for (let i = 0; i < 3; i += 1) ctx.clock.advance(failAndGetDelay(ctx, 1011));
  ctx.WS.last.serverClose(1011);
  assert.equal(ctx.client.state, 'closed');
  assert.equal(ctx.WS.instances.length, 4);
  const [fatal] = ctx.of('fatal');
  assert.equal(fatal.kind, 'max_retries');
  assert.equal(fatal.code, 1011);
  ctx.clock.advance(600000);
  assert.equal(ctx.WS.instances.length, 4, 'no socket after giving up');
});

test('the old 1-2-4-8 s, five tries behaviour is expressible', () => {
  const ctx = setup({ baseDelay: 1000, maxDelay: 8000, jitter: 'none', maxRetries: 5 });
  connectAndWelcome(ctx);
  const delays = [];
  for (let i = 0; i < 5; i += 1) {
    delays.push(failAndGetDelay(ctx));
    ctx.clock.advance(delays[i]);
  }
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000]);
  ctx.WS.last.serverClose(1006);
  assert.equal(ctx.client.state, 'closed');
  assert.equal(ctx.of('fatal')[0].kind, 'max_retries');
  assert.equal(ctx.WS.instances.length, 6, 'the first socket and five retries');
});

test('a welcome resets the backoff to its first step', () => {
  const ctx = setup({ jitter: 'none' });
  ctx.client.connect();
  for (let i = 0; i < 4; i += 1) ctx.clock.advance(failAndGetDelay(ctx));
  assert.equal(ctx.client.attempt, 4);
  connectAndWelcome(ctx);
  assert.equal(ctx.client.attempt, 0);
  assert.equal(failAndGetDelay(ctx), 1000);
});

test('a socket that opens but never welcomes does not reset the backoff', () => {
  const ctx = setup({ jitter: 'none' });
  ctx.client.connect();
  ctx.clock.advance(failAndGetDelay(ctx));
  ctx.WS.last.serverOpen();
  assert.equal(failAndGetDelay(ctx), 2000);
});
