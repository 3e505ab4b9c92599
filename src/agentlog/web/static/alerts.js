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

  // the page's filters apply to the alerts that arrive live too
  function wanted(a) {
    var severity = table.getAttribute("data-severity"), type = table.getAttribute("data-type"),
        attempt = (table.getAttribute("data-attempt") || "").toLowerCase();
    return (!severity || a.severity === severity) && (!type || a.type === type) &&
      (!attempt || String(a.attempt_id).toLowerCase().indexOf(attempt) >= 0);
  }

  function add(a) {
    if (!wanted(a)) return;
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
    var actions = cell(row, "");
    if (/^[0-9a-f]{8,64}$/.test(a.alert_id || "")) {
      var form = document.createElement("form");
      form.method = "post"; form.action = "/alerts/ack"; form.className = "ack";
      [["alert_id", a.alert_id], ["back", window.location.search]].forEach(function (pair) {
        var input = document.createElement("input");
        input.type = "hidden"; input.name = pair[0]; input.value = pair[1];
        form.appendChild(input);
      });
      var button = document.createElement("button");
      button.type = "submit"; button.textContent = "acknowledge";
      form.appendChild(button);
      actions.appendChild(form);
    }
    body.insertBefore(row, body.firstChild);
    if (counter) counter.textContent = String(body.rows.length);
  }

  var source = new EventSource(table.getAttribute("data-stream"));
  source.addEventListener("open", function () { live.classList.add("on"); });
  source.addEventListener("error", function () { live.classList.remove("on"); });
  source.addEventListener("alert", function (e) { add(JSON.parse(e.data)); });
})();
