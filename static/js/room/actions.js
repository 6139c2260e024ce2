/**
 * room/actions.js: what a user does to one message (PROTOCOL.md section 10): the
 * toolbar shown on hover or focus (quick reactions, the picker, reply, edit, delete),
 * the inline editor, the confirmation before a delete, and the list of earlier versions.
 *
 * The toolbar is one tab stop per message (a WAI-ARIA toolbar: arrow keys move inside
 * it), so the conversation is not hundreds of stops long; everything is a real button.
 */
import { el, timeEl } from '../ui.js';
import { QUICK } from './reactions.js';

/** Roving focus inside a toolbar: one tab stop, arrows, Home and End. */
function rove(bar) {
  bar.addEventListener('keydown', (e) => {
    const items = [...bar.querySelectorAll('button:not([hidden])')];
    const i = items.indexOf(document.activeElement);
    if (i < 0) return;
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: items.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    const next = items[(to + items.length) % items.length];
    for (const b of items) b.tabIndex = b === next ? 0 : -1;
    next.focus();
  });
}

/**
 * The toolbar of a confirmed, not deleted message.
 * @param {object} o `author` (a name, for the labels), `canReact` (reactions and reply:
 *   not in an archived room), `canEdit`, `canDelete`, and the
 *   callbacks `react(emoji)`, `picker(button)`, `reply()`, `edit()`, `remove()`.
 */
export function messageToolbar(o) {
  const bar = el('div', { class: 'msg__actions', role: 'toolbar', 'aria-label': `Message by ${o.author}` });
  const buttons = [];
  if (o.canReact !== false) {
    for (const emoji of QUICK.slice(0, 3)) {
      buttons.push(el('button', {
        type: 'button', class: 'msg__action msg__action--emoji', 'aria-label': `React with ${emoji}`,
        title: `React with ${emoji}`, onclick: () => o.react(emoji),
      }, emoji));
    }
    const more = el('button', {
      type: 'button', class: 'msg__action', 'aria-label': 'More reactions', title: 'More reactions',
      'aria-haspopup': 'dialog', 'aria-expanded': 'false', dataset: { action: 'picker' },
    }, el('span', { 'aria-hidden': 'true' }, '☺+'));
    more.addEventListener('click', () => o.picker(more));
    buttons.push(more);
    buttons.push(el('button', {
      type: 'button', class: 'msg__action', dataset: { action: 'reply' }, onclick: () => o.reply(),
    }, 'Reply'));
  }
  if (o.canEdit) {
    buttons.push(el('button', {
      type: 'button', class: 'msg__action', dataset: { action: 'edit' }, onclick: () => o.edit(),
    }, 'Edit'));
  }
  if (o.canDelete) {
    buttons.push(el('button', {
      type: 'button', class: 'msg__action msg__action--danger', dataset: { action: 'delete' }, onclick: () => o.remove(),
    }, 'Delete'));
  }
  buttons.forEach((b, i) => { b.tabIndex = i === 0 ? 0 : -1; });
  bar.append(...buttons);
  rove(bar);
  return bar;
}

/**
 * Ask before deleting, in a modal <dialog> (focus is held inside it and comes back
 * after). Resolves true for "Delete".
 */
export function confirmDelete(preview) {
  let dialog = document.querySelector('dialog[data-confirm-delete]');
  if (!dialog) {
    dialog = el('dialog', { class: 'confirm', 'data-confirm-delete': true, 'aria-labelledby': 'confirm-delete-title' },
      el('form', { method: 'dialog', class: 'confirm__form' },
        el('h2', { id: 'confirm-delete-title', class: 'confirm__title' }, 'Delete this message?'),
        el('p', { class: 'confirm__preview', 'data-confirm-preview': true }),
        el('p', { class: 'muted small' }, 'Everyone in the room will see “message deleted” in its place.'),
        el('div', { class: 'confirm__buttons' },
          el('button', { type: 'submit', value: 'cancel', class: 'button button--ghost button--sm' }, 'Cancel'),
          el('button', { type: 'submit', value: 'delete', class: 'button button--danger button--sm' }, 'Delete'))));
    document.body.append(dialog);
  }
  dialog.querySelector('[data-confirm-preview]').textContent = preview;
  const back = document.activeElement;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      back?.focus?.();
      resolve(dialog.returnValue === 'delete');
    }, { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    dialog.querySelector('button[value="cancel"]').focus();
  });
}

/**
 * Edit a message in place: a text box over its body with Save and Cancel (Enter saves,
 * Shift+Enter is a new line, Escape cancels). `save(body)` resolves to an error text or
 * null; `done()` runs once the editor is gone.
 */
export function editInPlace(li, body, { save, done, maxBody }) {
  const main = li.querySelector('.msg__main');
  const shown = li.querySelector('.msg__body');
  if (!main || !shown || li.querySelector('.msg__editor')) return null;
  const id = `edit-${li.dataset.id}`;
  const input = el('textarea', { id, class: 'msg__editor-input', rows: '2', 'aria-label': 'Edit message' });
  input.value = body;
  const error = el('p', { class: 'field__error', role: 'alert', hidden: true });
  const saveBtn = el('button', { type: 'submit', class: 'button button--primary button--sm' }, 'Save');
  const form = el('form', { class: 'msg__editor' },
    input,
    el('div', { class: 'msg__editor-bar' },
      el('span', { class: 'muted small' }, 'Enter to save, Esc to cancel'),
      el('button', { type: 'button', class: 'button button--ghost button--sm', onclick: () => finish() }, 'Cancel'),
      saveBtn),
    error);
  shown.hidden = true;
  shown.after(form);
  li.classList.add('msg--editing');
  const finish = () => {
    form.remove();
    shown.hidden = false;
    li.classList.remove('msg--editing');
    done?.();
  };
  const submit = async () => {
    const text = input.value.trim();
    if (!text) {
      error.textContent = 'A message cannot be empty: delete it instead.';
      error.hidden = false;
      return;
    }
    if (text.length > maxBody) {
      error.textContent = `Messages are at most ${maxBody} characters.`;
      error.hidden = false;
      return;
    }
    if (text === body.trim()) {
      finish();
      return;
    }
    saveBtn.disabled = true;
    const problem = await save(text);
    saveBtn.disabled = false;
    if (problem) {
      error.textContent = problem;
      error.hidden = false;
      input.focus();
    } else {
      finish();
    }
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      finish();
    } else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
  return { finish };
}

/** Earlier versions of a message, oldest first, under its body. */
export function versionsList(versions, current) {
  const list = el('ol', { class: 'versions', 'aria-label': 'Earlier versions' });
  for (const v of versions) {
    const when = v.ts ?? v.created ?? v.replaced ?? null; // when that version was written
    list.append(el('li', { class: 'versions__item' },
      when ? timeEl(when, { withDay: true }) : null,
      el('span', { class: 'versions__body' }, String(v.body ?? ''))));
  }
  list.append(el('li', { class: 'versions__item versions__item--now' },
    el('span', { class: 'muted small' }, 'now'),
    el('span', { class: 'versions__body' }, current)));
  return list;
}
