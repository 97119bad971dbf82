// The administration view (#/admin): Public link creation on User Default
// and custom roles, creating roles, assigning roles to users (tenant
// admins), then capacity and usage and the audit log (usage.js). Each part
// shows only when the caller's permissions allow it.

import { api, el, seg, field, options, say, report, uid } from './api.js';
import { capacitySection, auditSection } from './usage.js';

const grants = [['allowed', 'Allowed'], ['denied', 'Denied']];
const userDefault = 'User Default';

/** Renders what the caller may administer into view. */
export async function renderAdmin(view, me) {
  const p = me.permissions || {};
  view.append(el('h1', { tabindex: '-1' }, 'Administration'));
  if (!(p.manage_roles || p.view_capacity || p.view_audit)) {
    view.append(el('p', { class: 'card' },
      'Administration is for tenant admins and analytics admins. Ask a tenant admin if you need it.'));
    return;
  }
  const loads = [];
  if (p.manage_roles) loads.push(rolesSection(view));
  if (p.view_capacity) loads.push(capacitySection(view));
  if (p.view_audit) loads.push(auditSection(view));
  await Promise.all(loads);
}

/** The roles part: the permission table, a new role, role assignment. */
async function rolesSection(view) {
  const ctx = { status: el('p', { class: 'status', role: 'status' }) };
  ctx.table = el('tbody');
  ctx.assignBoxes = el('div', { class: 'checks' });
  view.append(
    el('section', { class: 'card', 'aria-labelledby': 'plc-title' },
      el('h2', { id: 'plc-title' }, 'Public link creation'),
      el('p', { class: 'hint' },
        'Who may share apps with anyone who has a link. Denied by default, for everyone, admins included; ' +
        'a user has it when User Default or any of their custom roles allows it.'),
      el('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'plc-title' },
        el('table', {},
          el('thead', {}, el('tr', {},
            el('th', { scope: 'col' }, 'Role'), el('th', { scope: 'col' }, 'Description'),
            el('th', { scope: 'col' }, 'Public link creation'), el('th', { scope: 'col' }, 'Users'))),
          ctx.table)),
      ctx.status),
    createRoleForm(ctx),
    assignForm(ctx));
  await loadRoles(ctx);
}

async function loadRoles(ctx) {
  ctx.roles = await api('GET', '/roles');
  ctx.table.replaceChildren(...ctx.roles.map((role) => roleRow(ctx, role)));
  const assignable = ctx.roles.filter((r) => r.name !== userDefault);
  ctx.assignBoxes.replaceChildren(...assignable.map((r) => {
    const box = el('input', { type: 'checkbox', value: r.name, id: uid('role') });
    return el('div', { class: 'check' }, box, el('label', { for: box.id }, r.name));
  }));
  ctx.prefill?.();
}

function roleRow(ctx, role) {
  let grant = el('span', { class: 'muted' }, 'Does not carry it');
  if (role.public_link_creation) {
    const select = el('select', { id: uid('grant') }, options(grants, role.public_link_creation));
    select.addEventListener('change', () => setGrant(ctx, role, select));
    grant = el('div', {},
      el('label', { for: select.id, class: 'visually-hidden' }, `Public link creation for ${role.name}`), select);
  }
  const users = [...role.users, ...(role.configured_users || []).map((u) => `${u} (configuration)`)];
  return el('tr', {},
    el('th', { scope: 'row' }, role.name),
    el('td', {}, role.description || ''),
    el('td', {}, grant),
    el('td', {}, role.name === userDefault ? 'Everyone' : users.join(', ') || 'Nobody'));
}

async function setGrant(ctx, role, select) {
  const value = select.value;
  try {
    if (role.name === userDefault) {
      await api('PUT', '/roles/user-default', { public_link_creation: value });
    } else {
      // PUT /roles/{role} replaces the description too: send it back as is.
      await api('PUT', `/roles/${seg(role.name)}`, { description: role.description, public_link_creation: value });
    }
    role.public_link_creation = value;
    say(ctx.status, `Saved: Public link creation is ${value === 'allowed' ? 'Allowed' : 'Denied'} for ${role.name}.`, 0);
  } catch (err) {
    select.value = role.public_link_creation;
    report(err);
  }
}

function createRoleForm(ctx) {
  const name = el('input', { type: 'text', autocomplete: 'off', maxlength: '64' });
  const description = el('input', { type: 'text', autocomplete: 'off' });
  const grant = el('select', {}, options(grants, 'denied'));
  const status = el('p', { class: 'status', role: 'status' });
  const form = el('form', { class: 'card', 'aria-labelledby': 'create-role-title', novalidate: true },
    el('h2', { id: 'create-role-title' }, 'Create a role'),
    el('div', { class: 'grid3' },
      field('Name', name, 'Letters, digits, spaces, . - _'),
      field('Description', description),
      field('Public link creation', grant)),
    el('button', { type: 'submit' }, 'Create role'), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const role = name.value.trim();
    try {
      await api('POST', '/roles', { name: role, description: description.value.trim(), public_link_creation: grant.value });
      name.value = '';
      description.value = '';
      await loadRoles(ctx);
      say(status, `Role ${role} created.`, 0);
    } catch (err) {
      report(err);
    }
  });
  return form;
}

function assignForm(ctx) {
  const user = el('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const status = el('p', { class: 'status', role: 'status' });
  // There is no GET for one user's roles: the roles list names each
  // role's users, which is enough to show what the user has now, so that
  // saving (which replaces the whole set) keeps what was not changed.
  ctx.prefill = () => {
    const id = user.value.trim();
    for (const box of ctx.assignBoxes.querySelectorAll('input')) {
      const role = ctx.roles?.find((r) => r.name === box.value);
      box.checked = Boolean(id && role?.users.includes(id));
    }
  };
  user.addEventListener('input', ctx.prefill);
  const form = el('form', { class: 'card', 'aria-labelledby': 'assign-title', novalidate: true },
    el('h2', { id: 'assign-title' }, 'Assign roles to a user'),
    field('User id', user, 'The boxes show the roles the user has now; saving replaces them.'),
    el('fieldset', {}, el('legend', {}, 'Roles'), ctx.assignBoxes),
    el('p', { class: 'hint' }, 'Admins named in the gateway configuration stay admins whatever is assigned here.'),
    el('button', { type: 'submit' }, 'Save roles'), status);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = user.value.trim();
    if (!id) {
      report(new Error('Enter the user id whose roles to set.'));
      user.focus();
      return;
    }
    const roles = [...ctx.assignBoxes.querySelectorAll('input:checked')].map((box) => box.value);
    try {
      await api('PUT', `/users/${seg(id)}/roles`, { roles });
      await loadRoles(ctx);
      say(status, `Saved: ${id} has ${roles.length ? roles.join(', ') : 'no assigned roles'}.`, 0);
    } catch (err) {
      report(err);
    }
  });
  return form;
}
