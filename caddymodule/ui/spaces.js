// The views of spaces: #/apps lists the caller's spaces, each with its
// apps and a Share button per app that opens the sharing dialog; and
// #/spaces/<id> shows a space's members, including, for owners and
// managers, "Anonymous access" with the apps anyone with a link can reach
// now, each of which they can turn off. Owners and managers also add and
// remove members there.

import { api, el, seg, field, options, say, report, spaceRoles, appName } from './api.js';
import { openShare } from './share.js';

const spaceTypes = {
  managed: 'Managed space',
  shared: 'Shared space',
  personal: 'Personal space',
};

/** Renders the caller's spaces and their apps into view. */
export async function renderApps(view) {
  const heading = el('h1', { tabindex: '-1' }, 'Apps');
  const intro = el('p', { class: 'lead' },
    'Share an app with anyone who has its link, copy its link or embed code, or reset its access code.');
  view.append(heading, intro);
  const spaces = await api('GET', '/spaces');
  if (!spaces.length) {
    view.append(el('p', { class: 'card' },
      'You are not a member of any space yet. Ask the owner of a space to add you.'));
    return;
  }
  for (const space of spaces) view.append(spaceCard(space));
}

function spaceCard(space) {
  const headingId = `space-${space.id}`;
  const role = space.role ? `your role: ${spaceRoles[space.role] || space.role}` : 'you are not a member (tenant admin)';
  return el('section', { class: 'card', 'aria-labelledby': headingId },
    el('div', { class: 'card-head' },
      el('h2', { id: headingId }, space.name || space.id),
      el('a', { class: 'button-link secondary', href: `#/spaces/${seg(space.id)}` },
        'Members', el('span', { class: 'visually-hidden' }, ` of ${space.name || space.id}`))),
    el('p', { class: 'muted' }, `${spaceTypes[space.type] || space.type} · ${role}`),
    space.type === 'managed' ? null
      : el('p', { class: 'hint' }, 'Only apps in a managed space can be shared with anyone.'),
    space.apps?.length
      ? el('ul', { class: 'rows', 'aria-label': `Apps in ${space.name || space.id}` },
        space.apps.map((app) => appRow(app, space)))
      : el('p', { class: 'muted' }, 'No apps in this space yet.'));
}

function appRow(app, space) {
  const state = el('span', {});
  const setState = (a) => {
    state.className = a.anonymous_access ? 'badge on' : 'badge off';
    state.textContent = a.anonymous_access ? 'Anyone with the link' : 'Members only';
  };
  setState(app);
  // The visible text is "Share"; the accessible name says which app, and
  // starts with the visible text so voice control users can say it.
  const share = el('button', { type: 'button', class: 'share', 'aria-label': `Share ${appName(app)}`, 'data-app': app.id },
    'Share');
  share.addEventListener('click', () => openShare(app, space, share, (updated) => {
    Object.assign(app, updated);
    setState(updated);
  }));
  return el('li', { class: 'row' },
    el('div', { class: 'row-main' },
      el('span', { class: 'row-title' }, appName(app)),
      el('span', { class: 'muted small' }, el('code', {}, app.entry))),
    el('div', { class: 'row-actions' }, state, share));
}

// ---------------------------------------------------------------------------
// The space view

// The owner is set when a space is created and cannot be assigned.
const assignable = Object.keys(spaceRoles).filter((role) => role !== 'owner');

/** Renders the space spaceId and its members into view. */
export async function renderSpace(view, spaceId) {
  const [spaces, members] = await Promise.all([
    api('GET', '/spaces'),
    api('GET', `/spaces/${seg(spaceId)}/members`),
  ]);
  const space = spaces.find((s) => s.id === spaceId) || { id: spaceId, name: spaceId };
  // The view leaves out what the API says would be refused.
  const can = space.can || {};
  const ctx = { space, manages: Boolean(can.manage_members), mayShare: Boolean(can.set_anonymous_access) };

  ctx.status = el('p', { class: 'status', role: 'status' });
  ctx.listHeading = el('h2', { tabindex: '-1' }, 'Members');
  ctx.list = el('ul', { class: 'rows', 'aria-label': `Members of ${space.name || space.id}` });
  view.append(
    el('p', { class: 'crumbs' }, el('a', { href: '#/apps' }, 'All apps')),
    el('h1', { tabindex: '-1' }, space.name || space.id),
    el('p', { class: 'muted' }, space.role ? `Your role: ${spaceRoles[space.role] || space.role}` : 'You are not a member of this space.'),
    ctx.status,
    el('section', { class: 'card' }, ctx.listHeading, ctx.list));
  fill(ctx, members);
  if (ctx.manages) view.append(addForm(ctx));
}

async function reload(ctx, message) {
  const members = await api('GET', `/spaces/${seg(ctx.space.id)}/members`);
  fill(ctx, members);
  say(ctx.status, message, 0);
}

/** Runs a change, then reloads the list and says what happened. */
async function change(ctx, call, message) {
  try {
    await call();
    await reload(ctx, message);
    // The button pressed may be gone: keep focus near where it was.
    if (!document.activeElement || document.activeElement === document.body) ctx.listHeading.focus();
  } catch (err) {
    report(err);
  }
}

function fill(ctx, members) {
  ctx.list.replaceChildren(...members.map((m) => (m.type === 'anonymous' ? anonymousRow(ctx, m) : userRow(ctx, m))));
}

function userRow(ctx, m) {
  const remove = ctx.manages && m.role !== 'owner'
    ? el('button', { type: 'button', class: 'secondary', 'aria-label': `Remove ${m.user}` }, 'Remove')
    : null;
  remove?.addEventListener('click', () => change(ctx,
    () => api('DELETE', `/spaces/${seg(ctx.space.id)}/members/${seg(m.user)}`),
    `${m.user} was removed from the space.`));
  return el('li', { class: 'row' },
    el('div', { class: 'row-main' },
      el('span', { class: 'row-title' }, m.user),
      el('span', { class: 'muted small' }, spaceRoles[m.role] || m.role)),
    remove ? el('div', { class: 'row-actions' }, remove) : null);
}

function anonymousRow(ctx, m) {
  const apps = m.apps || [];
  const items = apps.map((app) => {
    const off = ctx.mayShare
      ? el('button', { type: 'button', class: 'secondary', 'aria-label': `Turn off ${appName(app)}` }, 'Turn off')
      : null;
    off?.addEventListener('click', () => change(ctx,
      () => api('PUT', `/apps/${seg(app.id)}/anonymous-access`, { enabled: false }),
      `Anonymous access to ${appName(app)} is off: its link and embed code stop working.`));
    return el('li', { class: 'subrow' },
      el('span', {}, appName(app), ' ', el('code', { class: 'muted small' }, app.entry)), off);
  });
  let note = null;
  if (!apps.length) note = 'No app of this space can be opened with a link now.';
  else if (!ctx.mayShare) note = 'Turning these off needs the Public link creation permission.';
  return el('li', { class: 'row anonymous' },
    el('div', { class: 'row-main' },
      el('span', { class: 'row-title' }, m.name || 'Anonymous access'),
      el('span', { class: 'muted small' }, 'Anyone with the link of these apps'),
      items.length ? el('ul', { class: 'subrows', 'aria-label': 'Apps open to anyone with the link' }, items) : null,
      note ? el('p', { class: 'hint' }, note) : null));
}

function addForm(ctx) {
  const user = el('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', required: true });
  const role = el('select', {}, options(assignable.map((r) => [r, spaceRoles[r]]), 'can_view'));
  const headingId = `add-member-${ctx.space.id}`;
  const form = el('form', { class: 'card', 'aria-labelledby': headingId, novalidate: true },
    el('h2', { id: headingId }, 'Add or change a member'),
    el('div', { class: 'grid2' },
      field('User id', user, 'As your identity provider names them.'),
      field('Space role', role)),
    el('button', { type: 'submit' }, 'Add member'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const id = user.value.trim();
    if (!id) {
      report(new Error('Enter the user id of the member to add.'));
      user.focus();
      return;
    }
    change(ctx, async () => {
      await api('PUT', `/spaces/${seg(ctx.space.id)}/members/${seg(id)}`, { role: role.value });
      user.value = '';
    }, `${id} is now a member: ${spaceRoles[role.value]}.`);
  });
  return form;
}
