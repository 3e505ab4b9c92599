// A session's charts: cost and tokens so far, and time per step (uPlot, vendored).
(function () {
  "use strict";
  var node = document.getElementById("session-data");
  if (!node || typeof uPlot === "undefined") return;
  var d = JSON.parse(node.textContent);
  if (!d.x.length) return;

  function at(u, v) { return v == null ? "" : new Date(v * 1000).toISOString().slice(11, 19); }
  function width(el) { return Math.max(240, el.clientWidth - 4); }

  function chart(id, label, values, color, fmt) {
    var el = document.getElementById(id);
    if (!el) return;
    var opts = { width: width(el), height: 160, scales: { x: { time: true } },
                 axes: [{}, { size: 56, values: function (u, vals) { return vals.map(fmt); } }],
                 legend: { live: true },
                 series: [{ label: "time", value: at },
                          { label: label, stroke: color, width: 2,
                            value: function (u, v) { return v == null ? "" : fmt(v); } }] };
    var plot = new uPlot(opts, [d.x, values], el);
    window.addEventListener("resize", function () { plot.setSize({ width: width(el), height: 160 }); });
  }

  function usd(v) { return "$" + v.toFixed(v && Math.abs(v) < 1 ? 4 : 2); }
  function tokens(v) {
    var a = Math.abs(v);
    return a >= 1e6 ? (v / 1e6).toFixed(1) + "M" : a >= 1e3 ? (v / 1e3).toFixed(1) + "k" : String(Math.round(v));
  }
  function seconds(v) { return v >= 60 ? (v / 60).toFixed(1) + "m" : v.toFixed(1) + "s"; }
  chart("chart-step-cost", "cost", d.cost, "#3557c9", usd);
  chart("chart-step-tokens", "tokens", d.tokens, "#1f8a4c", tokens);
  chart("chart-step-time", "step", d.step_s, "#b26a00", seconds);
})();
