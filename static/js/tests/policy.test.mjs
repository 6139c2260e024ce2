// realtime/policy.js on its own: pure functions of their arguments, no client needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  CLOSE_POLICY, closePolicy, connectionOptions, DEFAULT_BACKOFF, refreshDelay, retryDelay,
} from '../realtime/policy.js';

const OPTS = connectionOptions({ jitter: 'none' });

test('policy.js imports nothing and touches no timer, DOM, socket or network', () => {
  const source = readFileSync(new URL('../realtime/policy.js', import.meta.url), 'utf8');
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  for (const word of ['import', 'setTimeout', 'clearTimeout', 'Date.now', 'document', 'window', 'WebSocket', 'fetch']) {
    assert.equal(code.includes(word), false, `policy.js uses ${word}`);
  }
});

test('every close policy names a known action, and every fatal one its kind', () => {
  const actions = new Set(['stop', 'fatal', 'refresh', 'restart', 'backoff', 'long_backoff']);
  for (const [code, policy] of Object.entries(CLOSE_POLICY)) {
    assert.ok(actions.has(policy.action), `${code}: ${policy.action}`);
    assert.equal(policy.action === 'fatal', typeof policy.kind === 'string', `${code}: kind`);
    assert.ok(policy.meaning, `${code}: meaning`);
    assert.ok(Object.isFrozen(policy), `${code}: frozen`);
    assert.equal(closePolicy(Number(code)), policy);
  }
});

test('an inherited property name is not a close code', () => {
  assert.equal(closePolicy('toString').action, 'backoff');
  assert.equal(closePolicy('__proto__').action, 'backoff');
});

test('the retry delay of each action', () => {
  const random = () => 0.5;
  assert.equal(retryDelay('now', 7, OPTS, random), 0);
  assert.equal(retryDelay('backoff', 0, OPTS, random), 1000);
  assert.equal(retryDelay('backoff', 2, OPTS, random), 4000);
  assert.equal(retryDelay('long_backoff', 1, OPTS, random), 60000 + 2000);
  // 1012: a jitter under restartJitter first, then the backoff if that fails too.
  assert.equal(retryDelay('restart', 0, OPTS, random), 500);
  assert.equal(retryDelay('restart', 1, OPTS, random), 2000);
});

test('retry delays follow the options, not constants', () => {
  const opts = connectionOptions({ baseDelay: 10, maxDelay: 40, jitter: 'none', restartJitter: 100, rateLimitDelay: 5 });
  assert.deepEqual([0, 1, 2, 3, 9].map((a) => retryDelay('backoff', a, opts)), [10, 20, 40, 40, 40]);
  assert.equal(retryDelay('restart', 0, opts, () => 0.99), 99);
  assert.equal(retryDelay('long_backoff', 0, opts), 15);
});

test('a token is refreshed refreshSkew before it expires', () => {
  const now = 1_700_000_000_000;
  assert.equal(refreshDelay(now / 1000 + 300, now, 30000), 270000);
});

test('a short-lived token is refreshed at half its remaining life, an expired one at once', () => {
  const now = 1_700_000_000_000;
  assert.equal(refreshDelay(now / 1000 + 20, now, 30000), 10000);
  assert.equal(refreshDelay(now / 1000 - 5, now, 30000), 0);
});

test('connectionOptions fills in the documented defaults and refuses an unknown jitter', () => {
  assert.deepEqual(connectionOptions(), {
    ...DEFAULT_BACKOFF,
    maxRetries: Infinity,
    restartJitter: 1000,
    rateLimitDelay: 60000,
    heartbeat: true,
    heartbeatInterval: 20000,
    heartbeatTimeoutFactor: 2,
    connectTimeout: 20000,
    refreshSkew: 30000,
  });
  assert.equal(connectionOptions({ heartbeat: false, maxRetries: 0 }).heartbeat, false);
  assert.equal(connectionOptions({ maxRetries: 0 }).maxRetries, 0);
  assert.throws(() => connectionOptions({ jitter: 'equal' }), RangeError);
});
