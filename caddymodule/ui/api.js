// The management API client, the sign-in token, and the small DOM helpers
// every view uses. Nothing here writes HTML as a string: every node is
// built with the DOM, so text from the API can never become markup.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? '';

/** How users sign in: "jwt", "header" or "none" (rendered by the gateway). */
export const identity = meta('anonymous-access-identity') || 'none';

/** The management API's base path, such as /_anon/api/v1. */
const apiBase = meta('anonymous-access-api');

// The token lives in sessionStorage only: it is gone when the tab closes,
// and it is never put in a URL or a log.
const tokenKey = 'anonymous-access-token';

export const token = {
  get: () => sessionStorage.getItem(tokenKey) || '',
  set: (value) => sessionStorage.setItem(tokenKey, value),
  clear: () => sessionStorage.removeItem(tokenKey),
};

/** An API error: the HTTP status and the API's {"error","message"}. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => {};

/** Registers what to do when the API refuses the caller's identity. */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** Calls the management API and returns its JSON answer (null for 204). */
export async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (identity === 'jwt') headers.Authorization = `Bearer ${token.get()}`;
  const init = { method, headers, cache: 'no-store', credentials: 'same-origin', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(apiBase + path, init);
  } catch {
    throw new ApiError(0, 'network', 'The gateway could not be reached. Check the connection and try again.');
  }
  if (res.status === 204) return null;
  let data = null;
  try {
    data = await res.json();
  } catch {
    // Not JSON: a proxy's error page, say. The status still tells.
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data?.error || `http_${res.status}`,
      data?.message || `The request failed (HTTP ${res.status}).`);
    if (res.status === 401) unauthorized(err);
    throw err;
  }
  return data;
}

/** Encodes an id for a path segment of the API. */
export const seg = encodeURIComponent;

/**
 * Builds an element. props: "class", "on<event>" listeners, the DOM
 * properties in domProps, and attributes for everything else (true for a
 * bare attribute; false, null and undefined leave it out). Children are
 * nodes or strings (as text).
 */
export function el(tag, props = {}, ...children) {
  const node = tag === 'svg' || svgTags.has(tag)
    ? document.createElementNS('http://www.w3.org/2000/svg', tag)
    : document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.setAttribute('class', value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (domProps.has(key)) node[key] = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

const domProps = new Set(['value', 'checked', 'readOnly', 'disabled', 'hidden', 'open']);
const svgTags = new Set(['g', 'line', 'polyline', 'circle', 'text', 'rect', 'path']);

/** Makes an id unique in the page, for label/for and aria references. */
let idSeq = 0;
export const uid = (base) => `${base}-${++idSeq}`;

/** A label and a control, wired together. */
export function field(labelText, control, hint) {
  control.id ||= uid('f');
  const parts = [el('label', { for: control.id }, labelText), control];
  if (hint) {
    const hintEl = el('p', { class: 'hint', id: uid('hint') }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
    parts.push(hintEl);
  }
  return el('div', { class: 'field' }, parts);
}

/** Options of a select, from [value, text] pairs. */
export const options = (pairs, selected) =>
  pairs.map(([value, text]) => el('option', { value, selected: value === selected }, text));

/** The alert region in use: the dialog's while it is open. */
function alertRegion() {
  const dialog = document.getElementById('share');
  return document.getElementById(dialog.open ? 'share-alert' : 'alert');
}

/** Shows an error (an ApiError or any Error) in the visible alert region. */
export function showError(err) {
  alertRegion().textContent = err?.message || String(err);
}

/** Empties every alert region. */
export function clearErrors() {
  document.getElementById('alert').textContent = '';
  document.getElementById('share-alert').textContent = '';
}

/**
 * Shows an error, except a refused token: that one has already sent the
 * user back to the sign-in form, which says why.
 */
export function report(err) {
  if (!(err instanceof ApiError && err.status === 401 && identity === 'jwt')) showError(err);
}

/** Says something in a status element, and clears it after a while. */
export function say(node, text, ms = 6000) {
  node.textContent = text;
  clearTimeout(node.sayTimer);
  if (ms) node.sayTimer = setTimeout(() => { node.textContent = ''; }, ms);
}

/** The readable names of space roles. */
export const spaceRoles = {
  owner: 'Owner',
  can_manage: 'Can manage',
  can_contribute: 'Can contribute',
  can_view: 'Can view',
  has_restricted_view: 'Has restricted view',
  can_operate: 'Can operate',
};

/** An app's name for people: provisioned apps may have none but their id. */
export const appName = (app) => app.name || app.id;
