/**
 * The operator page's view: one plain-JavaScript source that renders an Overview (overview.ts) to
 * HTML. The server runs it to send a complete page, and the same source goes into the page's
 * inline script to re-render every poll, so the two can never drift apart. It is kept as a string
 * (not compiled TypeScript) so that exactly this code runs in both places; it must stay free of
 * backticks and template placeholders, and escape every value it prints (`esc`). Charts are
 * inline SVG (no CDN, no network); sizes are SVG attributes, as the page's CSP allows no inline styles.
 */
export const VIEW_SCRIPT = String.raw`
function esc(value) {
  return String(value).replace(/[&<>"']/g, function (c) { return '&#' + c.charCodeAt(0) + ';'; });
}
function isNum(x) { return typeof x === 'number' && isFinite(x); }
function pct(x) { return isNum(x) ? (x * 100).toFixed(1) + '%' : '–'; }
function msec(x) { return isNum(x) ? (x >= 100 ? Math.round(x) : x.toFixed(1)) + ' ms' : '–'; }
function usd(x) { return isNum(x) ? '$' + (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(4)) : '–'; }
function badge(kind, text) { return '<span class="badge ' + esc(kind) + '">' + esc(text) + '</span>'; }

var HEALTH_ORDER = { unhealthy: 0, degraded: 1, unknown: 2, healthy: 3 };
var CIRCUIT_ORDER = { open: 0, half_open: 1, closed: 2 };

function summaryCards(d) {
  var unhealthy = 0, degraded = 0, open = 0, halfOpen = 0;
  d.models.forEach(function (m) {
    if (m.health === 'unhealthy') unhealthy++;
    if (m.health === 'degraded') degraded++;
    if (m.circuit === 'open') open++;
    if (m.circuit === 'half_open') halfOpen++;
  });
  var exceeded = (d.budgets || []).filter(function (b) { return b.state === 'exceeded'; }).length;
  var backlog = 0, failed = 0;
  (d.queues || []).forEach(function (q) { backlog += q.counts.waiting + q.counts.prioritized + q.counts.delayed; failed += q.counts.failed; });
  function card(label, value, bad) {
    return '<div class="card' + (bad ? ' bad' : '') + '"><div class="value">' + esc(value) + '</div><div class="label">' + esc(label) + '</div></div>';
  }
  return '<section class="cards" data-testid="summary">' +
    card('models', d.models.length, false) +
    card('unhealthy / degraded', unhealthy + ' / ' + degraded, unhealthy > 0) +
    card('circuits open / half-open', open + ' / ' + halfOpen, open > 0) +
    card('A/B tests running', d.abtests.length, false) +
    card('budgets exceeded', d.budgets ? exceeded : '–', exceeded > 0) +
    card('queued jobs / failed', d.queues ? backlog + ' / ' + failed : '–', failed > 0) +
    card('dead letters', d.dead_letters ? d.dead_letters.total : '–', d.dead_letters !== null && d.dead_letters.total > 0) +
    '</section>';
}

function modelsSection(models) {
  var rows = models.slice().sort(function (a, b) {
    return (HEALTH_ORDER[a.health] - HEALTH_ORDER[b.health]) || (CIRCUIT_ORDER[a.circuit] - CIRCUIT_ORDER[b.circuit]) ||
      (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0) || (a.id < b.id ? -1 : 1);
  }).map(function (m) {
    return '<tr data-testid="model-row" data-model-id="' + esc(m.id) + '"' + (m.enabled ? '' : ' class="disabled"') + '>' +
      '<td><span class="dot ' + esc(m.health) + '"></span>' + esc(m.id) + (m.enabled ? '' : ' <small>(disabled)</small>') + '</td>' +
      '<td>' + esc(m.provider) + '</td>' +
      '<td>' + badge(m.health, m.health) + '</td>' +
      '<td>' + badge('circuit-' + m.circuit, m.circuit.replace('_', '-')) + (m.budget_blocked_by ? ' ' + badge('blocked', 'budget ' + m.budget_blocked_by) : '') + '</td>' +
      '<td class="num">' + pct(m.success_rate) + '</td>' +
      '<td class="num">' + msec(m.p50_latency_ms) + '</td>' +
      '<td class="num">' + esc(m.samples) + '</td></tr>';
  }).join('');
  return '<section data-testid="models"><h2>Models</h2><table><thead><tr><th>model</th><th>provider</th><th>health</th>' +
    '<th>circuit</th><th class="num">success</th><th class="num">p50</th><th class="num">samples</th></tr></thead><tbody>' +
    (rows || '<tr><td colspan="7" class="empty">no models</td></tr>') + '</tbody></table></section>';
}

/** A forest plot: one row per variant, a dot at the estimate and a whisker over its interval. */
function forest(title, rows, format, clampUnit) {
  var W = 300, LABEL = 84, ROW = 22, TOP = 22, H = TOP + rows.length * ROW + 18;
  var lo = Infinity, hi = -Infinity;
  rows.forEach(function (r) {
    [r.ci_low, r.ci_high, r.estimate].forEach(function (v) { if (isNum(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } });
  });
  var svg = '<svg class="forest" data-testid="forest" viewBox="0 0 ' + W + ' ' + H + '" width="' + W + '" height="' + H + '" role="img" aria-label="' + esc(title) + '">' +
    '<text x="0" y="13" class="title">' + esc(title) + '</text>';
  if (!isFinite(lo)) return svg + '<text x="' + LABEL + '" y="' + (TOP + 14) + '" class="muted">no data yet</text></svg>';
  var pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 0.05;
  lo -= pad; hi += pad;
  if (clampUnit) { lo = Math.max(0, lo); hi = Math.min(1, hi); }
  var x = function (v) { return LABEL + (v - lo) / (hi - lo || 1) * (W - LABEL - 8); };
  rows.forEach(function (r, i) {
    var y = TOP + i * ROW + ROW / 2;
    svg += '<text x="0" y="' + (y + 4) + '" class="label">' + esc(r.label) + '</text>' +
      '<line x1="' + LABEL + '" x2="' + (W - 8) + '" y1="' + y + '" y2="' + y + '" class="grid"/>';
    if (isNum(r.ci_low) && isNum(r.ci_high)) {
      svg += '<line x1="' + x(r.ci_low).toFixed(1) + '" x2="' + x(r.ci_high).toFixed(1) + '" y1="' + y + '" y2="' + y + '" class="ci"/>' +
        '<line x1="' + x(r.ci_low).toFixed(1) + '" x2="' + x(r.ci_low).toFixed(1) + '" y1="' + (y - 4) + '" y2="' + (y + 4) + '" class="ci"/>' +
        '<line x1="' + x(r.ci_high).toFixed(1) + '" x2="' + x(r.ci_high).toFixed(1) + '" y1="' + (y - 4) + '" y2="' + (y + 4) + '" class="ci"/>';
    }
    if (isNum(r.estimate)) {
      svg += '<circle data-testid="variant-point" cx="' + x(r.estimate).toFixed(1) + '" cy="' + y + '" r="4" class="point c' + (i % 6) + '">' +
        '<title>' + esc(r.label + ': ' + format(r.estimate) + (isNum(r.ci_low) ? ' [' + format(r.ci_low) + ', ' + format(r.ci_high) + ']' : '')) + '</title></circle>';
    }
  });
  var axisY = TOP + rows.length * ROW + 12;
  svg += '<text x="' + LABEL + '" y="' + axisY + '" class="axis">' + esc(format(lo)) + '</text>' +
    '<text x="' + (W - 8) + '" y="' + axisY + '" class="axis end">' + esc(format(hi)) + '</text></svg>';
  return svg;
}

function abtestsSection(tests) {
  var body = tests.map(function (t) {
    var level = Math.round(t.confidence * 100) + '% CI';
    var success = t.variants.map(function (v) { return { label: v.variant_id, estimate: v.success_rate.estimate, ci_low: v.success_rate.ci_low, ci_high: v.success_rate.ci_high }; });
    var latency = t.variants.map(function (v) { return { label: v.variant_id, estimate: v.latency_ms.estimate, ci_low: v.latency_ms.ci_low, ci_high: v.latency_ms.ci_high }; });
    var rows = t.variants.map(function (v) {
      return '<tr><td>' + esc(v.variant_id) + '</td><td>' + esc(v.model_id) + '</td><td class="num">' + pct(v.weight) + '</td>' +
        '<td class="num">' + esc(v.requests) + '</td><td class="num">' + pct(v.success_rate.estimate) + '</td><td class="num">' + msec(v.latency_ms.estimate) + '</td></tr>';
    }).join('');
    return '<article class="abtest" data-testid="abtest" data-test-id="' + esc(t.id) + '"><h3>' + esc(t.name) + ' <small>' + esc(t.id) + ' · ' + esc(t.strategy) +
      (t.started_at ? ' · since ' + esc(t.started_at.slice(0, 16).replace('T', ' ')) + ' UTC' : '') + '</small></h3>' +
      '<div class="charts" data-testid="abtest-chart">' + forest('Success rate (' + level + ')', success, pct, true) + forest('Mean latency (' + level + ')', latency, msec, false) + '</div>' +
      '<table><thead><tr><th>variant</th><th>model</th><th class="num">weight</th><th class="num">requests</th><th class="num">success</th><th class="num">latency</th></tr></thead><tbody>' +
      rows + '</tbody></table><a href="/api/v1/abtests/' + encodeURIComponent(t.id) + '/results">full results and significance tests</a></article>';
  }).join('');
  return '<section data-testid="abtests"><h2>A/B tests running</h2>' + (body || '<p class="empty">no test is running</p>') + '</section>';
}

function budgetsSection(budgets) {
  var body;
  if (budgets === null) body = '<p class="empty">budgets are not available on this API</p>';
  else if (budgets.length === 0) body = '<p class="empty">no budgets</p>';
  else body = budgets.map(function (b) {
    var share = b.limit_usd > 0 ? Math.min(1, b.spent_usd / b.limit_usd) : 1;
    return '<div class="budget" data-testid="budget" data-budget-id="' + esc(b.id) + '"><div class="budget-head"><span>' + esc(b.name || b.id) +
      ' <small>' + esc(b.scope + (b.scope_id ? ' ' + b.scope_id : '') + ' · ' + b.period + ' · ' + b.action) + '</small></span>' +
      '<span>' + usd(b.spent_usd) + ' of ' + usd(b.limit_usd) + ' ' + badge('budget-' + b.state, b.state) + '</span></div>' +
      '<svg class="bar" viewBox="0 0 100 6" preserveAspectRatio="none" width="100%" height="8"><rect width="100" height="6" class="track"/>' +
      '<rect width="' + (share * 100).toFixed(2) + '" height="6" class="fill budget-' + esc(b.state) + '"/></svg></div>';
  }).join('');
  return '<section data-testid="budgets"><h2>Budgets</h2>' + body + '</section>';
}

function queuesSection(queues) {
  if (queues === null) return '<section data-testid="queues"><h2>Queues</h2><p class="empty bad">Redis did not answer</p></section>';
  var states = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'];
  var rows = queues.map(function (q) {
    return '<tr data-testid="queue-row" data-queue="' + esc(q.queue) + '"><td>' + esc(q.queue) + '</td>' + states.map(function (s) {
      return '<td class="num' + (s === 'failed' && q.counts[s] > 0 ? ' bad' : '') + '">' + esc(q.counts[s]) + '</td>';
    }).join('') + '</tr>';
  }).join('');
  return '<section data-testid="queues"><h2>Queues <a href="/admin/queues">open the queue dashboard</a></h2><table><thead><tr><th>queue</th>' +
    states.map(function (s) { return '<th class="num">' + s + '</th>'; }).join('') + '</tr></thead><tbody>' + rows + '</tbody></table></section>';
}

function deadLettersSection(dl) {
  if (dl === null) return '';
  var counts = dl.by_consumer.map(function (c) {
    return '<tr data-testid="dead-letter-count"><td>' + esc(c.consumer) + '</td><td>' + esc(c.event_name) + '</td><td class="num bad">' + esc(c.count) +
      '</td><td>' + esc(c.latest_at.slice(0, 19).replace('T', ' ')) + ' UTC</td></tr>';
  }).join('');
  var latest = dl.latest.map(function (l) {
    return '<tr data-testid="dead-letter-row"><td>' + esc(l.dead_lettered_at.slice(0, 19).replace('T', ' ')) + '</td><td>' + esc(l.consumer) + '<br><small>' +
      esc(l.queue + ' · ' + l.event_name + ' · job ' + l.job_id) + '</small></td><td>' + esc(l.event_id === null ? '–' : l.event_id) +
      (l.key_id ? '<br><small>' + esc(l.key_id) + '</small>' : '') + '</td><td class="wrap">' + esc(l.error) + '<br><small>' + esc(l.event_preview) + '</small></td></tr>';
  }).join('');
  var body = dl.total === 0 ? '<p class="empty">none: every event was stored</p>' :
    '<table><thead><tr><th>consumer</th><th>event</th><th class="num">count</th><th>latest</th></tr></thead><tbody>' + counts + '</tbody></table>' +
    '<h3>Latest</h3><table><thead><tr><th>at (UTC)</th><th>consumer</th><th>event id</th><th>error and event</th></tr></thead><tbody>' + latest + '</tbody></table>';
  return '<section data-testid="dead-letters"><h2>Dead letters <small>' + esc(dl.total) + ' events set aside (model_router.dead_letter_events)</small></h2>' + body + '</section>';
}

function keysSection(keys) {
  if (keys === null || keys === undefined) return '';
  function allowed(k) {
    var parts = [];
    if (k.allowed_models.length) parts.push('models: ' + k.allowed_models.join(', '));
    if (k.allowed_providers.length) parts.push('providers: ' + k.allowed_providers.join(', '));
    return parts.length ? parts.join(' · ') : 'all models';
  }
  function limits(k) {
    var parts = [];
    if (k.rpm !== null) parts.push(k.rpm + ' rpm');
    if (k.tpm !== null) parts.push(k.tpm + ' tpm');
    return parts.length ? parts.join(' · ') : 'no limits';
  }
  var STATE = { enabled: 'healthy', disabled: 'unhealthy', expired: 'unhealthy', configured: 'unknown' };
  var rows = keys.map(function (k) {
    return '<tr data-testid="key-row" data-key-id="' + esc(k.id) + '"' + (k.state === 'disabled' || k.state === 'expired' ? ' class="disabled"' : '') + '>' +
      '<td>' + esc(k.name === null ? k.id : k.name) + (k.name === null ? '' : '<br><small>' + esc(k.id) + '</small>') + '</td>' +
      '<td>' + badge(STATE[k.state] || 'unknown', k.state) + '</td>' +
      '<td class="list">' + esc(allowed(k)) + '<br><small>' + esc(limits(k)) + '</small></td>' +
      '<td class="num" data-testid="key-requests">' + esc(k.requests_today) + '</td>' +
      '<td class="num" data-testid="key-tokens">' + esc(k.tokens_today) + '</td>' +
      '<td class="num" data-testid="key-cost">' + usd(k.cost_today_usd) + '</td></tr>';
  }).join('');
  return '<section data-testid="keys"><h2>API keys <small>usage today (UTC)</small></h2><table><thead><tr><th>key</th><th>state</th><th>allowed · limits</th>' +
    '<th class="num">requests</th><th class="num">tokens</th><th class="num">cost</th></tr></thead><tbody>' +
    (rows || '<tr><td colspan="6" class="empty">no keys</td></tr>') + '</tbody></table></section>';
}

function renderOverview(d) {
  return summaryCards(d) + '<div class="columns"><div>' + modelsSection(d.models) + keysSection(d.keys) + deadLettersSection(d.dead_letters) + '</div><div>' + abtestsSection(d.abtests) +
    budgetsSection(d.budgets) + queuesSection(d.queues) + '</div></div>';
}
`;

export const PAGE_STYLE = `
:root { color-scheme: light; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328; background: #f6f8fa; }
header { display: flex; align-items: baseline; gap: 16px; padding: 12px 20px; background: #24292f; color: #fff; }
header h1 { font-size: 18px; margin: 0; }
header a { color: #9cd1ff; }
header .status { margin-left: auto; color: #c9d1d9; font-size: 12px; }
header .status.bad { color: #ff8182; }
main { padding: 16px 20px; }
h2 { font-size: 15px; margin: 18px 0 8px; }
h2 a { font-size: 12px; font-weight: normal; margin-left: 8px; }
h3 { font-size: 14px; margin: 0 0 6px; }
small, .muted { color: var(--muted); font-weight: normal; }
.cards { display: grid; grid-template-columns: repeat(7, 1fr); gap: 10px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.card .value { font-size: 20px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 12px; }
.card.bad { border-color: var(--bad); }
.card.bad .value { color: var(--bad); }
.columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 20px; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
th, td { padding: 4px 8px; border-bottom: 1px solid #eaeef2; text-align: left; white-space: nowrap; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: #f6f8fa; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.disabled td { color: var(--muted); }
.bad { color: var(--bad); }
.empty { color: var(--muted); font-style: italic; }
td.wrap { white-space: normal; word-break: break-all; }
td.list { white-space: normal; min-width: 140px; }
.dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; background: #8c959f; }
.dot.healthy { background: var(--ok); } .dot.degraded { background: var(--warn); } .dot.unhealthy { background: var(--bad); }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; font-size: 12px; border: 1px solid var(--line); }
.badge.healthy, .badge.circuit-closed, .badge.budget-ok { color: var(--ok); border-color: #a8e0b5; }
.badge.degraded, .badge.circuit-half_open, .badge.budget-warning { color: var(--warn); border-color: #e3c77b; }
.badge.unhealthy, .badge.circuit-open, .badge.budget-exceeded, .badge.blocked { color: var(--bad); border-color: #f3a8ad; }
.abtest { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; margin-bottom: 10px; }
.abtest table { margin: 6px 0; }
.charts { display: flex; gap: 16px; flex-wrap: wrap; }
svg.forest text { font-size: 11px; fill: #1f2328; }
svg.forest text.title { font-weight: 600; }
svg.forest text.axis { fill: var(--muted); font-size: 10px; }
svg.forest text.end { text-anchor: end; }
svg.forest .grid { stroke: #eaeef2; }
svg.forest .ci { stroke: #57606a; stroke-width: 1.5; }
svg.forest .point { stroke: #fff; stroke-width: 1; }
.c0 { fill: #0969da; } .c1 { fill: #bf3989; } .c2 { fill: #1a7f37; } .c3 { fill: #9a6700; } .c4 { fill: #8250df; } .c5 { fill: #cf222e; }
.budget { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; margin-bottom: 6px; }
.budget-head { display: flex; justify-content: space-between; gap: 8px; margin-bottom: 4px; }
svg.bar .track { fill: #eaeef2; } svg.bar .fill { fill: var(--ok); }
svg.bar .fill.budget-warning { fill: #d4a72c; } svg.bar .fill.budget-exceeded { fill: var(--bad); }
@media (max-width: 1100px) { .columns { grid-template-columns: 1fr; } .cards { grid-template-columns: repeat(3, 1fr); } }
`;
