/**
 * realtime/policy.js: what the client decides, as pure functions and tables.
 *
 * The close-code policy of shared/PROTOCOL.md section 5, the reconnect schedule
 * (exponential backoff with full jitter) and when to refresh a token. No DOM, no
 * timers, no network: every input (attempt, clock reading, randomness) is an argument,
 * so the rules are tested without a socket and the connection only carries them out.
 * All durations are in milliseconds.
 */

/**
 * What the client does for each close code (PROTOCOL.md section 5), in one table.
 * `action` is one of:
 *   stop          closed, no reconnect, nothing to report
 *   fatal         closed, no reconnect, `fatal` event with `kind`
 *   refresh       await refreshToken(), then reconnect (`auth_required` if impossible)
 *   restart       reconnect at once after a small jitter (0..restartJitter)
 *   backoff       reconnect after exponential backoff, resuming with since=<lastSeq>
 *   long_backoff  reconnect after rateLimitDelay plus the backoff
 * Codes not listed (1001, 1005, 1006, ...) get DEFAULT_CLOSE_POLICY.
 */
export const CLOSE_POLICY = Object.freeze({
  1000: Object.freeze({ action: 'stop', meaning: 'normal closure' }),
  1003: Object.freeze({ action: 'fatal', kind: 'client_bug', meaning: 'binary frame on chat or notify' }),
  1009: Object.freeze({ action: 'fatal', kind: 'client_bug', meaning: 'frame over WS_MAX_FRAME_BYTES' }),
  1011: Object.freeze({ action: 'backoff', meaning: 'server error' }),
  1012: Object.freeze({ action: 'restart', meaning: 'server restarting or draining' }),
  1013: Object.freeze({ action: 'backoff', meaning: 'server overloaded' }),
  4400: Object.freeze({ action: 'fatal', kind: 'client_bug', meaning: 'too many invalid frames' }),
  4401: Object.freeze({ action: 'refresh', meaning: 'credentials expired' }),
  4403: Object.freeze({ action: 'fatal', kind: 'forbidden', meaning: 'forbidden here' }),
  4404: Object.freeze({ action: 'fatal', kind: 'not_found', meaning: 'no such room' }),
  4408: Object.freeze({ action: 'backoff', meaning: 'heartbeat timeout' }),
  4429: Object.freeze({ action: 'long_backoff', meaning: 'rate or connection limit abused' }),
  4503: Object.freeze({ action: 'backoff', meaning: 'outbound backlog passed its bound' }),
});

/** The policy for every code CLOSE_POLICY does not name: a dropped link. */
export const DEFAULT_CLOSE_POLICY = Object.freeze({ action: 'backoff', meaning: 'connection lost' });

/** Return the CLOSE_POLICY entry for a close code. */
export function closePolicy(code) {
  return Object.hasOwn(CLOSE_POLICY, code) ? CLOSE_POLICY[code] : DEFAULT_CLOSE_POLICY;
}

/** The default reconnect schedule: full jitter over 1 s doubling, capped at 30 s. */
export const DEFAULT_BACKOFF = Object.freeze({ baseDelay: 1000, maxDelay: 30000, jitter: 'full' });

const JITTERS = new Set(['full', 'none']);

/** Throw a RangeError unless `jitter` is a mode backoffDelay knows. */
export function checkJitter(jitter) {
  if (!JITTERS.has(jitter)) throw new RangeError(`jitter must be 'full' or 'none', not ${jitter}`);
}

/**
 * Delay in ms before reconnect attempt number `attempt` (0-based).
 * Full jitter (AWS architecture blog, "Exponential Backoff And Jitter"): uniform in
 * [0, min(maxDelay, baseDelay * 2^attempt)); 'none' returns that ceiling itself.
 */
export function backoffDelay(attempt, opts = {}, random = Math.random) {
  const { baseDelay, maxDelay, jitter } = { ...DEFAULT_BACKOFF, ...opts };
  checkJitter(jitter);
  const ceiling = Math.min(maxDelay, baseDelay * 2 ** Math.max(0, attempt));
  return jitter === 'none' ? ceiling : Math.floor(random() * ceiling);
}

/**
 * The connection's tunables from the client's options (static/js/README.md lists them),
 * with their defaults; throws a RangeError for an unknown jitter mode.
 */
export function connectionOptions(o = {}) {
  const opts = {
    baseDelay: o.baseDelay ?? DEFAULT_BACKOFF.baseDelay,
    maxDelay: o.maxDelay ?? DEFAULT_BACKOFF.maxDelay,
    jitter: o.jitter ?? DEFAULT_BACKOFF.jitter,
    maxRetries: o.maxRetries ?? Infinity,
    restartJitter: o.restartJitter ?? 1000,
    rateLimitDelay: o.rateLimitDelay ?? 60000,
    heartbeat: o.heartbeat ?? true,
    heartbeatInterval: o.heartbeatInterval ?? 20000,
    heartbeatTimeoutFactor: o.heartbeatTimeoutFactor ?? 2,
    connectTimeout: o.connectTimeout ?? 20000,
    refreshSkew: o.refreshSkew ?? 30000,
  };
  checkJitter(opts.jitter);
  return opts;
}

/**
 * Delay in ms before reconnecting after a close whose policy action is `action`
 * ('now' after a successful token refresh), at reconnect attempt `attempt` (0-based).
 * `opts` holds the backoff options plus `restartJitter` and `rateLimitDelay`.
 */
export function retryDelay(action, attempt, opts, random = Math.random) {
  const backoff = () => backoffDelay(attempt, opts, random);
  switch (action) {
    case 'now':
      return 0;
    case 'restart':
      // Spread a drained node's clients over a second; if that reconnect fails too,
      // the node pool is in trouble and the normal backoff applies.
      return attempt === 0 ? Math.floor(random() * opts.restartJitter) : backoff();
    case 'long_backoff':
      return opts.rateLimitDelay + backoff();
    default:
      return backoff();
  }
}

/**
 * Delay in ms before refreshing a token that expires at `exp` (epoch seconds), seen at
 * `now` (epoch ms): `skew` before the expiry, or at half the remaining life when that
 * is later, so a server issuing short tokens cannot put the client in a tight loop.
 */
export function refreshDelay(exp, now, skew) {
  const remaining = exp * 1000 - now;
  return Math.max(0, remaining - skew, remaining / 2);
}

/** 4401s in a row on short-lived sockets before the client stops refreshing. */
export const MAX_AUTH_STREAK = 3;

/** A socket that stayed open this long ends a 4401 streak. */
export const AUTH_STREAK_RESET = 60000;
