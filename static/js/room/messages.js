/**
 * room/messages.js: the room page's messages as they change (PROTOCOL.md section 10).
 *
 * The newest state of each message shown (`msgs`), repainted in its <li> on every new
 * state: the body as safe rich text (room/text.js) or "message deleted", "(edited)" with
 * the earlier versions for the author and the owner, the reactions with who reacted
 * (room/reactions.js), the reply quote, and the toolbar (room/actions.js). Edits,
 * deletes and reactions go over REST, whose answer (a message) is shown at once; the
 * `message_updated` frame that follows changes nothing then. Also the reply being
 * written (the bar above the composer).
 *
 * room.js owns the list and the socket and hands them over once, with mountMessages();
 * the page is one room, so this module's state is the page's.
 */
import { api, el, errorText, listOf, toast } from '../ui.js';
import { confirmDelete, editInPlace, messageToolbar, versionsList } from './actions.js';
import { reacted, reactionRow, validEmoji } from './reactions.js';
import { plainPreview, renderBody } from './text.js';

// Given by room.js (mountMessages): the page's parts this module works on.
let ui;
let client;
let byId; // message id -> <li>, kept by room.js
let slug;
let me;
let isOwner;
let maxBody;
let archived; // () => whether the room is read-only now
let jumpTo; // (seq) => scroll to that message, loading it if needed
let picker; // the page's EmojiPicker

/** Hand this module the page's parts (once, before the socket connects). */
export function mountMessages(deps) {
  ({ ui, client, byId, slug, me, isOwner, maxBody, archived, jumpTo, picker } = deps);
  learnUser(me);
}

/** A body as nodes, my mentions marked. */
export function bodyNodes(body) {
  return renderBody(body ?? '', { me: me?.username });
}

export const msgs = new Map(); // message id -> its newest state shown
const knownUsers = new Map(); // user id -> username: who reacted, in words

/** Remember a user's name (reactions list ids). */
export function learnUser(user) {
  if (!user || !Number.isInteger(user.id) || typeof user.username !== 'string') return;
  const known = knownUsers.has(user.id);
  knownUsers.set(user.id, user.username);
  // A reaction shown as "user 42" before their name was known gets it now.
  if (!known && !namesQueued && byId.size > 0) {
    namesQueued = true;
    queueMicrotask(() => {
      namesQueued = false;
      for (const [id, li] of byId) {
        const m = msgs.get(id);
        if (m?.reactions?.length && !m.deleted) paint(li, m);
      }
    });
  }
}
let namesQueued = false;
const nameOf = (id) => knownUsers.get(id) ?? null;

// ---- a message's current state, painted ----------------------------------------------------

/** A reply's quote of the message it answers: its current state when held here. */
function replyPreview(reply) {
  const held = msgs.get(reply.id);
  const user = held?.user ?? reply.user;
  let text;
  if (held) text = held.deleted ? 'message deleted' : plainPreview(held.body, 100);
  else text = reply.preview ? plainPreview(reply.preview, 100) : 'message deleted';
  return { user, text, deleted: held?.deleted === true };
}

export function paintReply(li, reply) {
  const main = li.querySelector('.msg__main');
  main.querySelector(':scope > .msg__reply')?.remove();
  if (!reply || !Number.isInteger(reply.id)) {
    delete li.dataset.replyId;
    return;
  }
  li.dataset.replyId = String(reply.id);
  const { user, text, deleted } = replyPreview(reply);
  const name = user?.username ?? 'someone';
  const quote = el('button', {
    type: 'button',
    class: `msg__reply${deleted ? ' msg__reply--deleted' : ''}`,
    'aria-label': `In reply to ${name}: ${text}. Show that message`,
    onclick: () => jumpTo(reply.seq),
  },
  el('span', { class: 'msg__reply-icon', 'aria-hidden': 'true' }, '↪'),
  el('span', { class: 'msg__reply-name' }, name),
  el('span', { class: 'msg__reply-text' }, text));
  main.querySelector('.msg__head').after(quote);
}

function canEdit(msg) {
  return Boolean(me && msg.user?.id === me.id && !msg.deleted && !archived());
}

function canDelete(msg) {
  return Boolean(me && !msg.deleted && (msg.user?.id === me.id || isOwner));
}

/**
 * Where focus was inside a message before a repaint: the same button afterwards (a
 * keyboard user who reacts keeps their place when the new state arrives).
 */
function focusKey(li) {
  const active = document.activeElement;
  if (!active || !li.contains(active) || active.tagName !== 'BUTTON') return null;
  return active.dataset.emoji ? `[data-emoji="${CSS.escape(active.dataset.emoji)}"]`
    : active.getAttribute('aria-label') ? `[aria-label="${CSS.escape(active.getAttribute('aria-label'))}"]`
      : active.dataset.action ? `[data-action="${CSS.escape(active.dataset.action)}"]` : null;
}

function restoreFocus(li, key) {
  const again = key && li.querySelector(`button${key}`);
  if (!again) {
    // Gone with the new state (a tombstone has no buttons): the message itself holds focus.
    li.tabIndex = -1;
    li.focus({ preventScroll: true });
    return;
  }
  const bar = again.closest('.msg__actions');
  if (bar) for (const b of bar.querySelectorAll('button')) b.tabIndex = b === again ? 0 : -1;
  again.focus({ preventScroll: true });
}

/** Show a message's current state in its <li>: body or tombstone, edited, reactions, toolbar. */
export function paint(li, msg) {
  const key = focusKey(li);
  paintState(li, msg);
  if (key) restoreFocus(li, key);
}

function paintState(li, msg) {
  const main = li.querySelector('.msg__main');
  const body = main.querySelector(':scope > .msg__body');
  li.classList.toggle('msg--deleted', msg.deleted === true);
  if (msg.deleted) {
    if (editing?.id === msg.id) editing.finish();
    body.replaceChildren(el('span', { class: 'msg__tombstone' }, 'message deleted'));
  } else {
    body.replaceChildren(renderBody(msg.body ?? '', { me: me?.username }));
  }
  paintReply(li, msg.reply_to);
  main.querySelector(':scope > .msg__edited')?.remove();
  main.querySelector(':scope > .versions')?.remove();
  let after = body;
  if (msg.edited && !msg.deleted) {
    const label = editedLabel(msg);
    body.after(label);
    after = label;
  }
  main.querySelector(':scope > .reactions')?.remove();
  const reactions = msg.deleted ? [] : (msg.reactions ?? []);
  if (reactions.length) {
    after.after(reactionRow(reactions, {
      meId: me?.id,
      nameOf,
      disabled: archived(),
      onToggle: (emoji, add) => react(msg.id, emoji, add),
    }));
  }
  li.querySelector(':scope > .msg__actions')?.remove();
  if (Number.isInteger(msg.id) && !msg.deleted && me && (!archived() || canDelete(msg))) {
    li.append(messageToolbar({
      author: msg.user?.username ?? 'someone',
      canReact: !archived(),
      canEdit: canEdit(msg),
      canDelete: canDelete(msg),
      react: (emoji) => react(msg.id, emoji),
      picker: (button) => picker.open(button, (emoji) => react(msg.id, emoji)),
      reply: () => setReply(msg.id),
      edit: () => startEdit(msg.id),
      remove: () => removeMessage(msg.id),
    }));
  }
}

/** "(edited)": for the author and the owner a button that lists the earlier versions. */
function editedLabel(msg) {
  const when = new Date(msg.edited);
  const title = Number.isNaN(when.getTime()) ? 'Edited' : `Edited ${when.toLocaleString()}`;
  if (!(canEdit(msg) || isOwner)) return el('span', { class: 'msg__edited', title }, '(edited)');
  const button = el('button', {
    type: 'button', class: 'msg__edited link-button', title, 'aria-expanded': 'false',
    'aria-label': 'Edited: show earlier versions',
  }, '(edited)');
  button.addEventListener('click', () => toggleVersions(msg.id, button));
  return button;
}

async function toggleVersions(id, button) {
  const main = button.closest('.msg__main');
  const open = main.querySelector(':scope > .versions');
  if (open) {
    open.remove();
    button.setAttribute('aria-expanded', 'false');
    return;
  }
  button.disabled = true;
  const res = await api('GET', `${messageUrl(id)}versions/`);
  button.disabled = false;
  if (!res.ok) {
    toast({ title: 'Could not load earlier versions', body: errorText(res.data, ''), level: 'error' });
    return;
  }
  const versions = Array.isArray(res.data?.versions) ? res.data.versions : listOf(res.data);
  const current = msgs.get(id);
  button.after(versionsList(versions, current?.body ?? ''));
  button.setAttribute('aria-expanded', 'true');
}

function messageUrl(id) {
  return `/api/rooms/${encodeURIComponent(slug)}/messages/${id}/`;
}

/** A REST answer that is a message: merged with what the client knows, then shown. */
export function applyAnswer(data) {
  if (data && Number.isInteger(data.id) && Number.isInteger(data.seq)) {
    const [newest] = client.absorb([data]);
    applyUpdate(newest);
  }
}

/** A new state of a message (live, resumed, or a REST answer): repaint it and its replies. */
export function applyUpdate(msg) {
  if (!msg || !Number.isInteger(msg.id)) return;
  const held = msgs.get(msg.id);
  if (held && (held.rev ?? 0) > (msg.rev ?? 0)) return;
  msgs.set(msg.id, msg);
  learnUser(msg.user);
  const li = byId.get(msg.id);
  if (li) paint(li, msg);
  for (const reply of ui.messages.querySelectorAll(`:scope > .msg[data-reply-id="${msg.id}"]`)) {
    const m = msgs.get(Number(reply.dataset.id));
    if (m) paintReply(reply, m.reply_to);
  }
  if (replyTarget === msg.id) {
    if (msg.deleted) setReply(null);
    else renderReplyBar();
  }
}

async function react(id, emoji, add = null) {
  const msg = msgs.get(id);
  if (!msg || msg.deleted || !validEmoji(emoji)) return;
  const mine = (msg.reactions ?? []).some((r) => r.emoji === emoji && reacted(r, me?.id));
  const adding = add ?? !mine;
  const res = await api(adding ? 'POST' : 'DELETE', `${messageUrl(id)}reactions/`, { emoji });
  if (res.ok) applyAnswer(res.data);
  else ui.composerStatus.textContent = errorText(res.data, 'Could not change that reaction.');
}

let editing = null; // {id, finish}: the message being edited in place

export function startEdit(id) {
  const msg = msgs.get(id);
  const li = byId.get(id);
  if (!msg || !li || !canEdit(msg)) return false;
  if (editing) editing.finish();
  const editor = editInPlace(li, msg.body ?? '', {
    maxBody,
    save: async (body) => {
      const res = await api('PATCH', messageUrl(id), { body });
      if (!res.ok) return errorText(res.data, 'Could not save the edit.', { body: 'Message' });
      applyAnswer(res.data);
      return null;
    },
    done: () => {
      editing = null;
      ui.input.focus({ preventScroll: true });
    },
  });
  if (editor) editing = { id, finish: editor.finish };
  return Boolean(editor);
}

/** My newest message that I may still edit (for Up in an empty composer). */
export function lastOwnEditable() {
  const own = [...ui.messages.querySelectorAll(':scope > .msg--own[data-id]:not(.msg--deleted)')];
  for (let i = own.length - 1; i >= 0; i -= 1) {
    const msg = msgs.get(Number(own[i].dataset.id));
    if (msg && canEdit(msg)) return msg.id;
  }
  return null;
}

async function removeMessage(id) {
  const msg = msgs.get(id);
  if (!msg || !canDelete(msg)) return;
  if (!await confirmDelete(plainPreview(msg.body, 200))) return;
  const res = await api('DELETE', messageUrl(id));
  if (res.ok) applyAnswer(res.data);
  else toast({ title: 'Could not delete the message', body: errorText(res.data, ''), level: 'error' });
}

// ---- the reply being written -----------------------------------------------------------------------------

export let replyTarget = null; // the id of the message the next one answers

export function setReply(id) {
  replyTarget = Number.isInteger(id) ? id : null;
  renderReplyBar();
  if (replyTarget !== null) ui.input.focus();
}

function renderReplyBar() {
  const msg = replyTarget === null ? null : msgs.get(replyTarget);
  ui.reply.hidden = !msg;
  if (!msg) {
    replyTarget = null;
    ui.replyText.textContent = '';
    return;
  }
  ui.replyText.replaceChildren(
    'Replying to ',
    el('strong', {}, msg.user?.username ?? 'someone'),
    ': ',
    el('span', { class: 'composer__reply-preview' }, plainPreview(msg.body, 100)),
  );
}

/** The reply_to of a pending frame, as a message's reply_to (what the page holds of it). */
export function replyOf(frame) {
  const target = Number.isInteger(frame.reply_to) ? msgs.get(frame.reply_to) : null;
  return target ? { id: target.id, seq: target.seq, user: target.user, preview: target.body } : null;
}
