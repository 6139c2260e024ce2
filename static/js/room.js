/**
 * room.js: one chat room. Live messages, scrollback over REST (`before`), and a
 * composer that keeps working offline (pending -> confirmed by client_id). The online
 * list (room/online.js), the connection badge (room/status.js), the members panel
 * (room/whitelist.js) and the room's settings (room/settings.js: header, archived
 * banner, the owner's dialog) are modules of their own.
 *
 * Messages change (PROTOCOL.md section 10): the client module keeps each one's newest
 * state and says `message_updated`; this page repaints that message (body as safe rich
 * text, room/text.js; "edited" with its versions; "message deleted"; reactions,
 * room/reactions.js), and offers per-message actions (room/actions.js), replies, the
 * typing line (room/typing.js) and jumps to a message (`?seq=`, a reply's original, a
 * search result), loading the messages around it when they are not here yet.
 *
 * The socket authenticates with the session cookie (same origin); REST calls carry the
 * session and the CSRF token (ui.js api()).
 */
import { conversations, conversationsBus, reportConnection, startDirect } from './app.js';
import { dividerSeq, ReadPointer } from './conversations.js';
import { ClientClosedError, QueueFullError, RealtimeClient } from './realtime-client.js';
import { OnlineList } from './room/online.js';
import { ConnectionStatus } from './room/status.js';
import { DraftStore, roomKeys } from './room/drafts.js';
import { MentionCompleter } from './room/mentions.js';
import { mountSettings, showRoom } from './room/settings.js';
import { mountWhitelist } from './room/whitelist.js';
import {
  applyUpdate, bodyNodes, lastOwnEditable, learnUser, mountMessages, msgs, paint, paintReply,
  replyOf, replyTarget, setReply, startEdit,
} from './room/messages.js';
import { EmojiPicker } from './room/reactions.js';
import { TypingIndicator, TypingNotifier } from './room/typing.js';
import { api, avatar, currentUser, dayLabel, el, listOf, reLogin, timeEl } from './ui.js';

const PAGE = 50; // scrollback page size
const AROUND = 25; // messages loaded on each side of a message jumped to
const GROUP_MS = 5 * 60 * 1000; // consecutive messages of one author within this are grouped
const NEAR_BOTTOM_PX = 120;

const root = document.querySelector('[data-room]');
const slug = root.dataset.room;
const maxBody = Number(root.dataset.maxBody) || 4000;
const me = currentUser();
// The owner may delete anyone's message and read its earlier versions (data-is-owner:
// I am the owner; data-owner names whoever is).
const isOwner = 'isOwner' in root.dataset;

const $ = (sel) => root.querySelector(sel);
const ui = {
  conn: $('[data-conn]'),
  connText: $('[data-conn-text]'),
  connAnnounce: $('[data-conn-announce]'),
  connRetry: $('[data-conn-retry]'),
  fatal: $('[data-room-fatal]'),
  scroll: $('[data-scroll]'),
  messages: $('[data-messages]'),
  loadOlder: $('[data-load-older]'),
  historyStart: $('[data-history-start]'),
  jump: $('[data-jump]'),
  composer: $('[data-composer]'),
  input: $('[data-composer-input]'),
  send: $('[data-composer-send]'),
  composerStatus: $('[data-composer-status]'),
  composerLimit: $('[data-composer-limit]'),
  sidebar: $('[data-sidebar]'),
  peopleToggle: $('[data-people-toggle]'),
  onlineCountMirror: $('[data-online-count-mirror]'),
  online: $('[data-online]'),
  onlineCount: $('[data-online-count]'),
  onlineMore: $('[data-online-more]'),
  mentionList: $('[data-mention-list]'),
  composerLabel: $('label[for="composer-input"]'),
  typing: $('[data-typing]'),
  reply: $('[data-reply]'),
  replyText: $('[data-reply-text]'),
  replyCancel: $('[data-reply-cancel]'),
};

/** The page's localStorage, or null where storage is disabled. */
function pageStorage() {
  try {
    return window.localStorage ?? null;
  } catch {
    return null;
  }
}

const keys = roomKeys(me?.id, slug);
// Unsent messages are kept in storage by the client: a reload sends them, once, by client_id.
const client = new RealtimeClient(`/ws/chat/${encodeURIComponent(slug)}/`, { persistKey: keys.outbox });
const drafts = new DraftStore({ storage: pageStorage(), key: keys.draft });

// ---- messages ------------------------------------------------------------------------

const byId = new Map(); // message id -> <li>
const authors = new Set(); // usernames seen in this room, for @ completion
// Messages as they change (room/messages.js): painted into these <li>, one emoji picker.
const picker = new EmojiPicker(root);
mountMessages({ ui, client, byId, slug, me, isOwner, maxBody, archived, jumpTo, picker });
const byClientId = new Map(); // client_id -> <li> (pending, or confirmed with that id)
let oldestSeq = null; // smallest seq shown, for scrollback
let reachedStart = false;
let loadingOlder = false;
let olderFailed = false;

function nearBottom() {
  const s = ui.scroll;
  return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
}

function scrollToBottom() {
  ui.scroll.scrollTop = ui.scroll.scrollHeight;
  ui.jump.hidden = true;
}

/** A name that opens a direct message with its user (not for my own name). */
function nameButton(user, className) {
  return el('button', {
    type: 'button',
    class: `${className} name-button`,
    title: `Message ${user.username} directly`,
    onclick: () => startDirect(user.username),
  }, user.username);
}

function authorEl(user, own) {
  if (own || typeof user?.username !== 'string') return el('span', { class: 'msg__author' }, user?.username ?? 'unknown');
  return nameButton(user, 'msg__author');
}

function messageEl({ user, body, ts, pending, replyTo = null }) {
  const own = me && user && user.id === me.id;
  const li = el(
    'li',
    { class: `msg${own ? ' msg--own' : ''}${pending ? ' msg--pending' : ''}` },
    avatar(user?.username ?? '?'),
    // A grouped follow-on message shows no head: its time sits in the gutter, on hover or focus.
    el('span', { class: 'msg__gutter' }, timeEl(ts, { short: true })),
    el(
      'div',
      { class: 'msg__main' },
      el(
        'div',
        { class: 'msg__head' },
        authorEl(user, own),
        timeEl(ts, { withDay: true }),
      ),
      // A body is text made into nodes (room/text.js), never innerHTML.
      el('div', { class: 'msg__body' }, bodyNodes(body)),
    ),
  );
  li.dataset.userId = String(user?.id ?? '');
  li.dataset.ts = ts ?? new Date().toISOString();
  if (replyTo) paintReply(li, replyTo);
  return li;
}

function setStatus(li, text, kind = '') {
  let node = li.querySelector('.msg__status');
  if (!text) {
    node?.remove();
    return;
  }
  if (!node) {
    node = el('span', { class: 'msg__status' });
    li.querySelector('.msg__main').append(node);
  }
  node.className = `msg__status${kind ? ` msg__status--${kind}` : ''}`;
  node.textContent = text;
}

function fillConfirmed(li, msg) {
  li.dataset.id = String(msg.id);
  li.dataset.seq = String(msg.seq);
  li.dataset.ts = msg.ts;
  li.classList.remove('msg--pending', 'msg--failed');
  li.removeAttribute('aria-label');
  const time = li.querySelector('.msg__head time');
  if (time && msg.ts) time.replaceWith(timeEl(msg.ts, { withDay: true }));
  const gutter = li.querySelector('.msg__gutter time');
  if (gutter && msg.ts) gutter.replaceWith(timeEl(msg.ts, { short: true }));
  setStatus(li, '');
  byId.set(msg.id, li);
  msgs.set(msg.id, msg);
  learnUser(msg.user);
  paint(li, msg);
}

/** Put a confirmed message in seq order; pending ones always stay below. */
function placeConfirmed(li, seq) {
  let after = null;
  for (let node = ui.messages.lastElementChild; node; node = node.previousElementSibling) {
    if (node === li || !node.dataset.seq) continue; // pending, failed, system lines, days
    if (Number(node.dataset.seq) < seq) {
      after = node;
      break;
    }
  }
  if (after) after.after(li);
  else ui.messages.prepend(li);
  scheduleLayout();
  if (oldestSeq === null || seq < oldestSeq) oldestSeq = seq;
}

function dayKey(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toDateString();
}

/**
 * Day separators wherever the local day changes between two lines, then grouping: a
 * message continues its author's run when the line before it is theirs, recent, and
 * on the same day (a separator between them ends the run). One pass over the list.
 */
function layout() {
  for (const sep of ui.messages.querySelectorAll(':scope > .day-sep, :scope > .new-sep')) sep.remove();
  let day = null;
  let prev = null;
  for (const node of [...ui.messages.children]) {
    const ts = node.dataset.ts;
    const key = ts ? dayKey(ts) : '';
    if (key && key !== day) {
      node.before(el('li', { class: 'day-sep', role: 'separator', dataset: { day: key } },
        el('span', { class: 'day-sep__label' }, dayLabel(ts))));
      day = key;
      prev = null;
    }
    if (node.classList.contains('msg')) {
      const cont = prev
        && prev.classList.contains('msg')
        && prev.dataset.userId === node.dataset.userId
        && Math.abs(Date.parse(ts) - Date.parse(prev.dataset.ts)) < GROUP_MS;
      node.classList.toggle('msg--cont', Boolean(cont));
    }
    prev = node;
  }
  placeDivider();
}

// One layout per task, however many messages a welcome or a backfill delivers.
let layoutQueued = false;
function scheduleLayout() {
  if (layoutQueued) return;
  layoutQueued = true;
  queueMicrotask(flushLayout);
}

/** Lay out now if a layout is due (before measuring or scrolling). */
function flushLayout() {
  if (!layoutQueued) return;
  layoutQueued = false;
  layout();
}

// ---- my read pointer: the "new messages" divider, and the pointer moving as I read ----------

// My pointer when I opened the room: undefined until the notify socket's welcome says it
// (nothing is marked read before that, or the divider would have nothing to mark), null
// for no divider.
let openedAt;
let newestSeq = 0;

function placeDivider() {
  if (!Number.isInteger(openedAt)) return;
  const shown = [...ui.messages.querySelectorAll(':scope > .msg[data-seq]')]
    .map((li) => ({ li, seq: Number(li.dataset.seq), userId: Number(li.dataset.userId) }));
  const seq = dividerSeq(shown, openedAt, me?.id);
  if (seq === null) return;
  const { li } = shown.find((m) => m.seq === seq);
  li.classList.remove('msg--cont'); // a run of one author breaks at the divider
  li.before(el(
    'li',
    { class: 'new-sep', role: 'separator', 'aria-label': 'New messages' },
    el('span', {}, 'New messages'),
  ));
}

function captureReadPointer() {
  if (openedAt !== undefined || !conversations?.loaded) return;
  const entry = conversations.get(slug);
  openedAt = entry && entry.unread > 0 ? entry.last_read_seq : null;
  scheduleLayout();
  maybeRead();
}

const pointer = new ReadPointer({
  send: (seq) => {
    if (client.state !== 'open') return false;
    client.send({ type: 'read', seq });
    return true;
  },
});

/** The newest message is on screen and the tab is seen: I have read up to it. */
function maybeRead() {
  const reading = newestOnScreen();
  if (conversations) conversations.reading = reading ? slug : null;
  if (reading) pointer.want(newestSeq);
}

function newestOnScreen() {
  if (openedAt === undefined || client.state !== 'open' || document.visibilityState !== 'visible') return false;
  const last = ui.messages.querySelector(`:scope > .msg[data-seq="${newestSeq}"]`);
  if (!last) return false;
  const box = ui.scroll.getBoundingClientRect();
  const rect = last.getBoundingClientRect();
  return rect.top < box.bottom && rect.bottom > box.top;
}

/** Show a message from the socket, a backfill or scrollback, once. */
function showMessage(msg, { live = false } = {}) {
  if (!msg || !Number.isInteger(msg.id)) return;
  if (byId.has(msg.id)) {
    applyUpdate(msg); // e.g. a page around a seq, overlapping what is shown
    return;
  }
  const stick = nearBottom();
  const mine = me && msg.user && msg.user.id === me.id;
  const waiting = typeof msg.client_id === 'string' ? byClientId.get(msg.client_id) : null;
  let li;
  if (waiting && mine && !waiting.dataset.id) {
    li = waiting;
  } else {
    li = messageEl({ user: msg.user, body: msg.body, ts: msg.ts });
    if (typeof msg.client_id === 'string' && mine) byClientId.set(msg.client_id, li);
  }
  fillConfirmed(li, msg);
  placeConfirmed(li, msg.seq);
  if (typeof msg.user?.username === 'string') authors.add(msg.user.username);
  if (msg.seq > newestSeq) newestSeq = msg.seq;
  if (live) {
    flushLayout();
    if (stick || mine) scrollToBottom();
    else ui.jump.hidden = false;
    maybeRead();
  }
}

function addPending(frame) {
  const li = messageEl({ user: me, body: frame.body, ts: new Date().toISOString(), pending: true, replyTo: replyOf(frame) });
  li.dataset.clientId = frame.client_id;
  byClientId.set(frame.client_id, li);
  ui.messages.append(li);
  scheduleLayout();
  flushLayout();
  refreshPending();
  scrollToBottom();
}

function refreshPending() {
  const online = client.state === 'open';
  for (const li of ui.messages.querySelectorAll('.msg--pending')) {
    setStatus(li, online ? 'Sending…' : 'Queued: sends when you are back online', online ? 'sending' : 'queued');
    li.setAttribute('aria-label', online ? 'Sending' : 'Queued, not sent yet');
  }
}

function markFailed(clientId, why) {
  const li = byClientId.get(clientId);
  if (!li || li.dataset.id) return;
  li.classList.remove('msg--pending');
  li.classList.add('msg--failed');
  setStatus(li, `Not sent: ${why}`, 'failed');
  const dismiss = el('button', {
    type: 'button',
    class: 'link-button',
    onclick: () => {
      li.remove();
      byClientId.delete(clientId);
    },
  }, 'Remove');
  li.querySelector('.msg__status').append(' ', dismiss);
}

// ---- scrollback -------------------------------------------------------------------------

function updateHistoryEdge() {
  const empty = byId.size === 0;
  const atStart = reachedStart || oldestSeq === 1 || (empty && client.state === 'open');
  ui.historyStart.hidden = !atStart;
  ui.loadOlder.hidden = atStart || oldestSeq === null;
  ui.loadOlder.textContent = olderFailed ? 'Could not load earlier messages: retry' : 'Load earlier messages';
}

async function loadOlder() {
  if (loadingOlder || reachedStart || oldestSeq === null || oldestSeq <= 1) return;
  loadingOlder = true;
  ui.loadOlder.disabled = true;
  ui.messages.setAttribute('aria-busy', 'true');
  const res = await api('GET', `/api/rooms/${encodeURIComponent(slug)}/messages/?before=${oldestSeq}&limit=${PAGE}`);
  if (res.ok) {
    olderFailed = false;
    // Merged with what the client knows: a page older than a live edit never undoes it.
    const page = client.absorb(listOf(res.data).filter((m) => Number.isInteger(m.seq))).sort((a, b) => b.seq - a.seq);
    const before = ui.scroll.scrollHeight;
    const top = ui.scroll.scrollTop;
    for (const msg of page) showMessage(msg);
    flushLayout();
    // Keep what the reader was looking at in place while older messages appear above.
    ui.scroll.scrollTop = top + (ui.scroll.scrollHeight - before);
    // The API says whether older ones remain (`has_more`); a short page says it too.
    if (res.data?.has_more === false || page.length < PAGE) reachedStart = true;
  } else {
    olderFailed = true;
  }
  ui.messages.removeAttribute('aria-busy');
  ui.loadOlder.disabled = false;
  loadingOlder = false;
  updateHistoryEdge();
}

ui.loadOlder.addEventListener('click', loadOlder);
// Reaching the top of the conversation loads the page before it (not after a failure).
new IntersectionObserver((entries) => {
  if (entries.some((e) => e.isIntersecting) && !olderFailed && !jumping && client.state !== 'connecting') loadOlder();
}, { root: ui.scroll, rootMargin: '200px 0px 0px 0px' }).observe(ui.loadOlder);

ui.scroll.addEventListener('scroll', () => {
  if (nearBottom()) ui.jump.hidden = true;
  maybeRead();
}, { passive: true });
ui.jump.addEventListener('click', () => {
  scrollToBottom();
  ui.input.focus();
});

// ---- jumping to a message: ?seq=, a reply's original, a search result -------------------

function seqFromUrl() {
  const v = new URLSearchParams(location.search).get('seq');
  return v && /^\d+$/.test(v) ? Number(v) : null;
}

const targetSeq = seqFromUrl();
// While a jump loads and scrolls, the top of the list may show for a moment: no scrollback then.
let jumping = targetSeq !== null;

function shownAt(seq) {
  return ui.messages.querySelector(`:scope > .msg[data-seq="${seq}"]`);
}

/** Scroll to message `seq` and mark it, loading the messages around it first if needed. */
async function jumpTo(seq) {
  if (!Number.isInteger(seq) || seq < 1) return;
  jumping = true;
  let li = shownAt(seq);
  if (!li) {
    ui.messages.setAttribute('aria-busy', 'true');
    await loadAround(seq);
    ui.messages.removeAttribute('aria-busy');
    li = shownAt(seq);
  }
  jumping = false;
  if (!li) {
    ui.composerStatus.textContent = 'That message could not be loaded.';
    return;
  }
  flushLayout();
  for (const old of ui.messages.querySelectorAll(':scope > .msg--target')) old.classList.remove('msg--target');
  li.classList.add('msg--target');
  li.tabIndex = -1;
  li.scrollIntoView({ block: 'center' });
  li.focus({ preventScroll: true });
  ui.jump.hidden = nearBottom();
}

/** The messages on both sides of `seq` (it included), over REST. */
async function loadAround(seq) {
  const base = `/api/rooms/${encodeURIComponent(slug)}/messages/`;
  const [before, after] = await Promise.all([
    api('GET', `${base}?before=${seq}&limit=${AROUND}`),
    api('GET', `${base}?after=${seq - 1}&limit=${AROUND}`),
  ]);
  if (!before.ok || !after.ok) return false;
  const older = listOf(before.data);
  const page = client.absorb([...older, ...listOf(after.data)].filter((m) => Number.isInteger(m.seq)));
  for (const msg of page) showMessage(msg);
  if (before.data?.has_more === false || older.length < AROUND) reachedStart = true;
  flushLayout();
  markGaps();
  updateHistoryEdge();
  return true;
}

/**
 * Between a page loaded around an old message and the newest ones, a line that loads
 * what is missing (seq has no gaps, so any jump in it is a hole in what is shown).
 */
function markGaps() {
  for (const gap of ui.messages.querySelectorAll(':scope > .msg-gap')) gap.remove();
  let prev = null;
  for (const li of ui.messages.querySelectorAll(':scope > .msg[data-seq]')) {
    const seq = Number(li.dataset.seq);
    if (prev !== null && seq > prev + 1) {
      const after = prev;
      const button = el('button', { type: 'button', class: 'button button--ghost button--sm' }, 'Load newer messages');
      button.addEventListener('click', () => fillGap(after, button));
      li.before(el('li', { class: 'msg-gap', dataset: { after: String(after), before: String(seq) } }, button));
    }
    prev = seq;
  }
}

async function fillGap(after, button) {
  button.disabled = true;
  const res = await api('GET', `/api/rooms/${encodeURIComponent(slug)}/messages/?after=${after}&limit=${PAGE * 2}`);
  button.disabled = false;
  if (!res.ok) {
    button.textContent = 'Could not load newer messages: retry';
    return;
  }
  for (const msg of client.absorb(listOf(res.data).filter((m) => Number.isInteger(m.seq)))) showMessage(msg);
  flushLayout();
  markGaps();
}

// A search result in this room, picked on this page: no reload.
window.addEventListener('room:jump', (e) => {
  if (e.detail?.slug !== slug) return;
  history.replaceState(history.state, '', `${location.pathname}?seq=${e.detail.seq}`);
  jumpTo(e.detail.seq);
});

// ---- online list and connection badge ----------------------------------------------------

const online = new OnlineList(
  { list: ui.online, count: ui.onlineCount, more: ui.onlineMore },
  me,
  { pick: (user) => startDirect(user.username) },
);
const status = new ConnectionStatus(client, root, ui, refreshPending);

// ---- socket events ----------------------------------------------------------------------------

let welcomed = false;

client.on('state', () => status.render());

client.on('welcome', (w) => {
  online.reset(w);
  learnUser(w.user);
  for (const u of Array.isArray(w.online) ? w.online : []) learnUser(u);
  if (!welcomed) ui.messages.setAttribute('aria-busy', 'true');
});

client.on('message', (msg, meta) => {
  // After the first welcome everything is news, resumed history included.
  showMessage(msg, { live: welcomed || meta?.source === 'live' });
});

// A message shown before changed (an edit, a delete, a reaction), live or on resume.
client.on('message_updated', ({ message }) => applyUpdate(message));

// The client confirms our own echo by client_id (it may come before the message event,
// or be a duplicate of one already shown after a resend).
client.on('ack', ({ client_id: clientId, message }) => {
  const li = byClientId.get(clientId);
  if (!li || li.dataset.id) return;
  if (byId.has(message.id)) {
    li.remove();
    return;
  }
  fillConfirmed(li, message);
  placeConfirmed(li, message.seq);
});

client.on('state', ({ state }) => {
  if (state !== 'open') return;
  const first = !welcomed;
  welcomed = true;
  ui.messages.removeAttribute('aria-busy');
  updateHistoryEdge();
  flushLayout();
  if (first && targetSeq !== null) {
    jumpTo(targetSeq);
  } else if (first) {
    const divider = ui.messages.querySelector(':scope > .new-sep');
    if (divider) divider.scrollIntoView({ block: 'center' });
    else scrollToBottom();
  }
  maybeRead();
});

// My pointer moved (this tab, another one, another device): nothing up to it is sent again.
client.on('read', (f) => {
  if (f.room === slug) pointer.known(f.seq);
});
conversationsBus.addEventListener('change', captureReadPointer);
document.addEventListener('visibilitychange', maybeRead);
client.on('state', maybeRead); // offline: not reading live any more
window.addEventListener('focus', maybeRead);
// Without a notify welcome in time (the socket is down), read on without a divider.
setTimeout(() => {
  if (openedAt === undefined) {
    openedAt = null;
    maybeRead();
  }
}, 5000);

client.on('presence', (p) => {
  online.apply(p);
  for (const u of Array.isArray(p.joins) ? p.joins : []) learnUser(u);
});

// Who is typing, under the messages; nobody once the socket is down.
const typingLine = new TypingIndicator(ui.typing, me?.id);
client.on('typing', (f) => typingLine.apply(f));
client.on('state', ({ state }) => {
  if (state !== 'open') typingLine.clear();
});
let typingOn = true; // off if the server does not know the frame (answers unknown_type)
const typingOut = new TypingNotifier({ send: () => typingOn && client.typing() });

// ---- the room's settings: name, topic, kind, archived ---------------------------------------

// The room as the page was rendered (json_script), then as the `room` frames say.
let room = JSON.parse(document.getElementById('room-settings-data')?.textContent ?? '{}');
let whitelist = null; // the members panel (mounted below)
const sigil = room.kind === 'direct' ? '@' : '#';

/** An archived room is read-only: the composer is off (unless a refusal already blocked it). */
function showArchived(archived) {
  const blocked = root.classList.contains('room--blocked');
  ui.composer.classList.toggle('is-disabled', archived || blocked);
  ui.input.disabled = archived || blocked;
  ui.send.disabled = archived || blocked;
  const label = archived
    ? 'Archived: read-only'
    : `Message ${sigil}${root.dataset.roomTitle}`;
  ui.input.placeholder = label;
  ui.composerLabel.textContent = label;
}

/** An archived room is read-only: no edits, reactions or replies (a delete still goes). */
function archived() {
  return Boolean(room?.archived);
}

function applyRoom(next) {
  const wasPrivate = room.kind === 'private';
  const wasArchived = archived();
  room = { ...room, ...next };
  showRoom(root, room);
  showArchived(Boolean(room.archived));
  if (archived() !== wasArchived) {
    // Read-only now (or no longer): the messages' actions follow.
    for (const [id, li] of byId) if (msgs.has(id)) paint(li, msgs.get(id));
    if (archived()) setReply(null);
  }
  if ((room.kind === 'private') !== wasPrivate) whitelist?.show(room.kind === 'private');
  const members = $('[data-members-open]');
  if (members) members.hidden = room.kind !== 'private';
}

client.on('room', (frame) => {
  if (frame.room && frame.room.slug === slug) applyRoom(frame.room);
});

// A `room` frame missed while offline: the room as it is now, on every reconnect.
client.on('welcome', async () => {
  if (!welcomed) return;
  const res = await api('GET', `/api/rooms/${encodeURIComponent(slug)}/`);
  if (res.ok && res.data?.slug === slug) applyRoom(res.data);
});

client.on('system', (s) => {
  const stick = nearBottom();
  const li = el(
    'li',
    { class: `msg-system${s.degraded ? ' msg-system--warning' : ''}` },
    el('span', { class: 'msg-system__body' }, s.body),
    timeEl(s.ts),
  );
  li.dataset.ts = s.ts ?? new Date().toISOString();
  // System lines are not in the seq order: they sit where they arrived, above pending ones.
  const firstPending = ui.messages.querySelector('.msg--pending, .msg--failed');
  if (firstPending) firstPending.before(li);
  else ui.messages.append(li);
  scheduleLayout();
  flushLayout();
  if (stick) scrollToBottom();
});

const ERROR_TEXT = {
  rate_limited: 'You are sending too fast; waiting a moment before retrying.',
  too_large: 'That message is too long.',
  invalid: 'That message was refused.',
  forbidden: 'This room is archived: nobody can post.',
};

client.on('error', (err) => {
  if (err.code === 'unknown_type') {
    typingOn = false; // an older server: the only frame it may not know is typing
    return;
  }
  ui.composerStatus.textContent = ERROR_TEXT[err.code] ?? `Error: ${err.detail ?? err.code}`;
  const pending = client.pending;
  if (err.code === 'rate_limited') {
    // Resend what is still unconfirmed once the bucket has refilled a little; the
    // server dedupes by client_id, so a resend never makes a second message.
    setTimeout(() => {
      if (client.state !== 'open') return;
      for (const frame of client.pending) client.send(frame);
    }, 1500);
  } else if (err.code === 'forbidden') {
    // Archived (read-only): resending never helps. The page may not know yet.
    if (typeof err.client_id === 'string') {
      client.discard(err.client_id);
      markFailed(err.client_id, 'this room is archived');
    }
    if (!room.archived) applyRoom({ archived: new Date().toISOString() });
  } else if ((err.code === 'invalid' || err.code === 'too_large') && pending.length === 1) {
    // The one message in flight is the one refused: stop resending it.
    client.discard(pending[0].client_id);
    markFailed(pending[0].client_id, err.detail || ERROR_TEXT[err.code]);
  }
});

// The logo's dot counts this socket too, until a refusal no retry fixes (the network is fine).
const stopReporting = reportConnection(client);

client.on('fatal', ({ kind, code }) => {
  stopReporting();
  // 4403 after we were in the room: the owner took us off the whitelist (or the room
  // became private without us). Before any welcome: we were never on it.
  if (kind === 'forbidden' && welcomed) status.showFatal('You were removed from this room’s whitelist, so you can no longer read or post here.');
  else if (kind === 'forbidden') status.showFatal('You are not on this room’s whitelist. Ask its owner to add you.');
  else if (kind === 'not_found') status.showFatal(`There is no room called #${slug}.`);
  else status.showFatal(`The connection was refused (code ${code ?? 'none'}). Reload the page to try again.`);
});

client.on('auth_required', reLogin);

// ---- composer -----------------------------------------------------------------------------------

function autosize() {
  ui.input.style.height = 'auto';
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 200)}px`;
}

/**
 * Over the limit, the text stays in the composer (no silent cut by maxlength) and the
 * app says by how much; returns whether the text fits.
 */
function checkLength() {
  const length = ui.input.value.trim().length;
  const over = length > maxBody;
  ui.composerLimit.hidden = !over;
  ui.composerLimit.textContent = over
    ? `Messages are at most ${maxBody} characters: this one has ${length} (${length - maxBody} too many).`
    : '';
  if (over) ui.input.setAttribute('aria-invalid', 'true');
  else ui.input.removeAttribute('aria-invalid');
  return !over;
}

function submit() {
  const body = ui.input.value.trim();
  if (!body) return;
  if (!checkLength()) return;
  let frame;
  try {
    frame = client.sendMessage(body, replyTarget !== null ? { reply_to: replyTarget } : {});
  } catch (err) {
    if (err instanceof QueueFullError) {
      ui.composerStatus.textContent = 'Too many messages are waiting for the connection; try again once it is back.';
    } else if (err instanceof ClientClosedError) {
      ui.composerStatus.textContent = 'Disconnected: reconnect to send.';
    } else {
      throw err;
    }
    return;
  }
  ui.input.value = '';
  drafts.clear();
  autosize();
  typingOut.sent();
  setReply(null);
  // The echo may already be here (a fast local server): only show it pending if not.
  if (!byClientId.has(frame.client_id)) addPending(frame);
}

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  submit();
  ui.input.focus();
});
const completer = new MentionCompleter(ui.input, ui.mentionList, {
  names: () => [...[...online.users.values()].map((u) => u.username), ...authors],
  me: me?.username,
  slug,
});
ui.input.addEventListener('keydown', (e) => {
  if (completer.onKey(e)) return;
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    submit();
  } else if (e.key === 'ArrowUp' && ui.input.value === '' && !e.isComposing) {
    // Up in an empty composer edits my last message, as in most chat apps.
    const id = lastOwnEditable();
    if (id !== null && startEdit(id)) e.preventDefault();
  } else if (e.key === 'Escape' && replyTarget !== null) {
    e.preventDefault();
    e.stopPropagation();
    setReply(null);
  }
});
ui.input.addEventListener('input', () => {
  autosize();
  checkLength();
  drafts.save(ui.input.value);
  typingOut.input(ui.input.value);
});
ui.replyCancel.addEventListener('click', () => {
  setReply(null);
  ui.input.focus();
});

// On a touch screen (no hover), a tap on a message shows its actions.
ui.messages.addEventListener('click', (e) => {
  if (e.target.closest('button, a, textarea, input')) return;
  const li = e.target.closest('.msg[data-id]');
  for (const other of ui.messages.querySelectorAll(':scope > .msg--active')) if (other !== li) other.classList.remove('msg--active');
  li?.classList.toggle('msg--active');
});

// Leaving with messages not yet confirmed: they are kept and go out on the next visit,
// but the browser asks first (the user may not come back).
window.addEventListener('beforeunload', (e) => {
  if (client.pending.length === 0) return;
  e.preventDefault();
  e.returnValue = '';
});

// What the last visit left: the draft, and the messages it could not send (queued).
ui.input.value = drafts.load();
autosize();
checkLength();
for (const frame of client.pending) addPending(frame);

// ---- small screens: the online list is a panel over the conversation, not below it ----

function setPeopleOpen(open) {
  root.classList.toggle('room--people-open', open);
  ui.peopleToggle.setAttribute('aria-expanded', String(open));
}
ui.peopleToggle.addEventListener('click', () => setPeopleOpen(!root.classList.contains('room--people-open')));
// A tap on the conversation closes the panel that covers it.
document.addEventListener('click', (e) => {
  if (!root.classList.contains('room--people-open')) return;
  if (ui.sidebar.contains(e.target) || ui.peopleToggle.contains(e.target)) return;
  if (e.target.closest?.('[data-members-open]')) return; // it opens the panel
  setPeopleOpen(false);
});
root.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && root.classList.contains('room--people-open')) {
    setPeopleOpen(false);
    ui.peopleToggle.focus();
  }
});
new MutationObserver(() => {
  ui.onlineCountMirror.textContent = ui.onlineCount.textContent;
}).observe(ui.onlineCount, { childList: true, characterData: true, subtree: true });

whitelist = mountWhitelist(root, slug);
mountSettings(root, slug, { current: () => room, saved: applyRoom });
if (room.archived) showArchived(true);
// The header's "Members" button: the panel in the sidebar (over the conversation on phones).
$('[data-members-open]')?.addEventListener('click', () => {
  setPeopleOpen(true);
  const title = $('#whitelist-title');
  title.scrollIntoView({ block: 'nearest' });
  title.focus();
});
status.render();
online.render();
client.connect();
captureReadPointer();
// Entering a room is to talk in it: the composer has focus (with a keyboard; on a touch
// screen that would throw the on-screen keyboard over the conversation).
if (window.matchMedia?.('(hover: hover) and (pointer: fine)').matches) ui.input.focus({ preventScroll: true });
