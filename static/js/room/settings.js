/**
 * room/settings.js: a room's settings on its page. `showRoom` puts a room object (the
 * socket's `room` frame, or GET /api/rooms/<slug>/) in the header: name, topic, kind,
 * archived banner. `mountSettings` wires the owner's "Room settings" dialog (room.html
 * renders it for the owner only): PATCH /api/rooms/<slug>/ with what changed, and the
 * server's refusals said in words under each field.
 */
import { api, errorText, fieldErrors, showFieldErrors } from '../ui.js';

const KIND_TEXT = { public: 'Public', private: 'Private', direct: 'Direct message' };
const KIND_TAG = { public: 'tag--public', private: 'tag--private', direct: 'tag--info' };

/**
 * Show `room` ({slug,name,topic,kind,archived}) in the page's header and banner; the
 * composer is the caller's (room.js). A direct room keeps the name of the other person.
 */
export function showRoom(root, room) {
  const $ = (sel) => root.querySelector(sel);
  const archived = Boolean(room.archived);
  if (room.kind !== 'direct' && typeof room.name === 'string' && room.name) {
    $('[data-room-name]').textContent = room.name;
    root.dataset.roomTitle = room.name;
    const label = `#${room.name}`;
    $('[data-room-label]').textContent = label;
    $('[data-scroll]').setAttribute('aria-label', `Conversation in ${label}`);
    $('[data-messages]').setAttribute('aria-label', `Messages in ${label}`);
    // "(3) Name · Realtime": the unread count and the site's name stay.
    const count = /^\(\d+\+?\) /.exec(document.title)?.[0] ?? '';
    const at = document.title.lastIndexOf(' · ');
    document.title = `${count}${room.name}${at >= 0 ? document.title.slice(at) : ''}`;
  }
  const topic = $('[data-room-topic]');
  topic.textContent = room.topic ?? '';
  topic.hidden = !room.topic;
  const visibility = $('[data-room-visibility]');
  if (visibility && KIND_TEXT[room.kind]) {
    visibility.textContent = KIND_TEXT[room.kind];
    visibility.className = `tag ${KIND_TAG[room.kind]}`;
  }
  root.dataset.roomKind = room.kind;
  $('[data-room-archived-tag]').hidden = !archived;
  $('[data-room-archived]').hidden = !archived;
  root.classList.toggle('room--archived', archived);
  if (archived) root.dataset.archived = '';
  else delete root.dataset.archived;
}

/** The dialog's fields by API name: the input that gets the focus on an error. */
function fieldsOf(form) {
  return {
    name: form.elements.name,
    topic: form.elements.topic,
    is_private: form.querySelector('input[name="visibility"]'),
    archived: form.elements.archived,
  };
}

/**
 * Wire the owner's settings dialog, if the page has one. `current()` is the room as
 * the page knows it now; `saved(room)` gets the room the server answered with.
 */
export function mountSettings(root, slug, { current, saved }) {
  const dialog = root.querySelector('[data-settings]');
  const opener = root.querySelector('[data-settings-open]');
  if (!dialog || !opener) return;
  const form = dialog.querySelector('[data-settings-form]');
  const formError = dialog.querySelector('[data-settings-error]');
  const save = dialog.querySelector('[data-settings-save]');
  const fields = fieldsOf(form);

  function showErrors(errors) {
    const { others, first } = showFieldErrors(form, fields, errors);
    formError.textContent = others.join(' ');
    formError.hidden = others.length === 0;
    first?.focus();
  }

  /** The form filled from the room as it is now (another tab may have changed it). */
  function fill() {
    const room = current();
    fields.name.value = room.name ?? '';
    fields.topic.value = room.topic ?? '';
    form.elements.visibility.value = room.kind === 'private' ? 'private' : 'public';
    fields.archived.checked = Boolean(room.archived);
    showErrors({});
  }

  function localErrors(name, topic) {
    const errors = {};
    if (!name) errors.name = 'Give the room a name.';
    else if (name.length > 100) errors.name = `A name is at most 100 characters: this one has ${name.length}.`;
    if (topic.length > 250) errors.topic = `A topic is at most 250 characters: this one has ${topic.length}.`;
    return errors;
  }

  // A field's error goes once it is edited.
  for (const [field, input] of Object.entries(fields)) {
    const clear = () => {
      const node = form.querySelector(`[data-error-for="${field}"]`);
      if (node.hidden) return;
      node.hidden = true;
      input.removeAttribute('aria-invalid');
    };
    const inputs = field === 'is_private' ? form.querySelectorAll('input[name="visibility"]') : [input];
    for (const node of inputs) node.addEventListener('input', clear);
  }

  opener.addEventListener('click', () => {
    fill();
    dialog.showModal();
    fields.name.focus();
  });
  dialog.querySelector('[data-settings-cancel]').addEventListener('click', () => dialog.close());
  // The dialog gives the focus back to the button that opened it.
  dialog.addEventListener('close', () => opener.focus());

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const room = current();
    const name = fields.name.value.trim();
    const topic = fields.topic.value.trim();
    const local = localErrors(name, topic);
    showErrors(local);
    if (Object.keys(local).length) return;
    // Only what changed: a PATCH of the rest could undo another tab's change.
    const change = {};
    if (name !== room.name) change.name = name;
    if (topic !== (room.topic ?? '')) change.topic = topic;
    const isPrivate = form.elements.visibility.value === 'private';
    if (isPrivate !== (room.kind === 'private')) change.is_private = isPrivate;
    if (fields.archived.checked !== Boolean(room.archived)) change.archived = fields.archived.checked;
    if (!Object.keys(change).length) {
      dialog.close();
      return;
    }
    save.disabled = true;
    const res = await api('PATCH', `/api/rooms/${encodeURIComponent(slug)}/`, change);
    save.disabled = false;
    if (res.ok) {
      saved(res.data);
      dialog.close();
      return;
    }
    const errors = {};
    for (const [field, text] of Object.entries(fieldErrors(res.data))) {
      const key = fields[field] ? field : '';
      errors[key] = errors[key] ? `${errors[key]} ${text}` : text;
    }
    if (!Object.keys(errors).length) errors[''] = errorText(res.data, `Could not save the settings (HTTP ${res.status}).`);
    showErrors(errors);
  });
}
