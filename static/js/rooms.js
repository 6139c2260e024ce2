/** rooms.js: the room list (GET /api/rooms/) and the create-room form (POST /api/rooms/). */
import { api, el, errorText, fieldErrors, icon, listOf, samePath, showFieldErrors } from './ui.js';

const list = document.querySelector('[data-rooms]');
const status = document.querySelector('[data-rooms-status]');
const form = document.querySelector('[data-create-room]');
const formError = form.querySelector('[data-create-error]');
const nameInput = form.elements.name;
const slugInput = form.elements.slug;

function roomCard(room) {
  const href = `/rooms/${encodeURIComponent(room.slug)}/`;
  return el(
    'li',
    { class: 'room-card' },
    el(
      'a',
      { href, class: 'room-card__link' },
      el('span', { class: `room-card__icon${room.is_private ? ' room-card__icon--private' : ''}` }, icon(room.is_private ? 'lock' : 'hash')),
      el(
        'span',
        { class: 'room-card__text' },
        el('span', { class: 'room-card__name' }, room.name || room.slug),
        el('span', { class: 'room-card__slug' }, `/rooms/${room.slug}/`),
      ),
      room.archived && el('span', { class: 'tag tag--warning' }, 'Archived'),
      el('span', { class: `tag ${room.is_private ? 'tag--private' : 'tag--public'}` }, room.is_private ? 'Private' : 'Public'),
    ),
  );
}

async function loadRooms() {
  const rooms = [];
  let path = '/api/rooms/';
  // Follow DRF's page links, if the list is paginated, up to a sane number of pages.
  for (let page = 0; path && page < 20; page += 1) {
    const res = await api('GET', path);
    if (!res.ok) {
      status.textContent = `Could not load rooms: ${errorText(res.data)}`;
      return;
    }
    rooms.push(...listOf(res.data));
    path = res.data?.next ? samePath(res.data.next) : null;
  }
  rooms.sort((a, b) => String(a.name || a.slug).localeCompare(String(b.name || b.slug)));
  list.replaceChildren(...rooms.map(roomCard));
  status.textContent = rooms.length ? `${rooms.length} room${rooms.length === 1 ? '' : 's'}` : 'No rooms yet: create the first one.';
  status.classList.toggle('visually-hidden', rooms.length > 0);
}

function slugify(text) {
  return text
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 50);
}

let slugEdited = false;
slugInput.addEventListener('input', () => { slugEdited = slugInput.value !== ''; });
nameInput.addEventListener('input', () => {
  if (!slugEdited) slugInput.value = slugify(nameInput.value);
});

/** The form's fields by API name: the input that gets the focus, and its label in words. */
const FIELDS = {
  name: { input: nameInput, label: 'Name' },
  slug: { input: slugInput, label: 'Address' },
  is_private: { input: form.querySelector('input[name="visibility"]'), label: 'Who can join' },
};

function showError(text) {
  formError.textContent = text;
  formError.hidden = !text;
}

/** Say what is wrong under each field at once ({field: sentence}); '' is the form's own. */
function showErrors(errors) {
  const inputs = Object.fromEntries(Object.entries(FIELDS).map(([f, { input }]) => [f, input]));
  const { others, first } = showFieldErrors(form, inputs, errors);
  const fieldCount = Object.keys(errors).filter((f) => f && FIELDS[f]).length;
  if (fieldCount > 1) others.unshift(`Please fix the ${fieldCount} fields marked below.`);
  showError(others.join(' '));
  first?.focus();
}

/** The server's words for a field, made plain where they are Django's defaults. */
function plain(field, text) {
  if (field === 'slug' && /already exists/i.test(text)) return 'That address is taken: pick another.';
  return text;
}

/** Check every field before sending: all problems at once, none when it is fine. */
function localErrors(name, slug) {
  const errors = {};
  if (!name) errors.name = 'Give the room a name.';
  if (!slug) errors.slug = 'Give the room an address.';
  else if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(slug)) errors.slug = 'Use lowercase letters, digits and single dashes (like design-reviews).';
  return errors;
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = nameInput.value.trim();
  const slug = slugInput.value.trim();
  const local = localErrors(name, slug);
  showErrors(local);
  if (Object.keys(local).length) return;
  const isPrivate = form.elements.visibility.value === 'private';
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  const res = await api('POST', '/api/rooms/', { slug, name, is_private: isPrivate });
  button.disabled = false;
  if (res.ok) {
    location.assign(`/rooms/${encodeURIComponent(res.data?.slug ?? slug)}/`);
    return;
  }
  const errors = {};
  for (const [field, text] of Object.entries(fieldErrors(res.data))) {
    const key = FIELDS[field] ? field : '';
    errors[key] = errors[key] ? `${errors[key]} ${plain(field, text)}` : plain(field, text);
  }
  if (!Object.keys(errors).length) errors[''] = errorText(res.data, `Could not create the room (HTTP ${res.status}).`);
  showErrors(errors);
});

loadRooms();
