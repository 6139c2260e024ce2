/**
 * room/reactions.js: a message's reactions (PROTOCOL.md section 10) as a row of
 * toggles with counts and who reacted, and the small emoji picker.
 *
 * The words (reactionLabel) are pure and tested under node; the DOM parts build with
 * ui.js el() (text only). A toggle is the caller's REST call: POST to add, DELETE to take
 * back, so a click means what it shows even when the socket is down.
 */
import { el } from '../ui.js';

/** The reactions offered at once, on a message's toolbar. */
export const QUICK = ['👍', '❤️', '😂', '🎉', '👀'];

/** The picker: a small fixed set (no emoji database to download). */
export const PICKER = [
  '👍', '👎', '❤️', '😂', '😮', '😢', '😡', '🎉', '🙏', '👏', '🔥', '👀',
  '✅', '❌', '💯', '🚀', '🤔', '😅', '😍', '🙌', '💪', '👌', '☕', '🐛',
];

/** Whether `emoji` is one the server takes: 1 to 16 characters, no whitespace. */
export function validEmoji(emoji) {
  return typeof emoji === 'string' && emoji.length >= 1 && emoji.length <= 16 && !/\s/u.test(emoji);
}

/**
 * "👍 2: alice, bob" or "👍 5: you, alice, bob and 2 others". `users` are ids (at most
 * 100 of `count`); `nameOf(id)` gives a username or null (then "user 42").
 */
export function reactionLabel(reaction, nameOf, meId, shown = 3) {
  const ids = Array.isArray(reaction.users) ? reaction.users : [];
  const count = Number.isInteger(reaction.count) ? reaction.count : ids.length;
  const names = [];
  if (ids.includes(meId)) names.push('you');
  for (const id of ids) {
    if (id === meId) continue;
    names.push(nameOf(id) ?? `user ${id}`);
  }
  const listed = names.slice(0, shown);
  const rest = count - listed.length;
  let who = listed.join(', ');
  if (rest > 0) who = listed.length ? `${who} and ${rest} other${rest === 1 ? '' : 's'}` : `${rest} people`;
  return `${reaction.emoji} ${count}: ${who}`;
}

/** Whether I am among a reaction's users. */
export function reacted(reaction, meId) {
  return Array.isArray(reaction.users) && reaction.users.includes(meId);
}

/**
 * The row of reactions under a body: one toggle each (aria-pressed when mine). Empty
 * reactions give an empty row (hidden by CSS).
 */
export function reactionRow(reactions, { meId, nameOf, onToggle, disabled = false }) {
  const row = el('ul', { class: 'reactions', 'aria-label': 'Reactions' });
  for (const r of reactions ?? []) {
    if (!r || !validEmoji(r.emoji) || !(r.count > 0)) continue;
    const mine = reacted(r, meId);
    const label = reactionLabel(r, nameOf, meId);
    row.append(el('li', {}, el('button', {
      type: 'button',
      class: `reaction${mine ? ' reaction--mine' : ''}`,
      'aria-pressed': String(mine),
      'aria-label': `${label}. ${mine ? 'Remove your reaction' : 'React too'}`,
      title: label,
      disabled,
      dataset: { emoji: r.emoji },
      onclick: () => onToggle(r.emoji, !mine),
    }, el('span', { class: 'reaction__emoji', 'aria-hidden': 'true' }, r.emoji),
    el('span', { class: 'reaction__count', 'aria-hidden': 'true' }, String(r.count)))));
  }
  return row;
}

/**
 * One emoji picker for the page: a small dialog of buttons next to the button that
 * opened it. Arrow keys move, Enter picks, Escape closes; focus goes back where it was.
 */
export class EmojiPicker {
  constructor(container) {
    this.node = el('div', {
      class: 'emoji-picker', role: 'dialog', 'aria-label': 'Pick a reaction', hidden: true,
    });
    this.grid = el('div', { class: 'emoji-picker__grid', role: 'group', 'aria-label': 'Emoji' });
    this.node.append(this.grid);
    this.buttons = PICKER.map((emoji, i) => el('button', {
      type: 'button',
      class: 'emoji-picker__item',
      'aria-label': `React with ${emoji}`,
      tabindex: i === 0 ? '0' : '-1',
      onclick: () => this._pick(emoji),
    }, emoji));
    this.grid.append(...this.buttons);
    this.node.addEventListener('keydown', (e) => this._key(e));
    this.onPick = null;
    this.opener = null;
    container.append(this.node);
    document.addEventListener('click', (e) => {
      if (!this.node.hidden && !this.node.contains(e.target) && e.target !== this.opener && !this.opener?.contains(e.target)) this.close(false);
    });
  }

  get isOpen() {
    return !this.node.hidden;
  }

  /** Open under `opener`; `onPick(emoji)` gets the choice. */
  open(opener, onPick) {
    this.opener = opener;
    this.onPick = onPick;
    this.node.hidden = false;
    const box = opener.getBoundingClientRect();
    const host = this.node.offsetParent?.getBoundingClientRect() ?? { top: 0, left: 0, width: window.innerWidth };
    const width = this.node.offsetWidth;
    const left = Math.max(8, Math.min(box.right - host.left - width, host.width - width - 8));
    this.node.style.left = `${left}px`;
    this.node.style.top = `${box.bottom - host.top + 4}px`;
    opener.setAttribute('aria-expanded', 'true');
    this.buttons[0].focus();
  }

  close(restoreFocus = true) {
    if (this.node.hidden) return;
    this.node.hidden = true;
    this.opener?.setAttribute('aria-expanded', 'false');
    if (restoreFocus) this.opener?.focus();
    this.opener = null;
    this.onPick = null;
  }

  _pick(emoji) {
    const fn = this.onPick;
    this.close();
    fn?.(emoji);
  }

  _key(e) {
    const i = this.buttons.indexOf(document.activeElement);
    const cols = 6;
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: cols, ArrowUp: -cols, Home: -Infinity, End: Infinity };
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      this.close();
    } else if (e.key === 'Tab') {
      e.preventDefault(); // leaving the grid closes it, back on the button that opened it
      this.close();
    } else if (e.key in moves && i >= 0) {
      e.preventDefault();
      const n = this.buttons.length;
      const next = Math.max(0, Math.min(n - 1, i + moves[e.key]));
      this.buttons[i].tabIndex = -1;
      this.buttons[next].tabIndex = 0;
      this.buttons[next].focus();
    }
  }
}
