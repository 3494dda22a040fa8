/* AkiDB dashboards: a small SVG charting module, inlined into every page (no CDN, works offline).
 *
 * Charts are declared by the page as JSON (<script type="application/json" id="dash-data">) and drawn into
 * <div class="chart" data-chart="ID"> placeholders when they become visible. Two kinds:
 *   line      regular time grid (t0, step, n): series (lines, null = gap), bands (shaded lower/upper), threshold
 *             lines, markers (points at t/v), spans (shaded time ranges), linear or log y axis, hover tooltip
 *   timeline  rows of [start, end) bars with point marks (incident timeline / gantt)
 * Every drawn chart sets data-points (points drawn) on its <svg>; errors are collected in window.__dashErrors
 * and reported on <html data-js-errors> and in the #js-errors banner.
 */
(function () {
  'use strict';
  var NS = 'http://www.w3.org/2000/svg';
  var PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7',
                 '#9c755f', '#8cd17d', '#499894', '#d37295', '#bab0ac', '#86bcb6'];
  var MIN = 60000, HOUR = 60 * MIN, DAY = 24 * HOUR;
  var TIME_STEPS = [MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
                    DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY];
  var MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  function svg(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function html(tag, cls, parent, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function fmtDay(t) { var d = new Date(t); return MONTHS[d.getUTCMonth()] + ' ' + d.getUTCDate(); }
  function fmtClock(t) { var d = new Date(t); return pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()); }
  function fmtOffset(t) {  // a duration in ms as +N min / +N h (relative timelines)
    var mnt = Math.round(t / MIN);
    return mnt === 0 ? '0' : mnt % 60 === 0 && mnt >= 120 ? '+' + mnt / 60 + ' h' : '+' + mnt + ' min';
  }
  function fmtStamp(t) { return fmtDay(t) + ' ' + fmtClock(t) + 'Z'; }

  function fmtNum(v, unit) {
    if (v === null || v === undefined || !isFinite(v)) return '–';
    var a = Math.abs(v);
    if (unit === 'pct') return (v * 100).toFixed(a < 0.001 ? 3 : a < 0.1 ? 2 : 1) + '%';
    if (unit === 'pct100') return v.toFixed(a < 10 ? 1 : 0) + '%';
    if (unit === 'x') return (a < 10 ? v.toFixed(a < 1 ? 2 : 1) : v.toFixed(0)) + '×';
    if (unit === 'h') return a >= 48 ? (v / 24).toFixed(1) + ' d' : v.toFixed(a < 10 ? 1 : 0) + ' h';
    var s;
    if (a >= 1e9) s = (v / 1e9).toFixed(1) + 'G';
    else if (a >= 1e6) s = (v / 1e6).toFixed(1) + 'M';
    else if (a >= 1e4) s = (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
    else if (a >= 100 || a === 0) s = v.toFixed(0);
    else if (a >= 10) s = v.toFixed(1);
    else if (a >= 1) s = v.toFixed(2);
    else s = v.toPrecision(2);
    return unit && unit !== 'num' ? s + ' ' + unit : s;
  }

  // axis labels: the same units without trailing zeros (1 ms, 10 ms, 0%, 2.5%)
  function fmtTick(v, unit) {
    return fmtNum(v, unit).replace(/(\.\d*?[1-9])0+(?=\D|$)/, '$1').replace(/\.0+(?=\D|$)/, '');
  }

  function niceStep(span, count) {
    var raw = span / Math.max(count, 1);
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
  }

  function timeTicks(t0, t1, maxTicks) {
    var step = TIME_STEPS[TIME_STEPS.length - 1];
    for (var i = 0; i < TIME_STEPS.length; i++) {
      if ((t1 - t0) / TIME_STEPS[i] <= maxTicks) { step = TIME_STEPS[i]; break; }
    }
    var out = [];
    for (var t = Math.ceil(t0 / step) * step; t <= t1; t += step) out.push(t);
    return {ticks: out, step: step};
  }

  function tickLabel(t, step) {
    if (step >= DAY || t % DAY === 0) return fmtDay(t);
    return fmtClock(t);
  }

  // y scale: linear (from min(0, lo) unless ymin given) or log10 (clamped at floor)
  function yScale(lo, hi, spec, top, bottom) {
    if (spec.ylog) {
      var floor = spec.ylog_floor || 0.1;
      var l0 = Math.log10(Math.max(floor, spec.ymin || floor)), l1 = Math.log10(Math.max(hi, floor * 10));
      l1 = Math.ceil(l1 * 2) / 2;
      var f = function (v) { return bottom - (Math.log10(Math.max(v, floor)) - l0) / (l1 - l0) * (bottom - top); };
      var ticks = [];
      if (spec.yticks) ticks = spec.yticks.filter(function (v) { return v >= Math.pow(10, l0) && v <= Math.pow(10, l1); });
      else for (var e = Math.ceil(l0); e <= Math.floor(l1); e++) ticks.push(Math.pow(10, e));
      return {f: f, ticks: ticks};
    }
    if (spec.ymin !== undefined && spec.ymin !== null) lo = spec.ymin; else lo = Math.min(0, lo);
    if (spec.ymax !== undefined && spec.ymax !== null) hi = spec.ymax;
    if (!(hi > lo)) hi = lo + 1;
    var st = niceStep(hi - lo, 4);
    var y0 = Math.floor(lo / st) * st, y1 = Math.ceil(hi / st) * st;
    var g = function (v) { return bottom - (v - y0) / (y1 - y0) * (bottom - top); };
    var ts = [];
    for (var v = y0; v <= y1 + st / 2; v += st) ts.push(Math.abs(v) < st / 1e6 ? 0 : v);
    return {f: g, ticks: ts};
  }

  function legend(box, items, onToggle) {
    if (!items.length) return;
    var lg = html('div', 'legend', box);
    items.forEach(function (it, i) {
      var b = html('span', 'legend-item', lg);
      var sw = html('i', 'swatch' + (it.kind ? ' ' + it.kind : ''), b);
      sw.style.borderColor = it.color;
      if (it.kind !== 'dash') sw.style.background = it.color;
      if (it.kind === 'band') sw.style.opacity = 0.45;
      html('span', '', b, it.label);
      if (onToggle && it.toggle !== false) {
        b.classList.add('toggle');
        b.title = 'show / hide';
        b.addEventListener('click', function () { b.classList.toggle('off'); onToggle(i, !b.classList.contains('off')); });
      }
    });
  }

  function drawLine(box, spec) {
    var W = Math.max(box.clientWidth || 0, 360), H = spec.height || 220;
    var m = {l: 62, r: 16, t: 10, b: 26};
    var t0 = spec.t0, step = spec.step, n = spec.n, t1 = t0 + step * Math.max(n - 1, 1);
    var series = spec.series || [], bands = spec.bands || [], thresholds = spec.thresholds || [];
    var markers = spec.markers || [], spans = spec.spans || [];
    var lo = Infinity, hi = -Infinity, points = 0;
    function see(v) { if (v !== null && isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; } }
    series.forEach(function (s) { s.values.forEach(see); });
    bands.forEach(function (b) { b.lower.forEach(see); b.upper.forEach(see); });
    markers.forEach(function (mk) { see(mk.v); });
    thresholds.forEach(function (th) { if (spec.thresholds_in_range !== false) see(th.value); });
    if (lo === Infinity) { lo = 0; hi = 1; }
    var X = function (t) { return m.l + (t - t0) / Math.max(t1 - t0, 1) * (W - m.l - m.r); };
    var ys = yScale(lo, hi, spec, m.t, H - m.b), Y = ys.f;
    var root = svg('svg', {width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, class: 'plot', role: 'img',
                           'aria-label': spec.title || ''}, box);
    // spans (shaded time ranges), then grid and axes
    spans.forEach(function (sp) {
      var x0 = Math.max(X(sp.start), m.l), x1 = Math.min(X(sp.end), W - m.r);
      if (x1 <= x0) x1 = x0 + 1;
      var r = svg('rect', {x: x0, y: m.t, width: x1 - x0, height: H - m.b - m.t, fill: sp.color || '#f4c7c3',
                           opacity: sp.opacity || 0.35, class: 'span'}, root);
      if (sp.label) svg('title', {}, r).textContent = sp.label;
    });
    var grid = svg('g', {class: 'grid'}, root);
    ys.ticks.forEach(function (v) {
      var y = Y(v);
      if (y < m.t - 1 || y > H - m.b + 1) return;
      svg('line', {x1: m.l, x2: W - m.r, y1: y, y2: y}, grid);
      svg('text', {x: m.l - 6, y: y + 4, 'text-anchor': 'end', class: 'tick'}, grid).textContent = fmtTick(v, spec.unit);
    });
    var tt = timeTicks(t0, t1, Math.max(2, Math.floor((W - m.l - m.r) / 80)));
    tt.ticks.forEach(function (t) {
      var x = X(t);
      svg('line', {x1: x, x2: x, y1: m.t, y2: H - m.b, class: t % DAY === 0 ? 'day' : ''}, grid);
      svg('text', {x: x, y: H - m.b + 16, 'text-anchor': 'middle', class: 'tick' + (t % DAY === 0 ? ' strong' : '')},
          grid).textContent = tickLabel(t, tt.step);
    });
    svg('line', {x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: 'axis'}, root);
    svg('line', {x1: m.l, x2: m.l, y1: m.t, y2: H - m.b, class: 'axis'}, root);
    var layers = [], items = [];
    // bands: one closed path per run of defined points
    bands.forEach(function (b, bi) {
      var color = b.color || PALETTE[(bi + 5) % PALETTE.length];
      var d = '', i = 0;
      while (i < n) {
        while (i < n && (b.lower[i] === null || b.upper[i] === null)) i++;
        var j = i;
        while (j < n && b.lower[j] !== null && b.upper[j] !== null) j++;
        if (j > i) {
          var up = [], dn = [];
          for (var k = i; k < j; k++) {
            up.push(X(t0 + k * step).toFixed(1) + ',' + Y(b.upper[k]).toFixed(1));
            dn.push(X(t0 + k * step).toFixed(1) + ',' + Y(b.lower[k]).toFixed(1));
          }
          d += 'M' + up.join('L') + 'L' + dn.reverse().join('L') + 'Z';
          points += j - i;
        }
        i = j;
      }
      var p = svg('path', {d: d, fill: color, opacity: 0.3, stroke: 'none', class: 'band'}, root);
      layers.push([p]);
      items.push({label: b.name, color: color, kind: 'band'});
    });
    thresholds.forEach(function (th) {
      var y = Y(th.value);
      if (y < m.t - 1 || y > H - m.b + 1) return;
      svg('line', {x1: m.l, x2: W - m.r, y1: y, y2: y, stroke: th.color || '#d62728', 'stroke-dasharray': '6 4',
                   'stroke-width': 1.3, class: 'threshold'}, root);
      svg('text', {x: W - m.r - 4, y: y - 4, 'text-anchor': 'end', class: 'threshold-label', fill: th.color || '#d62728'},
          root).textContent = th.label || fmtNum(th.value, spec.unit);
    });
    var lines = [];
    series.forEach(function (s, si) {
      var color = s.color || PALETTE[si % PALETTE.length];
      var d = '', pen = false, count = 0;
      for (var i = 0; i < n; i++) {
        var v = s.values[i];
        if (v === null || !isFinite(v)) { pen = false; continue; }
        d += (pen ? 'L' : 'M') + X(t0 + i * step).toFixed(1) + ',' + Y(v).toFixed(1);
        var next = i + 1 < n ? s.values[i + 1] : null;
        if (!pen && (next === null || !isFinite(next))) d += 'l1.5,0';  // an isolated point: a dot, not nothing
        pen = true;
        count++;
      }
      var p = svg('path', {d: d, fill: 'none', stroke: color, 'stroke-width': s.width || 1.4,
                           'stroke-dasharray': s.dash ? '5 3' : null, 'stroke-linejoin': 'round', 'stroke-linecap': 'round',
                           class: 'series', 'data-points': count, 'data-series': s.name}, root);
      points += count;
      lines.push({s: s, color: color, path: p});
      layers.push([p]);
      items.push({label: s.name, color: color, kind: s.dash ? 'dash' : 'line'});
    });
    var mk = svg('g', {class: 'markers'}, root);
    markers.forEach(function (o) {
      if (o.t < t0 - step || o.t > t1 + step || o.v === null) return;
      var c = svg('circle', {cx: X(o.t), cy: Y(o.v), r: o.r || 4, fill: o.color || '#d62728', stroke: '#fff',
                             'stroke-width': 1.2, class: 'marker'}, mk);
      svg('title', {}, c).textContent = fmtStamp(o.t) + (o.label ? '  ' + o.label : '') + '  ' + fmtNum(o.v, spec.unit);
      points++;
    });
    if (markers.length) {
      layers.push([mk]);
      items.push({label: spec.markers_label || 'flagged', color: '#d62728', kind: 'dot'});
    }
    root.setAttribute('data-points', points);
    root.setAttribute('data-series', series.length);
    legend(box, items, function (i, on) { layers[i].forEach(function (e) { e.style.display = on ? '' : 'none'; }); });
    // hover: a crosshair and the values of every series at the nearest grid point
    var cross = svg('line', {y1: m.t, y2: H - m.b, class: 'cross', visibility: 'hidden'}, root);
    var tip = html('div', 'tip', box);
    tip.hidden = true;
    var hit = svg('rect', {x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, fill: 'transparent'}, root);
    hit.addEventListener('mousemove', function (ev) {
      var r = root.getBoundingClientRect();
      var x = ev.clientX - r.left;
      var i = Math.round((x - m.l) / Math.max(W - m.l - m.r, 1) * Math.max(n - 1, 1));
      i = Math.max(0, Math.min(n - 1, i));
      var t = t0 + i * step;
      cross.setAttribute('x1', X(t)); cross.setAttribute('x2', X(t)); cross.setAttribute('visibility', 'visible');
      var rows = ['<b>' + fmtStamp(t) + '</b>'];
      bands.forEach(function (b) {
        if (b.lower[i] !== null) rows.push(esc(b.name) + ': ' + fmtNum(b.lower[i], spec.unit) + ' – ' + fmtNum(b.upper[i], spec.unit));
      });
      lines.forEach(function (l) {
        rows.push('<i style="background:' + l.color + '"></i>' + esc(l.s.name) + ': ' + fmtNum(l.s.values[i], spec.unit));
      });
      tip.innerHTML = rows.join('<br>');
      tip.hidden = false;
      var left = X(t) + 14;
      if (left + 240 > W) left = X(t) - 250;
      tip.style.left = left + 'px';
      tip.style.top = (m.t + 4) + 'px';
    });
    hit.addEventListener('mouseleave', function () { tip.hidden = true; cross.setAttribute('visibility', 'hidden'); });
    return points;
  }

  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) { return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]; });
  }

  function drawTimeline(box, spec) {
    var rows = spec.rows || [];
    var W = Math.max(box.clientWidth || 0, 360), rowH = 22, labelW = Math.min(300, Math.max(160, W * 0.26));
    var m = {l: labelW, r: 16, t: 8, b: 26};
    var H = m.t + m.b + rowH * Math.max(rows.length, 1);
    var t0 = spec.t0, t1 = Math.max(spec.t1, spec.t0 + HOUR);
    var X = function (t) { return m.l + (t - t0) / (t1 - t0) * (W - m.l - m.r); };
    var root = svg('svg', {width: W, height: H, viewBox: '0 0 ' + W + ' ' + H, class: 'plot timeline', role: 'img',
                           'aria-label': spec.title || ''}, box);
    var grid = svg('g', {class: 'grid'}, root);
    var tt = timeTicks(t0, t1, Math.max(2, Math.floor((W - m.l - m.r) / 80)));
    tt.ticks.forEach(function (t) {
      var x = X(t), strong = !spec.relative && t % DAY === 0;
      svg('line', {x1: x, x2: x, y1: m.t, y2: H - m.b, class: strong ? 'day' : ''}, grid);
      svg('text', {x: x, y: H - m.b + 16, 'text-anchor': 'middle', class: 'tick' + (strong ? ' strong' : '')},
          grid).textContent = spec.relative ? fmtOffset(t) : tickLabel(t, tt.step);
    });
    svg('line', {x1: m.l, x2: W - m.r, y1: H - m.b, y2: H - m.b, class: 'axis'}, root);
    var points = 0;
    rows.forEach(function (r, i) {
      var y = m.t + i * rowH;
      if (i % 2) svg('rect', {x: 0, y: y, width: W, height: rowH, class: 'stripe'}, root);
      var lab = svg('text', {x: 6, y: y + rowH / 2 + 4, class: 'row-label'}, root);
      lab.textContent = r.label.length > 44 ? r.label.slice(0, 43) + '…' : r.label;
      svg('title', {}, lab).textContent = r.label;
      var x0 = X(r.start), x1 = X(r.end === null || r.end === undefined ? t1 : r.end);
      var bar = svg('rect', {x: x0, y: y + 4, width: Math.max(x1 - x0, 3), height: rowH - 8, rx: 3,
                             fill: r.color || PALETTE[0], class: 'bar' + (r.end === null ? ' open' : '')}, root);
      svg('title', {}, bar).textContent = r.tip || r.label;
      points++;
      (r.marks || []).forEach(function (mk) {
        var x = X(mk.t), cy = y + rowH / 2, s;
        if (mk.shape === 'diamond') {
          s = svg('path', {d: 'M' + x + ',' + (cy - 6) + 'L' + (x + 6) + ',' + cy + 'L' + x + ',' + (cy + 6) + 'L' +
                           (x - 6) + ',' + cy + 'Z', class: 'mark', fill: mk.color || '#222'}, root);
        } else if (mk.shape === 'tick') {
          s = svg('rect', {x: x - 1.5, y: y + 2, width: 3, height: rowH - 4, class: 'mark', fill: mk.color || '#222'}, root);
        } else {
          s = svg('circle', {cx: x, cy: cy, r: 4, class: 'mark', fill: mk.color || '#222'}, root);
        }
        svg('title', {}, s).textContent = (mk.label || '') + ' ' + (spec.relative ? fmtOffset(mk.t) : fmtStamp(mk.t));
        points++;
      });
    });
    root.setAttribute('data-points', points);
    root.setAttribute('data-series', rows.length);
    legend(box, spec.legend || [], null);
    return points;
  }

  function draw(box, spec) {
    box.innerHTML = '';
    if (spec.title) html('div', 'chart-title', box, spec.title);
    if (spec.note) html('div', 'chart-note', box, spec.note);
    var inner = html('div', 'chart-body', box);
    var n = spec.type === 'timeline' ? drawTimeline(inner, spec) : drawLine(inner, spec);
    box.setAttribute('data-drawn', 'true');
    box.setAttribute('data-points', n);
    return n;
  }

  function report(msg) {
    window.__dashErrors = window.__dashErrors || [];
    window.__dashErrors.push(msg);
    document.documentElement.setAttribute('data-js-errors', window.__dashErrors.length);
    var b = document.getElementById('js-errors');
    if (b) { b.hidden = false; b.textContent = 'Chart errors: ' + window.__dashErrors.join(' | '); }
  }

  var specs = null;
  function drawVisible(scope) {
    var boxes = (scope || document).querySelectorAll('.chart[data-chart]:not([data-drawn])');
    var drawn = 0;
    for (var i = 0; i < boxes.length; i++) {
      var box = boxes[i];
      if (box.closest('[hidden]')) continue;
      var spec = specs[box.getAttribute('data-chart')];
      try {
        if (!spec) throw new Error('no data for chart ' + box.getAttribute('data-chart'));
        draw(box, spec);
        drawn++;
      } catch (e) {
        box.setAttribute('data-drawn', 'error');
        box.classList.add('chart-error');
        box.textContent = 'chart failed: ' + e.message;
        report((spec && spec.title || box.getAttribute('data-chart')) + ': ' + e.message);
      }
    }
    var total = document.querySelectorAll('.chart[data-drawn="true"]').length;
    document.documentElement.setAttribute('data-charts-drawn', total);
    return drawn;
  }

  function selectScope(value) {
    var scopes = document.querySelectorAll('[data-scope]');
    var found = false;
    for (var i = 0; i < scopes.length; i++) if (scopes[i].getAttribute('data-scope') === value) found = true;
    if (!found) return;
    for (var j = 0; j < scopes.length; j++) scopes[j].hidden = scopes[j].getAttribute('data-scope') !== value;
    var sel = document.getElementById('scope-select');
    if (sel) sel.value = value;
    drawVisible();
  }

  function redrawAll() {
    var boxes = document.querySelectorAll('.chart[data-drawn="true"]');
    for (var i = 0; i < boxes.length; i++) boxes[i].removeAttribute('data-drawn');
    drawVisible();
  }

  function init() {
    try {
      var node = document.getElementById('dash-data');
      specs = node ? JSON.parse(node.textContent) : {};
      var sel = document.getElementById('scope-select');
      if (sel) {
        sel.addEventListener('change', function () {
          selectScope(sel.value);
          if (history.replaceState) history.replaceState(null, '', '#scope=' + encodeURIComponent(sel.value));
        });
        var h = /scope=([^&]+)/.exec(location.hash);
        if (h) selectScope(decodeURIComponent(h[1]));
      }
      drawVisible();
      var timer = null;
      window.addEventListener('resize', function () { clearTimeout(timer); timer = setTimeout(redrawAll, 150); });
    } catch (e) {
      report('init: ' + e.message);
    }
    if (!document.documentElement.hasAttribute('data-js-errors')) document.documentElement.setAttribute('data-js-errors', '0');
    document.documentElement.setAttribute('data-rendered', 'true');
  }

  window.AkiCharts = {draw: draw, fmtNum: fmtNum, selectScope: selectScope, redraw: redrawAll};
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init); else init();
})();
