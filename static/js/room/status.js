/**
 * room/status.js: what the room page says about its socket: the connection badge
 * ("Live", "Offline, retrying in N s" with a Retry now button), the screen-reader
 * announcement of each state change, the composer's offline note, and the banner of a
 * refusal that no retry can fix (not whitelisted, no such room).
 */

const ANNOUNCE = {
  open: 'Connected.',
  reconnecting: 'Connection lost. Retrying automatically.',
  closed: 'Disconnected.',
};

/** The badge and banner of one client; render() after every state change. */
export class ConnectionStatus {
  /**
   * @param {object} client the room's RealtimeClient.
   * @param {HTMLElement} root the room element (its data-conn and room--blocked class).
   * @param {object} ui the room's elements (conn*, fatal, composer, input, send, composerStatus).
   * @param {() => void} onRender called at the end of every render (pending labels).
   */
  constructor(client, root, ui, onRender) {
    this.client = client;
    this.root = root;
    this.ui = ui;
    this.onRender = onRender;
    this.countdown = null;
    this.fatalShown = false;
    ui.connRetry.addEventListener('click', () => {
      if (client.state === 'closed') client.connect();
      else client.retryNow();
    });
  }

  render() {
    const { client, ui } = this;
    const { state } = client;
    clearInterval(this.countdown);
    this.countdown = null;
    ui.conn.dataset.state = state;
    this.root.dataset.conn = state;
    ui.connRetry.hidden = true;
    switch (state) {
      case 'open':
        ui.connText.textContent = 'Live';
        break;
      case 'idle':
      case 'connecting':
        ui.connText.textContent = 'Connecting…';
        break;
      case 'reconnecting': {
        const tick = () => {
          const at = client.nextRetryAt;
          if (client.state !== 'reconnecting') return;
          if (at === null) {
            ui.connText.textContent = 'Offline, reconnecting…';
            ui.connRetry.hidden = true;
            return;
          }
          const s = Math.max(0, Math.ceil((at - Date.now()) / 1000));
          const text = `Offline, retrying in ${s} s`;
          // Only rewrite on change, so screen readers hear it once per second at most.
          if (ui.connText.textContent !== text) ui.connText.textContent = text;
          ui.connRetry.textContent = 'Retry now';
          ui.connRetry.hidden = false;
        };
        tick();
        this.countdown = setInterval(tick, 250);
        break;
      }
      case 'closed':
        ui.connText.textContent = 'Disconnected';
        if (!this.fatalShown) {
          ui.connRetry.textContent = 'Reconnect';
          ui.connRetry.hidden = false;
        }
        break;
      default:
        ui.connText.textContent = state;
    }
    // Screen readers hear state changes, not the countdown ticking.
    const announce = ANNOUNCE[state];
    if (announce && ui.connAnnounce.textContent !== announce) ui.connAnnounce.textContent = announce;
    const offline = state !== 'open';
    ui.composerStatus.textContent = offline && !this.fatalShown && state !== 'connecting' && state !== 'idle'
      ? 'You are offline. Messages you send now are queued and go out when the connection is back.'
      : '';
    this.onRender();
  }

  /** A refusal no retry can fix: say why and disable the composer. */
  showFatal(text) {
    const { ui } = this;
    this.fatalShown = true;
    ui.fatal.textContent = text;
    ui.fatal.hidden = false;
    ui.composer.classList.add('is-disabled');
    ui.input.disabled = true;
    ui.send.disabled = true;
    this.root.classList.add('room--blocked');
    this.render();
  }
}
