// Cost & tokens charts: uPlot (vendored), data from the page's <script type="application/json">.
(function () {
  "use strict";
  var node = document.getElementById("usage-data");
  if (!node || typeof uPlot === "undefined") return;
  var d = JSON.parse(node.textContent);
  var COLORS = ["#3557c9", "#1f8a4c", "#b26a00", "#8e44ad", "#c62828", "#00838f", "#7a7f8c"];

  function day(u, v) { return v == null ? "" : new Date(v * 1000).toISOString().slice(0, 10); }
  function width(el) { return Math.max(280, el.clientWidth - 4); }

  // columns: [[name, values], ...] in the legend's order
  function chart(id, columns, fmt, tick) {
    var el = document.getElementById(id);
    if (!el || !d.x.length) return;
    var series = [{ label: "day", value: day }].concat(columns.map(function (pair, i) {
      return { label: pair[0], stroke: COLORS[i % COLORS.length], width: 2,
               value: function (u, v) { return v == null ? "" : fmt(v); } };
    }));
    var opts = { width: width(el), height: 220, scales: { x: { time: true } },
                 axes: [{}, { size: 60, values: function (u, vals) { return vals.map(tick || fmt); } }],
                 legend: { live: true }, series: series };
    var plot = new uPlot(opts, [d.x].concat(columns.map(function (pair) { return pair[1]; })), el);
    window.addEventListener("resize", function () { plot.setSize({ width: width(el), height: 220 }); });
  }

  function usd(v) { return "$" + v.toFixed(v && Math.abs(v) < 1 ? 4 : 2); }
  function usdTick(v) { return "$" + v.toFixed(2); }
  function tokens(v) {
    var a = Math.abs(v);
    return a >= 1e9 ? (v / 1e9).toFixed(1) + "G" : a >= 1e6 ? (v / 1e6).toFixed(1) + "M"
      : a >= 1e3 ? (v / 1e3).toFixed(1) + "k" : String(Math.round(v));
  }
  chart("chart-usage-cost", d.cost, usd, usdTick);
  chart("chart-usage-tokens", d.tokens, tokens);
})();
