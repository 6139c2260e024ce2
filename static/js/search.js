/**
 * search.js: the header's message search (PROTOCOL.md section 10): `GET /api/search/?q=`
 * over every room I may read, results listed under the box, best match first. A result
 * opens its room at that message (`/rooms/<slug>/?seq=<seq>`, which loads the messages
 * around it); in the room already open, it jumps there without a reload (the room page
 * listens for `room:jump`).
 *
 * The words (fold, highlightParts, snippet) are pure and tested under node; the box is
 * mountSearch(), run by app.js on every signed-in page. Results are text: the matched
 * words are <mark> elements made with textContent.
 */
import { api, el, errorText, listOf, timeEl } from './ui.js';

const DEBOUNCE_MS = 250;
const MIN_CHARS = 2;

/** Lower case without accents: how the server matches (case- and accent-insensitive). */
export function fold(text) {
  return String(text).normalize('NFD').replace(/\p{M}+/gu, '').toLowerCase();
}

/** The query's words, folded. */
export function queryWords(query) {
  return fold(query).match(/[\p{L}\p{N}_]+/gu) ?? [];
}

/**
 * `text` cut into parts, `hit` on every word that starts with a query word (words match
 * whole and by prefix).
 */
export function highlightParts(text, query) {
  const words = queryWords(query);
  const parts = [];
  const push = (t, hit) => {
    if (!t) return;
    const last = parts[parts.length - 1];
    if (last && last.hit === hit) last.text += t;
    else parts.push({ text: t, hit });
  };
  let at = 0;
  for (const m of String(text).matchAll(/[\p{L}\p{N}_]+/gu)) {
    const f = fold(m[0]);
    const hit = words.some((w) => f.startsWith(w));
    push(text.slice(at, m.index), false);
    push(m[0], hit);
    at = m.index + m[0].length;
  }
  push(String(text).slice(at), false);
  return parts;
}

/** One line of at most `max` characters around the first matched word. */
export function snippet(text, query, max = 160) {
  const one = String(text ?? '').replace(/\s+/g, ' ').trim();
  if (one.length <= max) return one;
  let first = 0;
  let pos = 0;
  for (const p of highlightParts(one, query)) {
    if (p.hit) {
      first = pos;
      break;
    }
    pos += p.text.length;
  }
  const start = Math.max(0, Math.min(first - Math.floor(max / 3), one.length - max));
  const cut = one.slice(start, start + max);
  return `${start > 0 ? '…' : ''}${cut}${start + max < one.length ? '…' : ''}`;
}

/** The page of a result: its room at its seq. */
export function resultHref(result) {
  return `/rooms/${encodeURIComponent(result.room)}/?seq=${result.seq}`;
}

/**
 * The search box in the header: type, see results, arrows to move, Enter to open,
 * Escape to close. `roomName(slug)` gives a room's display name when known.
 */
export function mountSearch(form, { roomName = (slug) => `#${slug}` } = {}) {
  const input = form.querySelector('[data-search-input]');
  const panel = form.querySelector('[data-search-panel]');
  const list = form.querySelector('[data-search-results]');
  const status = form.querySelector('[data-search-status]');
  let timer = null;
  let asked = 0; // a late answer to an older query is dropped

  const open = (on) => {
    panel.hidden = !on;
    input.setAttribute('aria-expanded', String(on));
  };
  const links = () => [...list.querySelectorAll('a')];

  const show = (results, q, hasMore) => {
    list.replaceChildren(...results.map((r) => el('li', { class: 'search__item' }, el('a', {
      class: 'search__result',
      href: resultHref(r),
      dataset: { room: r.room, seq: String(r.seq) },
    },
    el('span', { class: 'search__meta' },
      el('span', { class: 'search__room' }, roomName(r.room)),
      el('span', { class: 'search__author' }, r.user?.username ?? ''),
      r.ts ? timeEl(r.ts, { withDay: true }) : null),
    el('span', { class: 'search__text' },
      ...highlightParts(snippet(r.body, q), q).map((p) => (p.hit ? el('mark', {}, p.text) : p.text)))))));
    status.textContent = results.length === 0
      ? `No messages match “${q}”.`
      : `${results.length} message${results.length === 1 ? '' : 's'}${hasMore ? ', the best matches' : ''}.`;
    open(true);
  };

  const run = async () => {
    const q = input.value.trim();
    const mine = ++asked;
    if (q.length < MIN_CHARS) {
      list.replaceChildren();
      status.textContent = '';
      open(false);
      return;
    }
    status.textContent = 'Searching…';
    open(true);
    const res = await api('GET', `/api/search/?q=${encodeURIComponent(q)}`);
    if (mine !== asked) return;
    if (!res.ok) {
      list.replaceChildren();
      status.textContent = errorText(res.data, 'Search is not available right now.');
      return;
    }
    show(listOf(res.data).filter((r) => r && typeof r.room === 'string' && Number.isInteger(r.seq)), q, res.data?.has_more === true);
  };

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(timer);
    const first = links()[0];
    if (first && !panel.hidden && status.textContent !== 'Searching…') first.click();
    else run();
  });
  input.addEventListener('focus', () => {
    if (list.children.length) open(true);
  });
  form.addEventListener('keydown', (e) => {
    const items = links();
    const i = items.indexOf(document.activeElement);
    if (e.key === 'Escape') {
      if (panel.hidden) return;
      e.preventDefault();
      open(false);
      input.focus();
    } else if (e.key === 'ArrowDown' && items.length) {
      e.preventDefault();
      items[Math.min(items.length - 1, i + 1)].focus();
    } else if (e.key === 'ArrowUp' && i >= 0) {
      e.preventDefault();
      if (i === 0) input.focus();
      else items[i - 1].focus();
    }
  });
  // A result in the room already open: jump there, no reload.
  list.addEventListener('click', (e) => {
    const a = e.target.closest('a[data-room]');
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    if (location.pathname !== `/rooms/${encodeURIComponent(a.dataset.room)}/`) return;
    e.preventDefault();
    open(false);
    window.dispatchEvent(new CustomEvent('room:jump', { detail: { slug: a.dataset.room, seq: Number(a.dataset.seq) } }));
  });
  document.addEventListener('click', (e) => {
    if (!form.contains(e.target)) open(false);
  });
  form.addEventListener('focusout', (e) => {
    if (e.relatedTarget && !form.contains(e.relatedTarget)) open(false);
  });
}
