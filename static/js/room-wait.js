/**
 * room-wait.js: the "this room is private" page waits to be let in. It asks the API
 * whether the room is open to us now (GET /api/rooms/<slug>/: 200 once the owner puts us
 * on the whitelist), every few seconds with a growing pause, at once when the tab comes
 * back, the network returns or a notification arrives; then it opens the room.
 */
import { notifications } from './app.js';
import { api } from './ui.js';

const FIRST_MS = 3000;
const MAX_MS = 15000;

const root = document.querySelector('[data-room-wait]');
if (root) {
  const slug = root.dataset.roomWait;
  const note = root.querySelector('[data-room-wait-status]');
  let delay = FIRST_MS;
  let timer = null;
  let busy = false;

  const check = async () => {
    clearTimeout(timer);
    if (busy) return;
    busy = true;
    const res = await api('GET', `/api/rooms/${encodeURIComponent(slug)}/`);
    busy = false;
    if (res.ok) {
      note.textContent = 'You have been added: opening the room…';
      location.reload();
      return;
    }
    if (res.status === 404) {
      // The room itself is gone: reloading says so.
      location.reload();
      return;
    }
    delay = Math.min(MAX_MS, Math.round(delay * 1.5));
    if (!document.hidden) timer = setTimeout(check, delay);
  };

  const soon = () => {
    delay = FIRST_MS;
    check();
  };
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) soon();
  });
  window.addEventListener('online', soon);
  notifications?.bus.addEventListener('notification', soon);
  note.textContent = 'This page opens the room by itself as soon as you are added.';
  timer = setTimeout(check, FIRST_MS);
}
