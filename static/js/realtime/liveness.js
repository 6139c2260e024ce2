/**
 * realtime/liveness.js: is the link alive? A heartbeat frame every interval, and a
 * watchdog that declares the link dead after `factor` intervals without any frame
 * (a half-open TCP connection never fails by itself).
 */
export class Liveness {
  /**
   * @param {object} o `later(fn, ms)` and `cancel(timer)` (the client's timers), `now()`,
   *   `factor` (intervals of silence before the link is dead), `send(frame)`, `onDead()`.
   */
  constructor({ later, cancel, now, factor, send, onDead }) {
    this._later = later;
    this._cancel = cancel;
    this._now = now;
    this._factor = factor;
    this._send = send;
    this._onDead = onDead;
    this._hbTimer = null;
    this._watchdog = null;
    this._deadAfter = null;
    this._lastRx = 0;
  }

  /** Something arrived (a frame, or the socket's open): the link is alive now. */
  touch() {
    this._lastRx = this._now();
  }

  /** Send heartbeats every `intervalMs` and watch for silence. */
  start(intervalMs) {
    const tick = () => {
      this._hbTimer = this._later(tick, intervalMs);
      this._send({ type: 'heartbeat' });
    };
    this._hbTimer = this._later(tick, intervalMs);
    this._deadAfter = intervalMs * this._factor;
    this._armWatchdog();
  }

  /** Stop both timers (the socket is gone). */
  stop() {
    if (this._hbTimer !== null) this._cancel(this._hbTimer);
    if (this._watchdog !== null) this._cancel(this._watchdog);
    this._hbTimer = null;
    this._watchdog = null;
  }

  /** One timer for liveness, re-armed lazily, instead of a reset on every frame. */
  _armWatchdog() {
    const due = this._lastRx + this._deadAfter - this._now();
    this._watchdog = this._later(() => {
      this._watchdog = null;
      if (this._now() - this._lastRx >= this._deadAfter) this._onDead();
      else this._armWatchdog();
    }, Math.max(0, due));
  }
}
