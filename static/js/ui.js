/**
 * ui.js: small helpers shared by the pages (DOM building, REST calls, times, toasts).
 *
 * Everything a user or the server wrote is put in the page as text (textContent or
 * attribute values), never parsed as HTML.
 */

/**
 * Build an element: el('p', {class: 'x', dataset: {id: 1}, onclick: fn}, 'text', child).
 * Strings become text nodes; null/false children are skipped.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const ICONS = {
  lock: 'M17 9h-1V7a4 4 0 0 0-8 0v2H7a2 2 0 0 0-2 2v8a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2v-8a2 2 0 0 0-2-2Zm-7-2a2 2 0 0 1 4 0v2h-4Zm2 10a1.75 1.75 0 1 1 0-3.5 1.75 1.75 0 0 1 0 3.5Z',
  hash: 'M10.6 3 9.9 8H6.5l-.3 2h3.4l-.6 4H5.6l-.3 2h3.4L8 21h2l.7-5h4l-.7 5h2l.7-5h3.4l.3-2h-3.4l.6-4h3.4l.3-2h-3.4l.7-5h-2l-.7 5h-4l.7-5Zm.7 7h4l-.6 4h-4Z',
};

/** A decorative inline SVG icon from a fixed set (no emoji font needed). */
export function icon(name, size = 20) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('fill', 'currentColor');
  path.setAttribute('d', ICONS[name]);
  svg.append(path);
  return svg;
}

/** The signed-in user from base.html's data attributes, or null. */
export function currentUser() {
  const { userId, username } = document.body.dataset;
  return userId ? { id: Number(userId), username } : null;
}

/** The CSRF token: base.html's meta tag, else Django's csrftoken cookie. */
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta?.content) return meta.content;
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : '';
}

/** Where a signed-out user goes: the login page, coming back here afterwards. */
export function loginUrl() {
  const next = encodeURIComponent(location.pathname + location.search).replace(/%2F/g, '/');
  return `/login/?next=${next}`;
}

// The page is on its way out (logging out, or already sent to the login page). One flag
// for every caller: a room page has two sockets (chat and notify) that both get 4401
// after a logout, and a second navigation would abort the first one.
let leaving = false;

/** This page is logging out: the 4401 closes that follow are expected, not a reason to re-login. */
export function markLoggingOut() {
  leaving = true;
}

/** The session is gone (logout elsewhere, password change): sign in again, once per page. */
export function reLogin() {
  if (leaving) return;
  leaving = true;
  location.assign(loginUrl());
}

/**
 * A JSON call to the REST API with the session cookie and the CSRF header.
 * @returns {Promise<{ok: boolean, status: number, data: any}>}; status 0 when offline.
 */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (!['GET', 'HEAD', 'OPTIONS'].includes(method)) headers['X-CSRFToken'] = csrfToken();
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    return { ok: false, status: 0, data: { detail: 'You are offline. Try again in a moment.' }, error };
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 200) };
    }
  }
  if (res.status === 401) reLogin();
  return { ok: res.ok, status: res.status, data };
}

/** A list from a REST answer: a bare array or a DRF page ({results}). */
export function listOf(data) {
  if (Array.isArray(data)) return data;
  if (data && Array.isArray(data.results)) return data.results;
  return [];
}

/** Path and query of a URL (DRF's absolute `next` links), to fetch from this origin. */
export function samePath(url) {
  const u = new URL(url, location.href);
  return u.pathname + u.search;
}

const NON_FIELD = new Set(['non_field_errors', '__all__']);

/**
 * The field errors of a REST error body, as {field: 'sentence. sentence.'}: the API's
 * {detail, code, errors: {field: [..]}} shape, or a bare DRF {field: [..]} body.
 * Errors that belong to no field are under '' .
 */
export function fieldErrors(data) {
  const out = {};
  if (!data || typeof data !== 'object') return out;
  const source = data.errors && typeof data.errors === 'object' ? data.errors
    : Object.fromEntries(Object.entries(data).filter(([k]) => !['detail', 'code', 'status'].includes(k)));
  for (const [field, value] of Object.entries(source)) {
    const text = (Array.isArray(value) ? value : [value])
      .map((v) => (v && typeof v === 'object' ? v.message ?? v.detail ?? '' : String(v))).filter(Boolean).join(' ');
    if (!text) continue;
    const key = NON_FIELD.has(field) ? '' : field;
    out[key] = out[key] ? `${out[key]} ${text}` : text;
  }
  return out;
}

/**
 * Say what is wrong under each field of a form at once. `inputs`: {field: input} (the
 * input gets aria-invalid and aria-describedby its `[data-error-for=field]` node);
 * `errors`: {field: sentence}. Returns the errors of no listed field (for the form's own
 * line) and the first input at fault (to focus).
 */
export function showFieldErrors(form, inputs, errors) {
  let first = null;
  for (const [field, input] of Object.entries(inputs)) {
    const node = form.querySelector(`[data-error-for="${field}"]`);
    const text = errors[field] ?? '';
    node.textContent = text;
    node.hidden = !text;
    const describedBy = (input.getAttribute('aria-describedby') ?? '').split(' ').filter((id) => id && id !== node.id);
    if (text) {
      input.setAttribute('aria-invalid', 'true');
      describedBy.unshift(node.id);
      first ??= input;
    } else {
      input.removeAttribute('aria-invalid');
    }
    if (describedBy.length) input.setAttribute('aria-describedby', describedBy.join(' '));
    else input.removeAttribute('aria-describedby');
  }
  const others = Object.entries(errors).filter(([f]) => !inputs[f]).map(([, t]) => t);
  return { others, first };
}

/**
 * A readable message out of a REST error body, in words: the field errors, each led by
 * the field's label from `labels` (never a raw field name), or else its `detail`.
 */
export function errorText(data, fallback = 'Something went wrong.', labels = {}) {
  if (!data) return fallback;
  if (typeof data === 'string') return data;
  const fields = fieldErrors(data);
  const parts = Object.entries(fields).map(([field, text]) => {
    if (!field) return text;
    const label = labels[field];
    return label ? `${label}: ${text}` : text;
  });
  if (parts.length) return parts.join(' ');
  if (typeof data.detail === 'string') return data.detail;
  return fallback;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

/**
 * A <time> element: hours and minutes today, the day otherwise; full date on hover.
 * `short`: hours and minutes only (where a day separator already says the day).
 */
export function timeEl(iso, { withDay = false, short = false } = {}) {
  const date = iso ? new Date(iso) : new Date();
  const today = new Date().toDateString() === date.toDateString();
  const text = withDay && !short && !today ? `${dayFmt.format(date)}, ${timeFmt.format(date)}` : timeFmt.format(date);
  return el('time', { datetime: date.toISOString(), title: fullFmt.format(date) }, text);
}

const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });
const yearDayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });

/** A day separator's words: "Today", "Yesterday", "Monday, December 3" (with the year if not this one). */
export function dayLabel(iso, now = new Date()) {
  const date = new Date(iso);
  const startOf = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((startOf(now) - startOf(date)) / 86400000);
  if (days === 0) return 'Today';
  if (days === 1) return 'Yesterday';
  return (date.getFullYear() === now.getFullYear() ? weekdayFmt : yearDayFmt).format(date);
}

/** "just now", "5 min ago", "3 h ago", or a date. */
export function relativeTime(iso) {
  const date = new Date(iso);
  const s = Math.round((Date.now() - date.getTime()) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return fullFmt.format(date);
}

/** A stable hue per username, for avatars. */
function hue(name) {
  let h = 0;
  for (const ch of String(name)) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

/** Fill an avatar element with the user's initial on a colour derived from the name. */
export function paintAvatar(node, username) {
  const name = String(username ?? '?');
  node.textContent = (Array.from(name)[0] ?? '?').toUpperCase();
  node.style.setProperty('--avatar-hue', String(hue(name)));
  return node;
}

/** A new avatar element. */
export function avatar(username, size = '') {
  return paintAvatar(el('span', { class: `avatar${size ? ` avatar--${size}` : ''}`, 'aria-hidden': 'true' }), username);
}

/**
 * A link a notification may carry, if it is safe to put in an href: a same-site path,
 * or an http(s) URL. Anything else (javascript:, data:, //host) gives null.
 */
export function safeLink(link) {
  if (typeof link !== 'string' || !link) return null;
  if (link.startsWith('/') && !link.startsWith('//') && !link.startsWith('/\\')) return link;
  try {
    const u = new URL(link);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

const LEVELS = new Set(['info', 'success', 'warning', 'error']);

/** A safe notification level (the class name comes from a fixed set). */
export function level(value) {
  return LEVELS.has(value) ? value : 'info';
}

/**
 * Show a toast in base.html's live region; it leaves after `timeout` ms unless hovered
 * or focused. Title and body are text.
 */
export function toast({ title, body = '', level: lvl = 'info', timeout = 7000, href = null }) {
  const region = document.querySelector('[data-toasts]');
  if (!region) return null;
  const lv = level(lvl);
  const close = el('button', { type: 'button', class: 'toast__close', 'aria-label': 'Dismiss' }, '×');
  const titleNode = href ? el('a', { href, class: 'toast__title' }, title) : el('p', { class: 'toast__title' }, title);
  const node = el(
    'div',
    { class: `toast toast--${lv}`, role: lv === 'error' ? 'alert' : null },
    el('span', { class: 'toast__icon', 'aria-hidden': 'true' }),
    el('div', { class: 'toast__text' }, titleNode, body ? el('p', { class: 'toast__body' }, body) : null),
    close,
  );
  let timer = null;
  const dismiss = () => {
    clearTimeout(timer);
    node.classList.add('toast--leaving');
    setTimeout(() => node.remove(), 200);
  };
  const arm = () => {
    clearTimeout(timer);
    if (timeout > 0) timer = setTimeout(dismiss, timeout);
  };
  close.addEventListener('click', dismiss);
  node.addEventListener('mouseenter', () => clearTimeout(timer));
  node.addEventListener('mouseleave', arm);
  node.addEventListener('focusin', () => clearTimeout(timer));
  node.addEventListener('focusout', arm);
  region.append(node);
  while (region.children.length > 4) region.firstElementChild.remove();
  arm();
  return node;
}

/** Paint every [data-avatar] element already in the page (base.html's header). */
export function paintAvatars(root = document) {
  for (const node of root.querySelectorAll('[data-avatar]')) paintAvatar(node, node.dataset.avatar);
}
