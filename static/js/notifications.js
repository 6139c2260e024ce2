/**
 * notifications.js: the /notifications/ page. Pages through GET /api/notifications/,
 * marks one or all read, and shows new ones live from app.js's notify socket.
 */
import { notifications as store } from './app.js';
import { api, el, errorText, level, listOf, safeLink, samePath, timeEl } from './ui.js';

const list = document.querySelector('[data-notif-list]');
const status = document.querySelector('[data-notif-status]');
const more = document.querySelector('[data-notif-more]');
const readAll = document.querySelector('[data-read-all]');
const unreadText = document.querySelector('[data-unread-text]');
const filters = [...document.querySelectorAll('[data-filter]')];

let filter = 'all';
let nextPath = null;
const shown = new Map(); // id -> <li>

function itemEl(n) {
  const lv = level(n.level);
  const li = el(
    'li',
    { class: `notif${n.read ? '' : ' is-unread'}`, dataset: { id: n.id } },
    el('span', { class: `notif__icon notif__icon--${lv}`, 'aria-hidden': 'true' }),
    el(
      'div',
      { class: 'notif__text' },
      el(
        'p',
        { class: 'notif__title' },
        n.read ? null : el('span', { class: 'visually-hidden' }, 'Unread: '),
        n.title,
      ),
      n.body ? el('p', { class: 'notif__body' }, n.body) : null,
      el(
        'p',
        { class: 'notif__meta' },
        el('span', { class: `tag tag--${lv}` }, lv),
        timeEl(n.ts, { withDay: true }),
        safeLink(n.link) ? el('a', { href: safeLink(n.link), class: 'notif__link' }, 'Open') : null,
      ),
    ),
  );
  if (!n.read) {
    li.append(el('button', {
      type: 'button',
      class: 'button button--ghost button--sm notif__read',
      'aria-label': `Mark "${n.title}" as read`,
      onclick: async (e) => {
        e.currentTarget.disabled = true;
        if (!(await store.markRead(n.id))) e.currentTarget.disabled = false;
      },
    }, 'Mark read'));
  }
  return li;
}

function upsert(n, { top = false } = {}) {
  const li = itemEl(n);
  const old = shown.get(n.id);
  if (old) {
    const hadFocus = old.contains(document.activeElement);
    old.replaceWith(li);
    if (hadFocus) {
      // The "Mark read" button is gone: keep keyboard focus on its item.
      li.tabIndex = -1;
      li.focus();
    }
  }
  else if (top) list.prepend(li);
  else list.append(li);
  shown.set(n.id, li);
}

function renderEmpty() {
  if (shown.size === 0) {
    status.textContent = filter === 'unread' ? 'No unread notifications.' : 'No notifications yet.';
    status.classList.remove('visually-hidden');
  } else {
    status.textContent = `${shown.size} shown`;
    status.classList.add('visually-hidden');
  }
}

async function loadPage(path) {
  more.disabled = true;
  const res = await api('GET', path);
  more.disabled = false;
  if (!res.ok) {
    status.textContent = `Could not load notifications: ${errorText(res.data)}`;
    status.classList.remove('visually-hidden');
    return;
  }
  const items = listOf(res.data);
  store.merge(items);
  for (const n of items) upsert(store.items.get(n.id) ?? n);
  nextPath = res.data?.next ? samePath(res.data.next) : null;
  more.hidden = !nextPath;
  renderEmpty();
}

function reload() {
  shown.clear();
  list.replaceChildren();
  status.textContent = 'Loading…';
  loadPage(filter === 'unread' ? '/api/notifications/?unread=1' : '/api/notifications/');
}

function renderUnread() {
  const n = store.unread;
  unreadText.textContent = n ? `${n} unread` : 'All caught up.';
  readAll.disabled = n === 0;
}

for (const button of filters) {
  button.addEventListener('click', () => {
    filter = button.dataset.filter;
    for (const b of filters) b.setAttribute('aria-pressed', String(b === button));
    reload();
  });
}
more.addEventListener('click', () => nextPath && loadPage(nextPath));
readAll.addEventListener('click', () => store.markAllRead());

store.bus.addEventListener('notification', (e) => {
  upsert(e.detail, { top: true });
  renderEmpty();
});
store.bus.addEventListener('change', (e) => {
  renderUnread();
  const { reason, id } = e.detail;
  if (reason === 'read' && shown.has(id)) upsert(store.items.get(id));
  if (reason === 'read-all') {
    for (const key of shown.keys()) if (store.items.has(key)) upsert(store.items.get(key));
  }
});

renderUnread();
reload();
