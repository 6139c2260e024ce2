/**
 * room/mentions.js: `@` completion in the composer. Typing `@` and part of a name
 * lists the room's people (online now, authors seen, the whitelist of a private room)
 * under the composer; arrow keys move, Enter or Tab completes, Escape closes. The
 * server finds mentions in the sent text (section 8.6): this only helps typing them.
 */
import { applyMention, mentionAt, mentionCandidates } from '../conversations.js';
import { api, avatar, el, listOf } from '../ui.js';

export class MentionCompleter {
  /**
   * @param {HTMLTextAreaElement} input the composer.
   * @param {HTMLUListElement} list the listbox under it.
   * @param {object} o `names()`: usernames known now; `me`: my username; `slug`: the room.
   */
  constructor(input, list, { names, me, slug }) {
    this.input = input;
    this.list = list;
    this.names = names;
    this.me = me;
    this.slug = slug;
    this.members = [];
    this.fetched = false;
    this.options = [];
    this.active = 0;
    this.at = null;
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-controls', list.id);
    input.addEventListener('input', () => this.update());
    input.addEventListener('blur', () => setTimeout(() => this.close(), 150));
    list.addEventListener('mousedown', (e) => e.preventDefault()); // keep focus in the composer
  }

  isOpen() {
    return !this.list.hidden;
  }

  async _fetchMembers() {
    if (this.fetched) return;
    this.fetched = true;
    // The whitelist (private rooms); a direct or public room may answer 403 or an empty list.
    const res = await api('GET', `/api/rooms/${encodeURIComponent(this.slug)}/members/`);
    if (res.ok) {
      this.members = listOf(res.data).map((u) => u?.username).filter((n) => typeof n === 'string');
      if (this.isOpen() || this.at) this.update();
    }
  }

  update() {
    const at = mentionAt(this.input.value, this.input.selectionStart ?? this.input.value.length);
    this.at = at;
    if (!at) {
      this.close();
      return;
    }
    this._fetchMembers();
    this.options = mentionCandidates([...this.names(), ...this.members], at.query, this.me);
    if (this.options.length === 0) {
      this.close();
      return;
    }
    this.active = Math.min(this.active, this.options.length - 1);
    this.render();
  }

  render() {
    this.list.replaceChildren(...this.options.map((name, i) => el(
      'li',
      {
        id: `${this.list.id}-${i}`,
        class: 'mention-option',
        role: 'option',
        'aria-selected': String(i === this.active),
        dataset: { username: name },
        onclick: () => this.choose(i),
      },
      avatar(name, 'sm'),
      el('span', {}, name),
    )));
    this.list.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
    this.input.setAttribute('aria-activedescendant', `${this.list.id}-${this.active}`);
  }

  close() {
    this.list.hidden = true;
    this.options = [];
    this.active = 0;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }

  choose(i) {
    const name = this.options[i];
    const at = this.at;
    if (!name || !at) return;
    const caret = this.input.selectionStart ?? this.input.value.length;
    const next = applyMention(this.input.value, at.start, caret, name);
    this.input.value = next.text;
    this.input.setSelectionRange(next.caret, next.caret);
    this.close();
    this.input.dispatchEvent(new Event('input', { bubbles: true })); // drafts, length, size
    this.input.focus();
  }

  /** The composer's keydown: true when the completion took the key. */
  onKey(e) {
    if (!this.isOpen() || e.isComposing) return false;
    const n = this.options.length;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      this.render();
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      this.choose(this.active);
    } else if (e.key === 'Escape') {
      this.close();
    } else {
      return false;
    }
    e.preventDefault();
    e.stopPropagation();
    return true;
  }
}
