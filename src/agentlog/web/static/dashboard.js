// Overview charts: uPlot (vendored), data from the page's <script type="application/json">.
(function () {
  "use strict";
  var node = document.getElementById("chart-data");
  if (!node || typeof uPlot === "undefined") return;
  var d = JSON.parse(node.textContent);
  var bars = uPlot.paths.bars({ size: [0.7, 60] });

  // the x series' legend: the day under the cursor; blank (not uPlot's "--") when there is none
  function day(u, v) { return v == null ? "" : new Date(v * 1000).toISOString().slice(0, 10); }

  function width(el) { return Math.max(280, el.clientWidth - 4); }

  function chart(id, series, data, fmt) {
    var el = document.getElementById(id);
    if (!el) return;
    var opts = {
      width: width(el), height: 200,
      scales: { x: { time: true } },
      axes: [{}, { values: function (u, vals) { return vals.map(fmt || String); } }],
      legend: { live: true },
      series: [{ label: "day", value: day }].concat(series)
    };
    var plot = new uPlot(opts, [d.x].concat(data), el);
    window.addEventListener("resize", function () { plot.setSize({ width: width(el), height: 200 }); });
  }

  // Stacked by drawing the cumulative totals tallest first; the legend shows each part.
  var open = d.open, failed = d.failed, success = d.success;
  var failedTop = success.map(function (v, i) { return v + failed[i]; });
  var allTop = failedTop.map(function (v, i) { return v + open[i]; });
  function part(raw) { return function (u, v, s, i) { return i == null ? "" : raw[i]; }; }
  chart("chart-sessions", [
    { label: "open", stroke: "#8fa8ff", fill: "#8fa8ff", paths: bars, points: { show: false }, value: part(open) },
    { label: "failed", stroke: "#c62828", fill: "#c62828", paths: bars, points: { show: false }, value: part(failed) },
    { label: "succeeded", stroke: "#1f8a4c", fill: "#1f8a4c", paths: bars, points: { show: false }, value: part(success) }
  ], [allTop, failedTop, success]);
  chart("chart-cost", [
    { label: "cost", stroke: "#3557c9", fill: "rgba(53,87,201,.35)", paths: bars, points: { show: false },
      value: function (u, v) { return v == null ? "" : "$" + v.toFixed(4); } }
  ], [d.cost], function (v) { return "$" + v.toFixed(2); });
  chart("chart-errors", [
    { label: "errors", stroke: "#c62828", width: 2, fill: "rgba(198,40,40,.12)",
      value: function (u, v) { return v == null ? "" : v; } }
  ], [d.errors]);
})();
