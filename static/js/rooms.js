/** rooms.js: the room list (GET /api/rooms/) and the create-room form (POST /api/rooms/). */
import { api, el, errorText, icon, listOf, samePath } from './ui.js';

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

function showError(text) {
  formError.textContent = text;
  formError.hidden = !text;
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  showError('');
  const name = nameInput.value.trim();
  const slug = slugInput.value.trim();
  if (!name) {
    showError('Give the room a name.');
    nameInput.focus();
    return;
  }
  if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(slug)) {
    showError('The address takes lowercase letters, digits and single dashes.');
    slugInput.focus();
    return;
  }
  const isPrivate = form.elements.visibility.value === 'private';
  const button = form.querySelector('button[type="submit"]');
  button.disabled = true;
  const res = await api('POST', '/api/rooms/', { slug, name, is_private: isPrivate });
  button.disabled = false;
  if (res.ok) {
    location.assign(`/rooms/${encodeURIComponent(res.data?.slug ?? slug)}/`);
    return;
  }
  showError(errorText(res.data, `Could not create the room (HTTP ${res.status}).`));
});

loadRooms();
