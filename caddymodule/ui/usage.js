// Capacity and usage (tenant and analytics admins), with a chart of the
// last hour's active sessions, and the audit log (tenant admins).

import { api, el, report } from './api.js';

const minute = 60 * 1000;
const auditPage = 20;

/** Appends the capacity part to view and loads it. */
export async function capacitySection(view) {
  const body = el('div', {}, el('p', { class: 'muted' }, 'Loading…'));
  const refresh = el('button', { type: 'button', class: 'secondary' }, 'Refresh');
  const load = async () => {
    try {
      body.replaceChildren(...capacityParts(await api('GET', '/capacity')));
    } catch (err) {
      report(err);
    }
  };
  refresh.addEventListener('click', load);
  view.append(el('section', { class: 'card', id: 'capacity', 'aria-labelledby': 'capacity-title' },
    el('div', { class: 'card-head' }, el('h2', { id: 'capacity-title' }, 'Capacity and usage'), refresh),
    body));
  await load();
}

function capacityParts(rep) {
  const stat = (label, value) => el('div', { class: 'stat' }, el('dt', {}, label), el('dd', {}, String(value)));
  const perApp = Object.entries(rep.per_app || {}).sort(([a], [b]) => a.localeCompare(b));
  return [
    el('dl', { class: 'stats' },
      stat('Capacity', rep.capacity), stat('Active now', rep.active), stat('Peak', rep.peak)),
    el('p', { class: 'muted' }, perApp.length
      ? `Active by app: ${perApp.map(([app, n]) => `${app} ${n}`).join(', ')}`
      : 'No anonymous session is open now.'),
    el('figure', { class: 'chart-figure' },
      chart(rep.history || [], rep.active),
      el('figcaption', { class: 'muted small' }, 'Active anonymous sessions, each minute of the last hour')),
  ];
}

/**
 * Draws the history as an SVG line chart. The points are minutes of the
 * last hour, newest last; the newest is the current minute, so the chart
 * is placed on the gateway's clock, not the browser's.
 */
function chart(history, active) {
  const W = 640;
  const H = 200;
  const pad = { left: 40, right: 16, top: 14, bottom: 30 };
  const times = history.map((p) => Date.parse(p.time));
  const end = times.length ? times[times.length - 1] : Date.now();
  const start = end - 59 * minute;
  const highest = Math.max(0, ...history.map((p) => p.active));
  const top = Math.max(1, highest);
  const x = (t) => pad.left + ((t - start) / (59 * minute)) * (W - pad.left - pad.right);
  const y = (v) => pad.top + (1 - v / top) * (H - pad.top - pad.bottom);
  const label = `Active anonymous sessions over the last hour: ${history.length} of 60 minutes recorded, ` +
    `highest ${highest}, now ${active}.`;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': label });
  for (const v of top > 1 ? [0, Math.round(top / 2), top] : [0, top]) {
    svg.append(
      el('line', { class: 'grid', x1: pad.left, x2: W - pad.right, y1: y(v), y2: y(v) }),
      el('text', { class: 'axis', x: pad.left - 8, y: y(v) + 4, 'text-anchor': 'end' }, String(v)));
  }
  for (const [t, text, anchor] of [[start, '60 min ago', 'start'], [start + 30 * minute, '30 min ago', 'middle'], [end, 'now', 'end']]) {
    svg.append(el('text', { class: 'axis', x: x(t), y: H - 8, 'text-anchor': anchor }, text));
  }
  const points = history.map((p, i) => `${x(times[i]).toFixed(1)},${y(p.active).toFixed(1)}`);
  if (points.length > 1) svg.append(el('polyline', { class: 'line', points: points.join(' ') }));
  history.forEach((p, i) => svg.append(el('circle', { class: 'dot', cx: x(times[i]), cy: y(p.active), r: 3.5 })));
  return svg;
}

/** Appends the audit log part to view and loads its first page. */
export async function auditSection(view) {
  const rows = el('tbody');
  const empty = el('p', { class: 'muted', hidden: true }, 'No change has been recorded yet.');
  const older = el('button', { type: 'button', class: 'secondary', hidden: true }, 'Older');
  let before = 0;
  const load = async () => {
    try {
      const q = before ? `&before=${before}` : '';
      const page = await api('GET', `/audit?limit=${auditPage}${q}`);
      rows.append(...page.entries.map(auditRow));
      empty.hidden = rows.children.length > 0;
      before = page.next_before || 0;
      older.hidden = !before;
    } catch (err) {
      report(err);
    }
  };
  older.addEventListener('click', load);
  view.append(el('section', { class: 'card', id: 'audit', 'aria-labelledby': 'audit-title' },
    el('h2', { id: 'audit-title' }, 'Audit log'),
    el('p', { class: 'hint' }, 'Every change to roles, spaces, members and sharing, newest first. Never a code or token.'),
    el('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-labelledby': 'audit-title' },
      el('table', {},
        el('thead', {}, el('tr', {}, ['Time', 'Who', 'Action', 'Details', 'From'].map((h) => el('th', { scope: 'col' }, h)))),
        rows)),
    empty, older));
  await load();
}

function auditRow(e) {
  const when = new Date(e.time);
  const details = ['space', 'app', 'user', 'role', 'value']
    .filter((k) => e[k]).map((k) => `${k} ${e[k]}`).join(' · ');
  return el('tr', {},
    el('td', {}, el('time', { datetime: e.time }, when.toLocaleString())),
    el('td', {}, e.actor),
    el('td', {}, e.label),
    el('td', {}, details),
    el('td', {}, e.from || ''));
}
