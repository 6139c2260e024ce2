/**
 * app.js: what every signed-in page runs: the notify socket, the bell with its unread
 * count and dropdown, and toasts for new notifications.
 *
 * Other page modules import `notifications` from here (ES modules are singletons per
 * URL, so the notifications page shares this socket instead of opening a second one).
 */
import { RealtimeClient } from './realtime-client.js';
import { mountSearch } from './search.js';
import { badgeText, Conversations, displayName, titleWithCount } from './conversations.js';
import {
  api, avatar, currentUser, el, errorText, icon, level, listOf, markLoggingOut, paintAvatars, reLogin, relativeTime,
  safeLink, toast,
} from './ui.js';

const MAX_TOASTS_ON_RESUME = 3;

/**
 * The user's notifications as this page knows them, kept live by the notify socket.
 * Events (on `bus`): 'change' (detail: {reason}), 'notification' (detail: the item).
 */
class NotificationStore {
  constructor(user) {
    this.user = user;
    this.bus = new EventTarget();
    this.items = new Map(); // id -> notification
    this.unread = 0;
    this.welcomed = false;
    this.client = new RealtimeClient(`/ws/notify/user/${user.id}/`);
    this.client.on('welcome', (w) => this._onWelcome(w));
    this.client.on('notification', (n) => this._onNotification(n));
    this.client.on('unread', (f) => this._setUnread(f.count, 'unread'));
    this.client.on('auth_required', reLogin);
    this.client.on('state', () => this._emit('change', { reason: 'state' }));
  }

  start() {
    this.client.connect();
    return this;
  }

  /** Newest first. */
  list() {
    return [...this.items.values()].sort((a, b) => b.id - a.id);
  }

  /** Merge notifications from REST (a page of the list) without toasting them. */
  merge(items) {
    for (const n of items) if (n && Number.isInteger(n.id)) this.items.set(n.id, { ...this.items.get(n.id), ...n });
    this._emit('change', { reason: 'merge' });
  }

  async markRead(id) {
    const item = this.items.get(id);
    const res = await api('POST', `/api/notifications/${id}/read/`);
    if (!res.ok) {
      toast({ title: 'Could not mark as read', body: res.data?.detail ?? '', level: 'error' });
      return false;
    }
    if (item) item.read = true;
    // The answer carries the new count (every notify socket also gets an unread frame).
    const count = Number.isInteger(res.data?.unread) ? res.data.unread : Math.max(0, this.unread - 1);
    this._setUnread(count, 'read');
    this._emit('change', { reason: 'read', id });
    return true;
  }

  async markAllRead() {
    const res = await api('POST', '/api/notifications/read-all/');
    if (!res.ok) {
      toast({ title: 'Could not mark all as read', body: res.data?.detail ?? '', level: 'error' });
      return false;
    }
    for (const item of this.items.values()) item.read = true;
    this._setUnread(Number.isInteger(res.data?.unread) ? res.data.unread : 0, 'read-all');
    return true;
  }

  _onWelcome(w) {
    const known = this.items.size > 0 ? Math.max(...this.items.keys()) : 0;
    const incoming = Array.isArray(w.notifications) ? w.notifications : [];
    // Only what arrived while this page was offline earns a toast, and only a few.
    const missed = this.welcomed ? incoming.filter((n) => n.id > known) : [];
    for (const n of incoming) this.items.set(n.id, { ...n, read: false });
    // Items we hold as unread that the server no longer lists were read elsewhere.
    const unreadIds = new Set(incoming.map((n) => n.id));
    if (incoming.length < 100) {
      for (const item of this.items.values()) if (!unreadIds.has(item.id)) item.read = true;
    }
    this.welcomed = true;
    this._setUnread(Number(w.unread) || 0, 'welcome');
    missed.slice(0, MAX_TOASTS_ON_RESUME).forEach((n) => this._toast(n));
  }

  _onNotification(n) {
    if (!Number.isInteger(n.id) || this.items.has(n.id)) return;
    const item = { ...n, read: Boolean(n.read) };
    this.items.set(n.id, item);
    if (!item.read) this._setUnread(this.unread + 1, 'notification');
    this._toast(item);
    this._emit('notification', item);
  }

  _toast(n) {
    toast({ title: n.title, body: n.body, level: n.level, href: safeLink(n.link) ?? '/notifications/' });
  }

  _setUnread(count, reason) {
    this.unread = Math.max(0, Number(count) || 0);
    this._emit('change', { reason });
  }

  _emit(type, detail) {
    this.bus.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/** The bell in base.html's header: count badge, dropdown, keyboard handling. */
class Bell {
  constructor(root, store) {
    this.root = root;
    this.store = store;
    this.button = root.querySelector('[data-bell-button]');
    this.label = root.querySelector('[data-bell-label]');
    this.count = root.querySelector('[data-bell-count]');
    this.panel = root.querySelector('[data-bell-panel]');
    this.list = root.querySelector('[data-bell-list]');
    this.empty = root.querySelector('[data-bell-empty]');
    this.readAll = root.querySelector('[data-bell-read-all]');
    this.fetched = false;

    this.button.addEventListener('click', () => this.toggle());
    this.readAll.addEventListener('click', () => store.markAllRead());
    document.addEventListener('click', (e) => {
      if (this.isOpen() && !root.contains(e.target)) this.close(false);
    });
    // On the document, not the bell: focus may be on <body> after a row re-rendered.
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.isOpen()) {
        e.preventDefault();
        this.close(true);
      }
    });
    store.bus.addEventListener('change', () => this.render());
    store.bus.addEventListener('notification', () => this.render());
    this.render();
  }

  isOpen() {
    return !this.panel.hidden;
  }

  toggle() {
    if (this.isOpen()) this.close(true);
    else this.open();
  }

  async open() {
    this.panel.hidden = false;
    this.button.setAttribute('aria-expanded', 'true');
    this.render();
    if (!this.fetched) {
      // The welcome frame lists unread ones only: show the latest read ones too.
      const res = await api('GET', '/api/notifications/');
      if (res.ok) {
        this.fetched = true;
        this.store.merge(listOf(res.data));
      }
    }
  }

  close(focusButton) {
    this.panel.hidden = true;
    this.button.setAttribute('aria-expanded', 'false');
    if (focusButton) this.button.focus();
  }

  render() {
    const { unread } = this.store;
    this.count.hidden = unread === 0;
    this.count.textContent = unread > 99 ? '99+' : String(unread);
    this.label.textContent = unread ? `Notifications, ${unread} unread` : 'Notifications';
    this.root.classList.toggle('bell--offline', this.store.client.state !== 'open');
    this.readAll.disabled = unread === 0;
    if (!this.isOpen()) return;
    const items = this.store.list().slice(0, 8);
    this.empty.hidden = items.length > 0;
    this.list.replaceChildren(...items.map((n) => this.item(n)));
  }

  item(n) {
    const row = el(
      'li',
      { class: `bell-item${n.read ? '' : ' is-unread'}`, dataset: { id: n.id } },
      el('span', { class: `level-dot level-dot--${level(n.level)}`, 'aria-hidden': 'true' }),
      el(
        'div',
        { class: 'bell-item__text' },
        el('p', { class: 'bell-item__title' }, n.title),
        n.body ? el('p', { class: 'bell-item__body' }, n.body) : null,
        el('p', { class: 'bell-item__time' }, relativeTime(n.ts)),
      ),
    );
    if (!n.read) {
      row.append(el('button', {
        type: 'button',
        class: 'link-button bell-item__read',
        'aria-label': `Mark "${n.title}" as read`,
        onclick: async (e) => {
          e.stopPropagation();
          await this.store.markRead(n.id);
          // The row was re-rendered without this button: keep focus in the panel.
          if (!this.panel.contains(document.activeElement)) this.panel.focus();
        },
      }, 'Mark read'));
    }
    return row;
  }
}

const user = currentUser();

/** The page's notification store, or null for a signed-out visitor. */
export const notifications = user ? new NotificationStore(user).start() : null;

/**
 * The logo's dot tells the truth about the connection: green while every socket of the
 * page (the notify socket, and a room's chat socket) is live, red while the browser is
 * offline or one of them is down, grey while connecting. <body data-conn> drives the CSS.
 */
const watchedClients = new Set();

function renderConnection() {
  const states = [...watchedClients].map((c) => c.state);
  const value = !navigator.onLine || states.some((s) => s === 'reconnecting' || s === 'closed') ? 'offline'
    : states.length > 0 && states.every((s) => s === 'open') ? 'open' : 'connecting';
  document.body.dataset.conn = value;
  document.querySelector('.brand')
    ?.setAttribute('title', value === 'open' ? 'Connected' : value === 'offline' ? 'Offline' : 'Connecting…');
}

/** Count `client` in the logo's dot; returns a function that stops counting it. */
export function reportConnection(client) {
  watchedClients.add(client);
  const off = client.on('state', renderConnection);
  renderConnection();
  return () => {
    off();
    watchedClients.delete(client);
    renderConnection();
  };
}

window.addEventListener('online', renderConnection);
window.addEventListener('offline', renderConnection);

paintAvatars();
if (notifications) reportConnection(notifications.client);
/**
 * Signing out on purpose forgets what this browser kept for the user (drafts, unsent
 * messages: room/drafts.js and the chat client's persistKey): the next person at a
 * shared computer must not find them.
 */
function forgetStored(userId) {
  try {
    const prefix = `realtime:${userId}:`;
    const keys = [];
    for (let i = 0; i < localStorage.length; i += 1) {
      const key = localStorage.key(i);
      if (key?.startsWith(prefix)) keys.push(key);
    }
    for (const key of keys) localStorage.removeItem(key);
  } catch {
    // No storage: nothing was kept.
  }
}

document.querySelector('.logout-form')?.addEventListener('submit', () => {
  markLoggingOut();
  if (user) forgetStored(user.id);
});
const bellRoot = document.querySelector('[data-bell]');
if (notifications && bellRoot) new Bell(bellRoot, notifications);

// ---- my conversations: the sidebar, its badges and the tab title ----------------------

/** The room this page shows, if any (room.html's data-room). */
const currentSlug = document.querySelector('[data-room]')?.dataset.room ?? null;

/** 'change' events (detail: {reason, slug, frame, mine}) after each update of `conversations`. */
export const conversationsBus = new EventTarget();

let refetching = false;
/** Activity in a room the list lacks (a DM someone just started with me): fetch the list. */
async function refetchConversations() {
  if (refetching) return;
  refetching = true;
  const res = await api('GET', '/api/me/rooms/');
  refetching = false;
  if (res.ok) conversations.reset(listOf(res.data));
}

/** My rooms and direct messages, live from the notify socket (null when signed out). */
export const conversations = user ? new Conversations({
  me: user,
  onChange: (detail) => conversationsBus.dispatchEvent(new CustomEvent('change', { detail })),
  unknown: refetchConversations,
}) : null;

if (notifications && conversations) {
  notifications.client.on('welcome', (w) => conversations.reset(w.rooms));
  notifications.client.on('activity', (f) => conversations.activity(f));
  notifications.client.on('read', (f) => conversations.read(f));
}

function conversationItem(entry) {
  const name = displayName(entry);
  const words = [
    name,
    entry.kind === 'direct' ? 'direct message' : null,
    entry.unread ? `${entry.unread} unread` : null,
    entry.mentions ? `${entry.mentions} mention${entry.mentions === 1 ? '' : 's'}` : null,
  ];
  return el(
    'li',
    { class: 'convo-item', dataset: { slug: entry.slug, kind: entry.kind } },
    el(
      'a',
      {
        href: `/rooms/${encodeURIComponent(entry.slug)}/`,
        class: `convo${entry.unread ? ' convo--unread' : ''}`,
        'aria-label': words.filter(Boolean).join(', '),
        'aria-current': entry.slug === currentSlug ? 'page' : null,
        title: entry.preview || null,
      },
      entry.kind === 'direct'
        ? avatar(name, 'sm')
        : el('span', { class: 'convo__icon' }, icon(entry.kind === 'private' ? 'lock' : 'hash', 16)),
      el('span', { class: 'convo__name' }, name),
      entry.mentions
        ? el('span', { class: 'convo__mentions', 'data-mentions': entry.mentions, 'aria-hidden': 'true' }, `@${badgeText(entry.mentions)}`)
        : null,
      entry.unread
        ? el('span', { class: 'convo__badge', 'data-unread': entry.unread, 'aria-hidden': 'true' }, badgeText(entry.unread))
        : null,
    ),
  );
}

function renderConversations() {
  if (!conversations) return;
  const entries = conversations.list();
  for (const list of document.querySelectorAll('[data-conversations]')) {
    // Keep keyboard focus on the same room across a re-render.
    const focused = list.contains(document.activeElement)
      ? document.activeElement.closest('[data-slug]')?.dataset.slug : null;
    list.replaceChildren(...entries.map(conversationItem));
    if (focused) list.querySelector(`[data-slug="${CSS.escape(focused)}"] a`)?.focus();
  }
  for (const empty of document.querySelectorAll('[data-conversations-empty]')) {
    empty.hidden = !conversations.loaded || entries.length > 0;
  }
  document.title = titleWithCount(document.title, conversations.totalUnread());
}

conversationsBus.addEventListener('change', renderConversations);

/**
 * Open (or find) the direct room with `username` and go there: POST /api/dms/ answers
 * the same room from either side.
 */
export async function startDirect(username, { onError = null } = {}) {
  const res = await api('POST', '/api/dms/', { username });
  if (!res.ok || typeof res.data?.slug !== 'string') {
    const text = errorText(res.data, `Could not start the conversation (HTTP ${res.status}).`);
    if (onError) onError(text);
    else toast({ title: `Could not message ${username}`, body: text, level: 'error' });
    return false;
  }
  location.assign(`/rooms/${encodeURIComponent(res.data.slug)}/`);
  return true;
}

// "Message someone": a direct message by username (the room list page).
for (const form of document.querySelectorAll('[data-new-dm]')) {
  const input = form.elements.username;
  const error = form.parentElement.querySelector('[data-new-dm-error]'); // under the form's row
  const show = (text) => {
    error.textContent = text;
    error.hidden = !text;
    if (text) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const username = input.value.trim();
    if (!username) {
      show('Type the username of the person to message.');
      input.focus();
      return;
    }
    show('');
    form.querySelector('button').disabled = true;
    const ok = await startDirect(username, { onError: show });
    form.querySelector('button').disabled = false;
    if (!ok) input.focus();
  });
}

// ---- desktop alerts (opt-in): direct messages and mentions while the tab is hidden --------

const ALERTS_KEY = user ? `realtime:${user.id}:desktop-alerts` : null;
const Alert = globalThis.Notification;

function alertsOn() {
  try {
    return Boolean(Alert) && Alert.permission === 'granted' && localStorage.getItem(ALERTS_KEY) === '1';
  } catch {
    return false;
  }
}

function renderAlertsToggle(button) {
  const on = alertsOn();
  button.setAttribute('aria-pressed', String(on));
  button.textContent = `Desktop alerts for direct messages and mentions: ${on ? 'on' : 'off'}`;
}

async function toggleAlerts(button) {
  try {
    if (alertsOn()) {
      localStorage.removeItem(ALERTS_KEY);
    } else {
      const permission = Alert.permission === 'granted' ? 'granted' : await Alert.requestPermission();
      if (permission === 'granted') localStorage.setItem(ALERTS_KEY, '1');
      else toast({ title: 'Desktop alerts are blocked', body: 'Allow notifications for this site in the browser to turn them on.', level: 'warning' });
    }
  } catch {
    // No storage or no permission prompt: stays off.
  }
  renderAlertsToggle(button);
}

/** A desktop alert, only while the page is hidden and the user opted in. */
function desktopAlert(title, body, href, tag) {
  if (document.visibilityState !== 'hidden' || !alertsOn()) return;
  try {
    const alert = new Alert(title, { body, tag });
    alert.onclick = () => {
      window.focus();
      location.assign(href);
    };
  } catch {
    // Some browsers allow alerts only from a service worker: none then.
  }
}

const alertsButton = document.querySelector('[data-desktop-alerts]');
if (alertsButton && Alert && user) {
  alertsButton.hidden = false;
  renderAlertsToggle(alertsButton);
  alertsButton.addEventListener('click', () => toggleAlerts(alertsButton));
}

if (conversations && notifications) {
  // A direct message from someone else: the activity frame.
  conversationsBus.addEventListener('change', ({ detail }) => {
    if (detail.reason !== 'activity' || detail.mine) return;
    const entry = conversations.get(detail.slug);
    if (entry?.kind !== 'direct') return;
    desktopAlert(detail.frame.user?.username ?? displayName(entry), detail.frame.preview ?? '',
      `/rooms/${encodeURIComponent(entry.slug)}/`, `room-${entry.slug}`);
  });
  // A mention: the server's notification (it decided who is mentioned), linking to the message.
  notifications.bus.addEventListener('notification', ({ detail: n }) => {
    const link = safeLink(n.link);
    if (!link || !/^\/rooms\/[^/]+\/\?seq=\d+$/.test(link)) return;
    desktopAlert(n.title, n.body, link, `mention-${n.id}`);
  });
}

// The header's message search, on every signed-in page.
const searchForm = document.querySelector('[data-search]');
if (searchForm && user) {
  mountSearch(searchForm, {
    roomName: (slug) => {
      const entry = conversations?.get(slug);
      return entry ? `${entry.kind === 'direct' ? '@' : '#'}${displayName(entry)}` : `#${slug}`;
    },
  });
}
