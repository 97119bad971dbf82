/* Market trends demo chart: plain JavaScript, no libraries, no inline code.
 * Fetches /data/market.json, draws a HiDPI-aware line chart on <canvas id="chart">,
 * builds the legend and the "latest values" table. Series colours come from CSS
 * custom properties (--series-0, --series-1, ...) so no inline styles are needed. */
(function () {
  'use strict';

  var DATA_URL = '/data/market.json';
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  var data = null;

  function $(id) { return document.getElementById(id); }

  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function seriesColor(i) {
    return cssVar('--series-' + (i % 6), ['#1f6feb', '#c2410c', '#15803d'][i % 3]);
  }

  function monthLabel(m, short) {
    var parts = String(m).split('-');
    if (parts.length !== 2) return String(m);
    var name = MONTHS[parseInt(parts[1], 10) - 1] || parts[1];
    return short ? name : name + ' ' + parts[0];
  }

  function fmt(n) { return n.toFixed(1); }
  function fmtPct(n) { return (n > 0 ? '+' : n < 0 ? '\u2212' : '') + Math.abs(n).toFixed(1) + '%'; }

  function showStatus(message) {
    var el = $('status');
    el.textContent = message;
    el.hidden = false;
  }

  /* Pick "nice" tick values covering [min, max]. */
  function niceTicks(min, max, count) {
    if (min === max) { min -= 1; max += 1; }
    var raw = (max - min) / count;
    var mag = Math.pow(10, Math.floor(Math.log10(raw)));
    var norm = raw / mag;
    var step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
    var lo = Math.floor(min / step) * step;
    var hi = Math.ceil(max / step) * step;
    var ticks = [];
    for (var v = lo; v <= hi + step / 2; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
    return ticks;
  }

  function draw() {
    var canvas = $('chart');
    if (!canvas || !data) return;
    var rect = canvas.getBoundingClientRect();
    var w = Math.max(rect.width, 1);
    var h = Math.max(rect.height, 1);
    var dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);

    var ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);

    var text = cssVar('--text-muted', '#4b5563');
    var grid = cssVar('--grid', '#e5e7eb');
    var axis = cssVar('--axis', '#6b7280');
    var font = getComputedStyle(canvas).fontFamily || 'sans-serif';
    var small = w < 500;
    ctx.font = (small ? 11 : 12) + 'px ' + font;

    var months = data.months;
    var all = [];
    data.series.forEach(function (s) { all = all.concat(s.values); });
    var ticks = niceTicks(Math.min.apply(null, all), Math.max.apply(null, all), small ? 4 : 6);
    var yMin = ticks[0], yMax = ticks[ticks.length - 1];

    var labelW = 0;
    ticks.forEach(function (t) { labelW = Math.max(labelW, ctx.measureText(String(t)).width); });
    var pad = { top: 24, right: 20, bottom: 40, left: labelW + 20 };
    var pw = w - pad.left - pad.right;
    var ph = h - pad.top - pad.bottom;
    if (pw <= 0 || ph <= 0) return;

    function x(i) { return pad.left + (months.length > 1 ? i * pw / (months.length - 1) : pw / 2); }
    function y(v) { return pad.top + ph - (v - yMin) / (yMax - yMin) * ph; }

    // Horizontal grid lines and y labels.
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ticks.forEach(function (t) {
      var yy = Math.round(y(t)) + 0.5;
      ctx.strokeStyle = grid;
      ctx.beginPath(); ctx.moveTo(pad.left, yy); ctx.lineTo(pad.left + pw, yy); ctx.stroke();
      ctx.fillStyle = text;
      ctx.fillText(String(t), pad.left - 8, yy);
    });

    // Axes.
    ctx.strokeStyle = axis;
    ctx.beginPath();
    ctx.moveTo(pad.left + 0.5, pad.top);
    ctx.lineTo(pad.left + 0.5, pad.top + ph + 0.5);
    ctx.lineTo(pad.left + pw, pad.top + ph + 0.5);
    ctx.stroke();

    // X labels (thinned out on narrow screens).
    var every = Math.max(1, Math.ceil(months.length / Math.max(1, Math.floor(pw / 48))));
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    ctx.fillStyle = text;
    months.forEach(function (m, i) {
      if (i % every !== 0 && i !== months.length - 1) return;
      ctx.beginPath(); ctx.moveTo(x(i), pad.top + ph); ctx.lineTo(x(i), pad.top + ph + 4); ctx.stroke();
      ctx.fillText(monthLabel(m, true), x(i), pad.top + ph + 8);
    });

    // Unit label (top-left).
    ctx.textAlign = 'left';
    ctx.textBaseline = 'bottom';
    ctx.fillText(data.unit || '', 4, pad.top - 8);

    // Series lines and points.
    ctx.lineJoin = 'round';
    ctx.lineCap = 'round';
    data.series.forEach(function (s, si) {
      var color = seriesColor(si);
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = 2.5;
      ctx.beginPath();
      s.values.forEach(function (v, i) { if (i === 0) ctx.moveTo(x(i), y(v)); else ctx.lineTo(x(i), y(v)); });
      ctx.stroke();
      s.values.forEach(function (v, i) {
        ctx.beginPath(); ctx.arc(x(i), y(v), small ? 2.5 : 3, 0, Math.PI * 2); ctx.fill();
      });
    });
  }

  function buildLegend() {
    var legend = $('legend');
    legend.textContent = '';
    data.series.forEach(function (s, i) {
      var li = document.createElement('li');
      var sw = document.createElement('span');
      sw.className = 'swatch swatch-' + (i % 6);
      sw.setAttribute('aria-hidden', 'true');
      li.appendChild(sw);
      li.appendChild(document.createTextNode(s.name));
      legend.appendChild(li);
    });
  }

  function cell(tr, textValue, cls) {
    var td = document.createElement('td');
    td.textContent = textValue;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function buildTable() {
    var tbody = $('latest').tBodies[0];
    tbody.textContent = '';
    data.series.forEach(function (s, i) {
      var v = s.values, n = v.length;
      var tr = document.createElement('tr');
      var th = document.createElement('th');
      th.scope = 'row';
      var sw = document.createElement('span');
      sw.className = 'swatch swatch-' + (i % 6);
      sw.setAttribute('aria-hidden', 'true');
      th.appendChild(sw);
      th.appendChild(document.createTextNode(s.name));
      tr.appendChild(th);
      cell(tr, n ? fmt(v[n - 1]) : '\u2013', 'num');
      [n > 1 ? v[n - 2] : null, n > 1 ? v[0] : null].forEach(function (base) {
        if (base === null || base === 0) { cell(tr, '\u2013', 'num'); return; }
        var pct = (v[n - 1] - base) / base * 100;
        cell(tr, fmtPct(pct), 'num ' + (pct > 0 ? 'up' : pct < 0 ? 'down' : ''));
      });
      tbody.appendChild(tr);
    });
    var caption = $('latest').createCaption();
    caption.className = 'muted';
    caption.textContent = data.months.length ? 'As of ' + monthLabel(data.months[data.months.length - 1], false) : '';
  }

  function valid(d) {
    return d && Array.isArray(d.months) && Array.isArray(d.series) && d.series.every(function (s) {
      return s && typeof s.name === 'string' && Array.isArray(s.values) && s.values.length === d.months.length;
    });
  }

  function fail(message) {
    showStatus(message);
    var tbody = $('latest').tBodies[0];
    tbody.textContent = '';
    var tr = document.createElement('tr');
    cell(tr, 'No data available.', 'muted').colSpan = 4;
    tbody.appendChild(tr);
    document.body.classList.add('no-data');
  }

  function load() {
    fetch(DATA_URL, { credentials: 'same-origin', cache: 'no-store', headers: { Accept: 'application/json' } })
      .then(function (res) {
        if (res.status === 401 || res.status === 403) {
          var err = new Error('session'); err.session = true; throw err;
        }
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (d) {
        if (!valid(d)) throw new Error('unexpected data format');
        data = d;
        if (d.title) { $('dash-title').textContent = d.title; document.title = d.title; }
        buildLegend();
        buildTable();
        draw();
      })
      .catch(function (err) {
        if (err && err.session) {
          fail('Your session has ended. Please reload the page to continue viewing this dashboard.');
        } else {
          fail('The dashboard data could not be loaded (' + (err && err.message ? err.message : 'network error') +
               '). Your session may have ended \u2014 please reload the page.');
        }
      });
  }

  var resizeTimer = null;
  window.addEventListener('resize', function () {
    if (resizeTimer) cancelAnimationFrame(resizeTimer);
    resizeTimer = requestAnimationFrame(draw);
  });

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', load);
  else load();
})();
