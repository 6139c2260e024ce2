/**
 * room/drafts.js: the composer's unsent text, kept per room in Web Storage so a reload
 * or a trip to another page does not lose it. No DOM: the storage is injected.
 */

/** One room's draft under one key; every call survives missing or full storage. */
export class DraftStore {
  /** @param {object} o `storage` (getItem/setItem/removeItem, or null) and `key`. */
  constructor({ storage, key }) {
    this._storage = storage;
    this._key = key;
  }

  /** The saved draft, or '' when there is none. */
  load() {
    try {
      const value = this._storage?.getItem(this._key);
      return typeof value === 'string' ? value : '';
    } catch {
      return '';
    }
  }

  /** Save `text`; an empty or blank draft is removed. */
  save(text) {
    try {
      if (!text || !text.trim()) this._storage?.removeItem(this._key);
      else this._storage?.setItem(this._key, text);
    } catch {
      // Full or disabled storage: the draft lives as long as the page.
    }
  }

  clear() {
    this.save('');
  }
}

/** The storage keys of a user's room: one for unsent messages, one for the draft. */
export function roomKeys(userId, slug) {
  const base = `realtime:${userId ?? 'anon'}:room:${slug}`;
  return { outbox: `${base}:outbox`, draft: `${base}:draft` };
}
