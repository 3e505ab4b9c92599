// Live alerts: server-sent events; every field goes in as text (textContent), never as HTML.
(function () {
  "use strict";
  var table = document.getElementById("alerts");
  if (!table || !window.EventSource) return;
  var body = table.tBodies[0];
  var live = document.getElementById("live");
  var counter = document.getElementById("alert-count");

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function evidence(a) {
    var parts = [a.message || a.error_fingerprint || a.tool_name || ""];
    if (a.occurrences) parts.push("×" + a.occurrences);
    if (a.idle_time_ms) parts.push("idle " + Math.round(a.idle_time_ms / 1000) + "s");
    if (a.cost_usd) parts.push("$" + Number(a.cost_usd).toFixed(2));
    return parts.join(" ").trim();
  }

  function add(a) {
    var row = document.createElement("tr");
    row.className = "alert-row new";
    cell(row, (a.event_time || a.timestamp || "").replace("T", " ").replace(/\.\d+Z$|Z$/, ""));
    var badge = document.createElement("span");
    badge.className = "badge " + (/^(high|medium|low)$/.test(a.severity) ? a.severity : "");
    badge.textContent = a.severity;
    cell(row, "").appendChild(badge);
    cell(row, a.type);
    var link = document.createElement("a");
    link.href = "/sessions/" + encodeURIComponent(a.attempt_id);
    link.textContent = a.attempt_id;
    cell(row, "").appendChild(link);
    cell(row, a.executor || "-");
    cell(row, evidence(a));
    cell(row, a.recommendation);
    body.insertBefore(row, body.firstChild);
    if (counter) counter.textContent = String(body.rows.length);
  }

  var source = new EventSource(table.getAttribute("data-stream"));
  source.addEventListener("open", function () { live.classList.add("on"); });
  source.addEventListener("error", function () { live.classList.remove("on"); });
  source.addEventListener("alert", function (e) { add(JSON.parse(e.data)); });
})();
