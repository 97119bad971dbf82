// The sharing dialog of one app: the "Anyone with the link" switch, what
// the link opens, the app link, the embed code and, under Settings,
// resetting the access code.
// What the caller may not do is left out, with the reason in its place.

import { api, el, seg, field, say, report, appName, uid } from './api.js';

const dialog = document.getElementById('share');
const body = document.getElementById('share-body');
const alertRegion = document.getElementById('share-alert');

const noPermission =
  'You need the Public link creation permission and the owner or can_manage role in this space to share it.';

/** The open dialog: its app, what built it, and pending loads. */
let cur = null;

document.getElementById('share-close').addEventListener('click', () => dialog.close());
dialog.addEventListener('close', () => {
  const opener = cur?.opener;
  cur = null;
  // No link or code stays in the page once the dialog is closed.
  body.replaceChildren();
  alertRegion.textContent = '';
  if (opener?.isConnected) opener.focus();
});

/**
 * Opens the dialog for app (as listed in space), returning focus to opener
 * when it closes; onChange hears of every change to the app.
 */
export function openShare(app, space, opener, onChange) {
  // The page behind a modal dialog is inert, so this is only a guard; and
  // closing here would run the close handler after the new dialog opened.
  if (dialog.open) return;
  const c = { app, space, opener, onChange, changes: 0 };
  // What the dialog offers, as the API says: can for what the caller may
  // do now, can_when_on for what they could copy once sharing is on
  // (can says no to copying while it is off, whoever asks).
  c.may = {
    toggle: Boolean(app.can?.set_anonymous_access),
    reset: Boolean(app.can?.reset_code),
    link: Boolean(app.can_when_on?.copy_link),
    embed: Boolean(app.can_when_on?.copy_embed_code),
  };
  c.ui = build(c);
  cur = c;
  document.getElementById('share-title').textContent = `Share ${appName(app)}`;
  alertRegion.textContent = '';
  body.replaceChildren(...c.ui.nodes);
  dialog.showModal();
  refresh(c);
}

/** Re-reads the app, so the dialog never acts on a stale list. */
async function refresh(c) {
  const changes = c.changes;
  try {
    const app = await api('GET', `/apps/${seg(c.app.id)}`);
    // A change made meanwhile answered with a newer app than this.
    if (cur !== c || c.changes !== changes) return;
    c.app = app;
    c.onChange(app);
  } catch (err) {
    if (cur === c) report(err);
  }
  if (cur === c) await update(c);
}

function build(c) {
  const ui = { nodes: [] };
  const name = appName(c.app);
  if (c.may.toggle) {
    const hintId = uid('hint');
    ui.toggle = el('input', { type: 'checkbox', role: 'switch', id: uid('switch'), class: 'switch', 'aria-describedby': hintId });
    ui.toggle.addEventListener('change', () => toggle(c));
    ui.toggleStatus = el('p', { class: 'status', role: 'status' });
    ui.nodes.push(
      el('div', { class: 'switch-row' }, ui.toggle, el('label', { for: ui.toggle.id }, 'Anyone with the link')),
      el('p', { class: 'hint', id: hintId }, 'Anyone who has the link can view this app without signing in, only the pages it covers.'),
      ui.toggleStatus);
  } else {
    ui.nodes.push(el('p', { class: 'notice' }, c.space.type === 'managed' ? noPermission
      : 'Only apps in a managed space can be shared with anyone.'));
  }
  // Says whether sharing is on when the switch is not there to show it,
  // and what to do next when it is off.
  ui.state = el('p', { class: 'muted' });
  ui.nodes.push(ui.state);

  const opensId = uid('opens');
  ui.opens = el('ul', {}, opens(c.app));
  ui.nodes.push(el('section', { class: 'share-part', 'aria-labelledby': opensId },
    el('h3', { id: opensId }, 'What the link opens'), ui.opens));

  ui.link = el('input', { type: 'text', id: uid('link'), readOnly: true, class: 'mono', spellcheck: 'false' });
  ui.link.addEventListener('focus', () => ui.link.select());
  ui.linkStatus = el('span', { class: 'status', role: 'status' });
  ui.linkPart = el('div', { class: 'share-part', hidden: true },
    el('label', { for: ui.link.id }, 'App link'),
    el('div', { class: 'copy-row' }, ui.link,
      el('button', { type: 'button', onclick: () => copy(ui.link, ui.linkStatus) }, 'Copy link')),
    ui.linkStatus);
  ui.nodes.push(ui.linkPart);

  if (c.may.embed) {
    ui.object = el('input', { type: 'text', placeholder: c.app.entry, spellcheck: 'false' });
    ui.width = el('input', { type: 'text', placeholder: '100%' });
    ui.height = el('input', { type: 'text', placeholder: '600' });
    for (const input of [ui.object, ui.width, ui.height]) input.addEventListener('change', () => loadEmbed(c));
    ui.embed = el('textarea', { readOnly: true, rows: '3', class: 'mono', spellcheck: 'false' });
    ui.embed.addEventListener('focus', () => ui.embed.select());
    ui.embedStatus = el('span', { class: 'status', role: 'status' });
    const headingId = uid('embed');
    ui.embedPart = el('section', { class: 'share-part', 'aria-labelledby': headingId, hidden: true },
      el('h3', { id: headingId }, 'Embed in a web page'),
      el('div', { class: 'embed-options' },
        field('Object path', ui.object),
        field('Width', ui.width),
        field('Height', ui.height)),
      el('p', { class: 'hint' },
        'Object path: a page the app covers, empty for its entry. Width and height: pixels, or a percentage.'),
      field('Embed code', ui.embed),
      el('div', { class: 'buttons' },
        el('button', { type: 'button', onclick: () => copy(ui.embed, ui.embedStatus, c.embedLoading) }, 'Copy embed code'),
        ui.embedStatus));
    ui.nodes.push(ui.embedPart);
  } else if (c.may.link) {
    ui.embedNote = el('p', { class: 'hint', hidden: true },
      'Copying the embed code needs the Public link creation permission and the owner or can_manage role in this space.');
    ui.nodes.push(ui.embedNote);
  }

  if (c.may.reset) ui.nodes.push(buildSettings(c, ui, name));
  return ui;
}

function buildSettings(c, ui, name) {
  const questionId = uid('question');
  ui.resetStatus = el('p', { class: 'status', role: 'status' });
  ui.reset = el('button', { type: 'button', class: 'danger-outline' }, 'Reset access code');
  const yes = el('button', { type: 'button', class: 'danger' }, 'Yes, reset the code');
  const cancel = el('button', { type: 'button', class: 'secondary' }, 'Cancel');
  ui.confirm = el('div', { class: 'confirm', role: 'group', 'aria-labelledby': questionId, hidden: true },
    el('p', { id: questionId },
      `Reset the access code of ${name}? Everyone using its current link or embed code loses access.`),
    el('div', { class: 'buttons' }, yes, cancel));
  const ask = (asking) => {
    ui.confirm.hidden = !asking;
    ui.reset.hidden = asking;
    (asking ? cancel : ui.reset).focus();
  };
  ui.reset.addEventListener('click', () => ask(true));
  cancel.addEventListener('click', () => ask(false));
  yes.addEventListener('click', async () => {
    try {
      const app = await api('POST', `/apps/${seg(c.app.id)}/anonymous-access/reset-code`);
      if (cur !== c) return;
      c.app = app;
      c.changes++;
      c.onChange(app);
      ask(false);
      say(ui.resetStatus, app.anonymous_access
        ? 'The access code was reset: old links and embed codes no longer work. The new ones are shown above.'
        : 'The access code was reset: old links and embed codes will not work when sharing is turned on again.', 0);
      await update(c);
    } catch (err) {
      if (cur === c) report(err);
    }
  });
  return el('details', { class: 'settings' }, el('summary', {}, 'Settings'),
    el('p', { class: 'hint' },
      'Resetting the access code stops every link and embed code given out so far, and ends the sessions opened with them.'),
    ui.reset, ui.confirm, ui.resetStatus);
}

/**
 * What a link to app reaches, read-only and as the API has it: the entry
 * (with its query string), the pages and methods, the methods allowed on
 * some paths only, and the query parameters locked for every viewer.
 */
function opens(app) {
  const list = (items) => items.flatMap((item, i) => (i ? [', ', el('code', {}, item)] : [el('code', {}, item)]));
  const items = [
    el('li', {}, 'Opens at ', el('code', {}, app.entry)),
    el('li', {}, 'Covers ', list(app.scope || [])),
    el('li', {}, `Viewers may use ${(app.methods || []).join(', ')}`),
  ];
  for (const rule of app.allow || []) {
    items.push(el('li', {}, `Also ${rule.methods.join(', ')} on `, list(rule.paths)));
  }
  for (const [name, value] of Object.entries(app.params || {})) {
    items.push(el('li', {}, 'Locked filter: ', el('code', {}, name), ' = ', el('code', {}, value)));
  }
  return items;
}

/** Shows the parts that apply to the app's current state, and loads them. */
async function update(c) {
  const { app, ui, may } = c;
  ui.opens.replaceChildren(...opens(app));
  const on = app.anonymous_access;
  if (ui.toggle) ui.toggle.checked = on;
  if (may.toggle) ui.state.textContent = on ? '' : 'Turn on "Anyone with the link" to get a link and an embed code.';
  else if (on) ui.state.textContent = 'Anyone with the link can view this app now.';
  else ui.state.textContent = 'Sharing with anyone is off for this app: there is no link to copy.';
  ui.state.hidden = !ui.state.textContent;
  ui.linkPart.hidden = !(on && app.can.copy_link);
  if (ui.embedPart) ui.embedPart.hidden = !(on && app.can.copy_embed_code);
  if (ui.embedNote) ui.embedNote.hidden = !(on && app.can.copy_link);
  await Promise.all([loadLink(c), loadEmbed(c)]);
}

async function loadLink(c) {
  const { ui } = c;
  ui.link.value = '';
  if (ui.linkPart.hidden) return;
  const seq = (c.linkSeq = (c.linkSeq || 0) + 1);
  try {
    const { url } = await api('GET', `/apps/${seg(c.app.id)}/link`);
    if (cur === c && c.linkSeq === seq) ui.link.value = url;
  } catch (err) {
    if (cur === c) report(err);
  }
}

function loadEmbed(c) {
  const { ui } = c;
  if (!ui.embedPart) return Promise.resolve();
  ui.embed.value = '';
  alertRegion.textContent = '';
  if (ui.embedPart.hidden) return Promise.resolve();
  const q = new URLSearchParams();
  for (const [key, input] of [['object', ui.object], ['width', ui.width], ['height', ui.height]]) {
    if (input.value.trim()) q.set(key, input.value.trim());
  }
  const seq = (c.embedSeq = (c.embedSeq || 0) + 1);
  const query = q.toString() ? `?${q}` : '';
  c.embedLoading = api('GET', `/apps/${seg(c.app.id)}/embed-code${query}`).then(({ html }) => {
    if (cur === c && c.embedSeq === seq) ui.embed.value = html;
  }, (err) => {
    if (cur === c) report(err);
  });
  return c.embedLoading;
}

async function toggle(c) {
  const sw = c.ui.toggle;
  const want = sw.checked;
  // The switch stays enabled (disabling it would drop keyboard focus);
  // a change while the last one is on its way is undone instead.
  if (c.busy) {
    sw.checked = !want;
    return;
  }
  c.busy = true;
  sw.setAttribute('aria-busy', 'true');
  alertRegion.textContent = '';
  try {
    const app = await api('PUT', `/apps/${seg(c.app.id)}/anonymous-access`, { enabled: want });
    if (cur !== c) return;
    c.app = app;
    c.changes++;
    c.onChange(app);
    say(c.ui.toggleStatus, want ? 'Sharing is on.'
      : 'Sharing is off: the link and embed code stop working and open sessions end.', 0);
    await update(c);
  } catch (err) {
    if (cur === c) {
      sw.checked = !want;
      report(err);
    }
  } finally {
    c.busy = false;
    sw.removeAttribute('aria-busy');
  }
}

/**
 * Copies a field's text: with the Clipboard API where the browser allows
 * it, else by selecting the text for the user (and trying the old copy
 * command), saying which happened.
 */
async function copy(control, status, pending) {
  if (pending) await pending;
  if (!control.value) return;
  let copied = false;
  try {
    await navigator.clipboard.writeText(control.value);
    copied = true;
  } catch {
    // Not a secure context, or permission refused: fall back below.
  }
  if (!copied) {
    control.focus();
    control.select();
    try {
      copied = document.execCommand('copy');
    } catch {
      copied = false;
    }
  }
  say(status, copied ? 'Copied' : 'Selected: press Ctrl+C to copy');
}
