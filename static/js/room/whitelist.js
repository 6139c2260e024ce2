/**
 * room/whitelist.js: the members of a private room, paged from
 * /api/rooms/<slug>/members/, for every member to see; for its owner (room.html renders
 * the form for the owner only) also a form to add one and a button to remove each (the
 * server closes their sockets with 4403).
 */
import { api, avatar, el, errorText, listOf, samePath } from '../ui.js';

function memberOf(m) {
  if (m && typeof m === 'object' && m.user && typeof m.user === 'object') return m.user;
  if (m && typeof m === 'object') return { id: m.id ?? null, username: m.username };
  return { id: null, username: String(m) };
}

/**
 * Wire the members panel inside the room's `root`, if the page has one (not in a direct
 * room), and load the members while the room is private. Returns `{ show(private) }`:
 * the room turned private (show and load) or public (hide), or null without a panel.
 */
export function mountWhitelist(root, slug) {
  const section = root.querySelector('[data-whitelist]');
  if (!section) return null;
  const form = root.querySelector('[data-whitelist-form]'); // the owner's only
  const errorBox = root.querySelector('[data-whitelist-error]');
  const list = root.querySelector('[data-whitelist-list]');
  const count = root.querySelector('[data-whitelist-count]');
  const membersPath = `/api/rooms/${encodeURIComponent(slug)}/members/`;

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  async function loadMembers() {
    const all = [];
    let path = membersPath;
    // Follow the API's page links (50 a page), up to a sane bound.
    for (let page = 0; path && page < 40; page += 1) {
      const res = await api('GET', path);
      if (!res.ok) {
        showError(errorText(res.data, 'Could not load the whitelist.'));
        return;
      }
      all.push(...listOf(res.data));
      path = res.data?.next ? samePath(res.data.next) : null;
    }
    const owner = root.dataset.owner;
    const members = all.map(memberOf).filter((m) => m.username)
      .sort((a, b) => a.username.localeCompare(b.username));
    if (count) count.textContent = String(members.length);
    list.replaceChildren(...members.map((m) => el(
      'li',
      { class: 'person', dataset: { username: m.username } },
      avatar(m.username, 'sm'),
      el('span', { class: 'person__name' }, m.username),
      m.username === owner && el('span', { class: 'tag' }, 'Owner'),
      m.username !== owner && form && el('button', {
          type: 'button',
          class: 'icon-button icon-button--danger',
          'aria-label': `Remove ${m.username} from the whitelist`,
          title: `Remove ${m.username}`,
          onclick: () => removeMember(m.username),
        }, '×'),
    )));
  }

  async function removeMember(username) {
    if (!form) return;
    showError('');
    const res = await api('DELETE', membersPath, { username });
    if (!res.ok) showError(errorText(res.data, `Could not remove ${username}.`));
    await loadMembers();
    form.elements.username.focus();
  }

  form?.addEventListener('submit', async (e) => {
    e.preventDefault();
    showError('');
    const input = form.elements.username;
    const username = input.value.trim();
    if (!username) return;
    const res = await api('POST', membersPath, { username });
    if (res.ok) {
      input.value = '';
      await loadMembers();
    } else {
      showError(errorText(res.data, `Could not add ${username}.`, { username: 'Username' }));
    }
    input.focus();
  });
  function show(isPrivate) {
    section.hidden = !isPrivate;
    if (isPrivate) loadMembers();
  }
  if (!section.hidden) loadMembers();
  return { show };
}
