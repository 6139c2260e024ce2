/**
 * realtime/tokens.js: the access token a socket authenticates with: reading its expiry,
 * choosing it for each handshake, and refreshing it one call at a time.
 */
import { RealtimeError } from './errors.js';

/**
 * The `exp` claim (seconds since the epoch) of a JWT, or null when it has none.
 * Only read to schedule a refresh: the server verifies the token, never this code.
 */
export function jwtExp(token) {
  if (typeof token !== 'string') return null;
  const part = token.split('.')[1];
  if (!part) return null;
  let payload;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '='));
    payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch {
    // An opaque or malformed token simply has no known expiry: no refresh is scheduled.
    return null;
  }
  return payload !== null && Number.isFinite(payload.exp) ? payload.exp : null;
}

/** Is `value` a promise (or any thenable)? */
export function isThenable(value) {
  return value !== null && typeof value === 'object' && typeof value.then === 'function';
}

/**
 * The client's credentials: the `token`, `getToken` and `refreshToken` options.
 * Session-authenticated pages have none of them, and every method then yields null.
 */
export class Credentials {
  /**
   * @param {object} o `token`, `getToken`, `refreshToken` (see static/js/README.md)
   *   and `now`, the clock's epoch-ms reading.
   */
  constructor({ token = null, getToken = null, refreshToken = null, now }) {
    this._token = token;
    this._getToken = getToken;
    this._refreshToken = refreshToken;
    this._now = now;
    this._refreshing = null;
  }

  /** Whether a `refreshToken` option was given. */
  get canRefresh() {
    return Boolean(this._refreshToken);
  }

  /** The token for the next handshake (or a promise of it); refreshed first if expired. */
  forConnect() {
    const fresh = (t) => {
      const exp = jwtExp(t);
      // An expired token is refused with a bare HTTP 403, which looks like a network
      // drop (1006) to a browser: refresh first rather than retry it forever.
      if (t && this._refreshToken && exp !== null && exp * 1000 <= this._now()) {
        return this.refresh();
      }
      return t ?? null;
    };
    const t = this._getToken ? this._getToken() : this._token;
    return isThenable(t) ? t.then(fresh) : fresh(t);
  }

  /** A fresh token from `refreshToken`; one call at a time (a 4401 and the timer may ask together). */
  refresh() {
    if (!this._refreshToken) return Promise.reject(new RealtimeError('no refreshToken option', 'no_refresh'));
    if (!this._refreshing) {
      this._refreshing = Promise.resolve()
        .then(() => this._refreshToken())
        .then((token) => {
          if (typeof token !== 'string' || !token) {
            throw new RealtimeError('refreshToken() did not return a token', 'bad_token');
          }
          this._token = token;
          return token;
        })
        .finally(() => { this._refreshing = null; });
    }
    return this._refreshing;
  }
}
