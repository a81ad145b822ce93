/// The report page (Mustache). Self-contained: no network, CSS inline, light and dark themes, print styles.
/// `{{{svg}}}` inserts charts built by `Charts`, which escape their own text.
enum Template {
    static let page = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>cvm report: {{pipeline}} as of {{asOf}}</title>
    <style>
    :root { --bg: #ffffff; --fg: #1d2330; --muted: #5d6677; --accent: #2f6fdf; --accent2: #13a37a; --warm: #e07b24; --line: #d9dee7; --bad: #c0392b; }
    @media (prefers-color-scheme: dark) { :root { --bg: #14171d; --fg: #e6e9ef; --muted: #9aa3b2; --accent: #6ea1ff; --accent2: #3ccf9f; --warm: #ffa45c; --line: #2c323d; --bad: #ff7b6b; } }
    body { background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px; padding: 24px; }
    h1 { font-size: 1.6em; margin: 0 0 4px; } h2 { font-size: 1.2em; margin-top: 32px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
    .muted { color: var(--muted); } .status-failed { color: var(--bad); } .status-succeeded { color: var(--accent2); }
    table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; } th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); }
    td.num, th.num { text-align: right; }
    .kpis { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 12px; }
    .kpi { border: 1px solid var(--line); border-radius: 8px; padding: 10px; } .kpi .v { font-size: 1.3em; font-weight: 600; }
    figure { margin: 16px 0; } figcaption { font-weight: 600; margin-bottom: 6px; }
    svg.chart { max-width: 100%; height: auto; } svg text { fill: var(--fg); font-size: 12px; }
    svg .axis { stroke: var(--muted); } svg .diag { stroke: var(--muted); stroke-dasharray: 4 4; } svg .series { stroke: var(--accent); stroke-width: 2.5; }
    svg .mark { stroke: var(--accent2); stroke-dasharray: 3 3; } svg .bar { fill: var(--accent); } svg .bar.alt { fill: var(--accent2); } svg .cell { fill: var(--accent); }
    svg .series.alt { stroke: var(--accent2); } svg rect.pos { fill: var(--warm); } svg rect.neg { fill: var(--accent); }
    svg .dot { fill: var(--muted); fill-opacity: 0.55; } svg .dot.q-strategic { fill: var(--accent2); } svg .dot.q-profit { fill: var(--warm); } svg .dot.q-potential { fill: var(--accent); }
    code { font-size: 0.92em; }
    @media print { body { max-width: none; padding: 0; } h2 { break-after: avoid; } figure, table { break-inside: avoid; } }
    </style>
    <script>
    // Layout self-check, read by the browser test (Tests/EndToEndTests/BrowserTests.swift): after load, the
    // size of every chart and any script or console error go into a hidden <pre id="layout-check">.
    (function () {
      var errors = [];
      window.addEventListener("error", function (e) { errors.push(String(e.message || (e.target && e.target.outerHTML) || e.type)); }, true);
      var original = console.error;
      console.error = function () { errors.push(Array.prototype.join.call(arguments, " ")); original.apply(console, arguments); };
      window.addEventListener("load", function () {
        var charts = Array.prototype.map.call(document.querySelectorAll("svg.chart"), function (s) {
          var r = s.getBoundingClientRect();
          return {label: s.getAttribute("aria-label"), width: Math.round(r.width), height: Math.round(r.height)};
        });
        var pre = document.createElement("pre");
        pre.id = "layout-check";
        pre.hidden = true;
        pre.textContent = JSON.stringify({charts: charts, errors: errors});
        document.body.appendChild(pre);
      });
    })();
    </script>
    </head>
    <body>
    <header>
    <h1>Customer value report: {{pipeline}}</h1>
    <div class="muted">as of <b>{{asOf}}</b> · run <code>{{runID}}</code> · <span class="status-{{status}}">{{status}}</span> in {{duration}} · {{threads}} threads · config {{configHash}}</div>
    <div class="muted">warehouse: <code>{{warehouse}}</code></div>
    </header>

    <h2>Key figures</h2>
    <div class="kpis">{{#kpis}}<div class="kpi"><div class="muted">{{name}}</div><div class="v">{{value}}</div></div>{{/kpis}}</div>

    {{#charts}}
    <figure><figcaption>{{title}}</figcaption>{{{svg}}}{{#note}}<div class="muted">{{note}}</div>{{/note}}</figure>
    {{/charts}}

    {{#hasTopCustomers}}<h2>Top customers by CLV</h2>
    <table><thead><tr><th>customer</th><th>segment</th><th>lifecycle</th><th class="num">CLV</th><th class="num">P(alive)</th><th class="num">revenue</th></tr></thead><tbody>{{/hasTopCustomers}}
    {{#topCustomers}}<tr><td><code>{{id}}</code></td><td>{{segment}}</td><td>{{stage}}</td><td class="num">{{clv}}</td><td class="num">{{alive}}</td><td class="num">{{revenue}}</td></tr>{{/topCustomers}}
    {{#hasTopCustomers}}</tbody></table>{{/hasTopCustomers}}

    {{#hasCampaigns}}<h2>Campaign lists</h2>
    <p class="muted">One CSV per action with key scores and up to five product suggestions per customer (bought together with their purchases, else their segment's best sellers).</p>
    <table><thead><tr><th>list</th><th>action</th><th class="num">customers</th><th>file</th></tr></thead><tbody>{{/hasCampaigns}}
    {{#campaigns}}<tr><td>{{name}}</td><td>{{action}}</td><td class="num">{{customers}}</td><td><a href="{{file}}"><code>{{file}}</code></a></td></tr>{{/campaigns}}
    {{#hasCampaigns}}</tbody></table>{{/hasCampaigns}}

    <h2>Row accounting</h2>
    <p class="muted">Every row read is either accepted or quarantined with its reason, file and line.</p>
    <table><thead><tr><th>source</th><th class="num">files</th><th class="num">MiB</th><th class="num">read</th><th class="num">accepted</th><th class="num">rejected</th><th>rejects by rule</th></tr></thead>
    <tbody>{{#sources}}<tr><td>{{name}}</td><td class="num">{{files}}</td><td class="num">{{mb}}</td><td class="num">{{read}}</td><td class="num">{{accepted}}</td><td class="num">{{rejected}}</td><td>{{rules}}</td></tr>{{/sources}}</tbody></table>

    {{#hasRejects}}<h2>Rejected rows: examples</h2>{{/hasRejects}}
    {{#rejects}}
    <h3>{{source}} · {{rule}} ({{count}})</h3>
    <ul>{{#examples}}<li><code>{{where}}</code>: {{reason}}</li>{{/examples}}</ul>
    {{/rejects}}

    <h2>Stages</h2>
    <table><thead><tr><th>stage</th><th>status</th><th class="num">time</th><th class="num">rows in</th><th class="num">rows out</th><th class="num">rejected</th></tr></thead>
    <tbody>{{#stages}}<tr><td>{{name}}</td><td>{{status}}</td><td class="num">{{duration}}</td><td class="num">{{rowsIn}}</td><td class="num">{{rowsOut}}</td><td class="num">{{rejected}}</td></tr>{{/stages}}</tbody></table>

    {{#hasQuality}}<h2>Data quality profile</h2>
    <table><thead><tr><th>source</th><th>column</th><th>type</th><th class="num">nulls</th><th class="num">distinct</th><th>min</th><th>median</th><th>max</th></tr></thead><tbody>{{/hasQuality}}
    {{#quality}}<tr><td>{{source}}</td><td>{{column}}</td><td>{{type}}</td><td class="num">{{nulls}}</td><td class="num">{{distinct}}</td><td>{{min}}</td><td>{{median}}</td><td>{{max}}</td></tr>{{/quality}}
    {{#hasQuality}}</tbody></table>{{/hasQuality}}
    <footer class="muted"><p>Generated by cvm. Query the warehouse directly: <code>sqlite3 {{warehouse}} "SELECT * FROM v_segment_summary"</code></p></footer>
    </body>
    </html>

    """
}
