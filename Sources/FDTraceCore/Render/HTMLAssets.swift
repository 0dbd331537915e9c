/// The HTML report's inline style and script (no external resource: the
/// page's Content-Security-Policy forbids every fetch).
enum HTMLAssets {
    /// First in the page: any script error is recorded on the root element
    /// (data-errors), for a reader and for the tests.
    static let errorTrap = """
        window.onerror = function (message, source, line) {
          var d = document.documentElement;
          d.setAttribute('data-errors', (d.getAttribute('data-errors') || '') + String(message) + ' (line ' + line + '); ');
        };
        """

    static let css = """
        :root { --fg: #1d1d1f; --dim: #6e6e73; --line: #d2d2d7; --bg: #fff; --hl: #fff4d6; --warn: #b3261e; }
        body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg);
               margin: 0 auto; padding: 16px 24px 48px; max-width: 1280px; }
        h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); }
        h3 { font-size: 15px; margin: 20px 0 6px; }
        code, .stack, .loc { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; }
        .dim { color: var(--dim); } .warn { color: var(--warn); } .note { color: var(--dim); font-style: italic; }
        .tree, .tree ul { list-style: none; padding-left: 18px; margin: 2px 0; } .tree > li { margin: 4px 0; }
        .pid { font-weight: 600; } a.leaked { color: var(--warn); }
        table { border-collapse: collapse; width: 100%; } th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid var(--line); }
        th[data-sort] { cursor: pointer; user-select: none; white-space: nowrap; } th[data-sort]::after { content: " \\2195"; color: var(--dim); }
        th[aria-sort=ascending]::after { content: " \\2191"; } th[aria-sort=descending]::after { content: " \\2193"; }
        td.num { text-align: right; white-space: nowrap; } td.what { word-break: break-all; }
        tr.group:hover { background: #f5f5f7; } tr.group:target { background: var(--hl); }
        details summary { cursor: pointer; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 12.5px; }
        ol.stack { list-style: none; padding: 4px 0 4px 8px; margin: 4px 0; border-left: 2px solid var(--line); }
        ol.stack li { white-space: nowrap; } ol.stack li.hl { background: var(--hl); font-weight: 600; }
        ol.stack .loc { color: var(--dim); margin-left: 8px; }
        #filter { font: inherit; padding: 4px 8px; width: 320px; max-width: 100%; }
        .chart-box { margin: 8px 0 16px; } svg.chart { width: 100%; height: auto; max-height: 320px; display: block; cursor: crosshair; }
        svg .grid { stroke: #ececf0; stroke-width: 1; } svg .axis { font-size: 11px; fill: var(--dim); }
        svg .axis-line { stroke: #999; } svg .series { stroke: none; opacity: .92; }
        svg .limit { stroke: var(--warn); stroke-width: 1.5; stroke-dasharray: 6 4; } svg .limit-label { font-size: 11px; fill: var(--warn); }
        svg .mark { stroke: #000; stroke-width: 1; stroke-dasharray: 2 3; } svg .mark-label { font-size: 10px; fill: #000; }
        svg .window { fill: rgba(66, 133, 244, .18); stroke: rgba(66, 133, 244, .8); } svg .cursor { stroke: #444; stroke-width: .8; }
        ul.legend { list-style: none; padding: 0; margin: 4px 0; display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 12.5px; }
        .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 5px; border-radius: 2px; }
        .legend .call { font-family: ui-monospace, Menlo, Consolas, monospace; color: var(--dim); }
        .readout { font-size: 12.5px; color: var(--dim); min-height: 1.4em; margin: 4px 0; }
        .window-result { font-size: 13px; } .window-result ul { margin: 4px 0; }
        @media print { #filter, .readout { display: none; } details { display: block; } }
        """

    /// Sorting and filtering of the leak table; the charts' readout and
    /// drag window. `#filter=TEXT`, `#sort=KEY` and `#window=FROM-TO`
    /// (seconds) in the address do the same on load.
    static let script = """
        (function () {
          'use strict';
          var root = document.documentElement;
          var data = JSON.parse(document.getElementById('fdtrace-data').textContent);
          var params = {};
          location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
            var i = kv.indexOf('=');
            if (i > 0) params[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1));
          });
          function el(tag, cls, text) {
            var e = document.createElement(tag);
            if (cls) e.className = cls;
            if (text !== undefined && text !== null) e.textContent = text;
            return e;
          }
          function fmtTime(t) {
            if (t === 0) return '0';
            if (t < 0.01) return t.toFixed(4);
            if (t < 1) return t.toFixed(3);
            if (t < 100) return t.toFixed(2);
            return t.toFixed(0);
          }

          // The leak table: sort by a column, filter by text.
          var table = document.getElementById('groups');
          if (table) {
            var tbody = table.tBodies[0];
            var rows = Array.prototype.slice.call(tbody.rows);
            var shown = document.getElementById('shown');
            var filter = document.getElementById('filter');
            var sortKey = null, sortDir = 1;
            var applyFilter = function () {
              var q = (filter.value || '').toLowerCase().trim();
              var n = 0;
              rows.forEach(function (r) {
                var hit = !q || r.textContent.toLowerCase().indexOf(q) >= 0;
                r.hidden = !hit;
                if (hit) n++;
              });
              shown.textContent = (q ? n + ' of ' + rows.length : String(rows.length)) + ' group' + (rows.length === 1 ? '' : 's');
              table.setAttribute('data-visible', String(n));
            };
            var sortBy = function (th) {
              var key = th.getAttribute('data-sort');
              var numeric = th.getAttribute('data-type') === 'num';
              if (sortKey === key) sortDir = -sortDir; else { sortKey = key; sortDir = numeric ? -1 : 1; }
              rows.sort(function (a, b) {
                var x = a.getAttribute('data-' + key), y = b.getAttribute('data-' + key);
                var c = numeric ? (parseFloat(x) - parseFloat(y)) : x.localeCompare(y);
                if (c !== 0) return c * sortDir;
                return parseInt(a.getAttribute('data-row'), 10) - parseInt(b.getAttribute('data-row'), 10);
              });
              rows.forEach(function (r) { tbody.appendChild(r); });
              Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute('aria-sort'); });
              th.setAttribute('aria-sort', sortDir > 0 ? 'ascending' : 'descending');
              table.setAttribute('data-sorted', key + (sortDir > 0 ? ':ascending' : ':descending'));
            };
            Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
              if (!th.hasAttribute('data-sort')) return;
              th.tabIndex = 0;
              th.addEventListener('click', function () { sortBy(th); });
              th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sortBy(th); } });
            });
            filter.addEventListener('input', applyFilter);
            if (params.filter) filter.value = params.filter;
            applyFilter();
            if (params.sort) {
              var th = table.tHead.querySelector('th[data-sort="' + params.sort.replace(/[^a-z]/g, '') + '"]');
              if (th) sortBy(th);
            }
          }

          // The charts: a readout where the pointer is; a window dragged
          // across shows what was opened in it and not closed by its end.
          data.charts.forEach(function (c) {
            var svg = document.getElementById(c.id + '-svg');
            if (!svg) return;
            var readout = document.getElementById(c.id + '-readout');
            var result = document.getElementById(c.id + '-window');
            var win = svg.querySelector('rect.window');
            var cursor = svg.querySelector('line.cursor');
            var left = parseFloat(svg.getAttribute('data-left'));
            var plotW = parseFloat(svg.getAttribute('data-plot-width'));
            var x0 = parseFloat(svg.getAttribute('data-x0')), x1 = parseFloat(svg.getAttribute('data-x1'));
            var vbW = svg.viewBox.baseVal.width;
            var toTime = function (clientX) {
              var r = svg.getBoundingClientRect();
              var f = ((clientX - r.left) / r.width * vbW - left) / plotW;
              return x0 + Math.max(0, Math.min(1, f)) * (x1 - x0);
            };
            var toX = function (t) { return left + Math.max(0, Math.min(1, (t - x0) / (x1 - x0))) * plotW; };
            var valueAt = function (values, t) {
              var j = Math.floor((t - c.start) / c.column);
              if (j < 0 || values.length === 0) return 0;
              return values[Math.min(j, values.length - 1)] || 0;
            };
            var showReadout = function (t) {
              var parts = ['at ' + fmtTime(t) + ' s: ' + valueAt(c.total, t) + ' open'];
              c.series.forEach(function (s) {
                var v = valueAt(s.values, t);
                if (v) parts.push(s.label + ' ' + s.call + ' ' + v);
              });
              var o = valueAt(c.other, t);
              if (o) parts.push('other ' + o);
              readout.textContent = parts.join(' · ');
              cursor.setAttribute('x1', toX(t));
              cursor.setAttribute('x2', toX(t));
              cursor.setAttribute('visibility', 'visible');
            };
            var drawWindow = function (a, b) {
              var lo = Math.min(a, b), hi = Math.max(a, b);
              win.setAttribute('x', toX(lo));
              win.setAttribute('width', Math.max(1, toX(hi) - toX(lo)));
              win.setAttribute('visibility', 'visible');
            };
            var showWindow = function (a, b) {
              var lo = Math.min(a, b), hi = Math.max(a, b);
              drawWindow(lo, hi);
              var byRow = {}, n = 0, runtime = 0;
              c.fds.forEach(function (f) {
                if (f[0] >= lo && f[0] <= hi) {
                  n++;
                  byRow[f[1]] = (byRow[f[1]] || 0) + 1;
                  if (f[2]) runtime++;
                }
              });
              result.textContent = '';
              result.setAttribute('data-from', String(lo));
              result.setAttribute('data-to', String(hi));
              result.setAttribute('data-open', String(n));
              var head = 'Window ' + fmtTime(lo) + ' s \\u2013 ' + fmtTime(hi) + ' s: ' + n + ' descriptor' + (n === 1 ? '' : 's') +
                ' opened in it ' + (n === 1 ? 'was' : 'were') + ' still open at its end (the program never closed ' + (n === 1 ? 'it' : 'them') +
                (runtime ? '; the runtime closed ' + runtime + ' later' : '') + ')' + (n ? ':' : '.');
              result.appendChild(el('p', null, head));
              var list = el('ul', 'window-list');
              Object.keys(byRow).map(Number).sort(function (x, y) { return byRow[y] - byRow[x] || x - y; }).forEach(function (k) {
                var r = data.rows[k];
                var li = el('li');
                li.setAttribute('data-row', String(k));
                li.setAttribute('data-count', String(byRow[k]));
                var link = el('a', null, byRow[k] + ' \\u00d7 ' + r.label);
                link.href = '#g-' + k;
                li.appendChild(link);
                li.appendChild(el('code', null, ' ' + r.call));
                li.appendChild(document.createTextNode(' ' + r.summary));
                list.appendChild(li);
              });
              result.appendChild(list);
              var changes = [];
              c.series.forEach(function (s) {
                var va = valueAt(s.values, lo), vb = valueAt(s.values, hi);
                if (va !== vb) changes.push(s.label + ' ' + s.call + ' ' + va + ' \\u2192 ' + vb);
              });
              if (changes.length) result.appendChild(el('p', 'dim', 'Open per site at the start and the end of the window (the most in each bucket): ' + changes.join(' · ')));
              if (c.fdsOmitted) result.appendChild(el('p', 'dim', c.fdsOmitted + ' more descriptors are only in the JSON report.'));
            };
            var dragFrom = null;
            svg.addEventListener('mousedown', function (e) { dragFrom = toTime(e.clientX); e.preventDefault(); });
            svg.addEventListener('mousemove', function (e) {
              var t = toTime(e.clientX);
              showReadout(t);
              if (dragFrom !== null) drawWindow(dragFrom, t);
            });
            svg.addEventListener('mouseleave', function () { cursor.setAttribute('visibility', 'hidden'); });
            window.addEventListener('mouseup', function (e) {
              if (dragFrom === null) return;
              var a = dragFrom, t = toTime(e.clientX);
              dragFrom = null;
              if (Math.abs(toX(t) - toX(a)) >= 2) showWindow(a, t); else win.setAttribute('visibility', 'hidden');
            });
            if (params.window) {
              var m = /^([0-9.]+)-([0-9.]+)$/.exec(params.window);
              if (m) showWindow(parseFloat(m[1]), parseFloat(m[2]));
            }
            svg.setAttribute('data-ready', '1');
          });
          root.setAttribute('data-ready', '1');
        })();
        """
}
