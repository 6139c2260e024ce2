/**
 * room/online.js: the room's online list: set from the welcome frame, then kept by the
 * presence diffs (PROTOCOL.md section 4). The welcome lists at most 100 users, so the
 * count may be larger than the list: "and N more".
 */
import { avatar, el } from '../ui.js';

function isUser(u) {
  return u && Number.isInteger(u.id) && typeof u.username === 'string';
}

/** The list, its count and its "and N more" line. */
export class OnlineList {
  /**
   * @param {object} nodes `list`, `count` and `more`, the sidebar's elements.
   * @param {{id: number}|null} me the signed-in user, listed first.
   * @param {object} [o] `pick(user)`: makes each other name a button that calls it.
   */
  constructor({ list, count, more }, me, { pick = null } = {}) {
    this.nodes = { list, count, more };
    this.me = me;
    this.pick = pick; // pick(user): a name was chosen (a direct message with them)
    this.users = new Map(); // user id -> user
    this.count = 0;
  }

  /** Everyone online, from a welcome frame. */
  reset(welcome) {
    this.users.clear();
    for (const u of Array.isArray(welcome.online) ? welcome.online : []) if (isUser(u)) this.users.set(u.id, u);
    this.count = Number(welcome.online_count) || this.users.size;
    this.render();
  }

  /** A presence frame: who joined, who left, how many are online now. */
  apply(presence) {
    for (const u of Array.isArray(presence.joins) ? presence.joins : []) if (isUser(u)) this.users.set(u.id, u);
    for (const u of Array.isArray(presence.leaves) ? presence.leaves : []) if (isUser(u)) this.users.delete(u.id);
    if (Number.isInteger(presence.count)) this.count = presence.count;
    this.render();
  }

  render() {
    const { me } = this;
    const people = [...this.users.values()].sort((a, b) => {
      if (me && a.id === me.id) return -1;
      if (me && b.id === me.id) return 1;
      return a.username.localeCompare(b.username);
    });
    this.nodes.list.replaceChildren(...people.map((u) => el(
      'li',
      { class: 'person', dataset: { userId: u.id } },
      el('span', { class: 'person__avatar' }, avatar(u.username, 'sm'), el('span', { class: 'presence-dot', 'aria-hidden': 'true' })),
      this.pick && !(me && u.id === me.id)
        ? el('button', {
          type: 'button',
          class: 'person__name name-button',
          title: `Message ${u.username} directly`,
          onclick: () => this.pick(u),
        }, u.username)
        : el('span', { class: 'person__name' }, u.username),
      me && u.id === me.id ? el('span', { class: 'muted small' }, '(you)') : null,
    )));
    const count = Math.max(this.count, this.users.size);
    this.nodes.count.textContent = String(count);
    const more = count - this.users.size;
    this.nodes.more.hidden = more <= 0;
    this.nodes.more.textContent = more > 0 ? `and ${more} more` : '';
  }
}
