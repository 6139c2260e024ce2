/** realtime/errors.js: the errors the client throws, with a machine-readable `code`. */

/** Base of the errors this client throws. */
export class RealtimeError extends Error {
  constructor(message, code) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** send() while maxQueue frames already wait (for a socket, or for their echo). */
export class QueueFullError extends RealtimeError {
  constructor(limit) {
    super(`send queue is full (${limit} frames waiting); try again once connected`, 'queue_full');
    this.limit = limit;
  }
}

/** send() on a client that is closed (by close(), a fatal close code, or giving up). */
export class ClientClosedError extends RealtimeError {
  constructor() {
    super('the client is closed; call connect() first', 'closed');
  }
}
