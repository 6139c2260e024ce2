// Convergence (PROTOCOL.md section 10): seeded random runs of a fake server model and a
// client through drops, reorders and late REST answers (convergence-model.mjs says how)
// end with every message the client holds equal to the server's, field for field.
// A failing seed replays alone: `run(seed)` from convergence-model.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { run } from './convergence-model.mjs';

test('200 seeded runs with drops, reorders and late REST answers all converge', async () => {
  const failures = [];
  const seen = { drops: 0, changes: 0, incomplete: 0, updates: 0 };
  for (let seed = 1; seed <= 200; seed += 1) {
    const stats = {};
    const diff = await run(seed, 150, stats);
    if (diff) failures.push(`seed ${seed}: ${diff}`);
    for (const k of Object.keys(seen)) seen[k] += stats[k];
  }
  assert.equal(failures.length, 0, `${failures.length} of 200 seeds diverged:\n${failures.slice(0, 10).join('\n')}`);
  // The runs went through what they claim to test: drops, resumed changes, incomplete
  // welcomes paged over REST, updates of held messages.
  for (const [k, n] of Object.entries(seen)) assert.ok(n > 100, `${k}: ${n}`);
});
