/* warroom: live update countdowns and the declare form's title prefill. No build step. */
(function () {
  "use strict";
  var offset = 0; // server clock minus browser clock, so countdowns follow the server's time

  function syncOffset() {
    var marks = document.querySelectorAll("[data-server-now]");
    if (!marks.length) { return; }
    var server = Date.parse(marks[marks.length - 1].getAttribute("data-server-now"));
    if (!isNaN(server)) { offset = server - Date.now(); }
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function human(seconds) {
    var s = Math.floor(Math.abs(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d) { return d + "d " + h + "h " + pad(m) + "m"; }
    if (h) { return h + "h " + pad(m) + "m"; }
    if (m) { return m + "m " + pad(sec) + "s"; }
    return sec + "s";
  }

  function tick() {
    var now = Date.now() + offset;
    var items = document.querySelectorAll("[data-due]");
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      var due = Date.parse(el.getAttribute("data-due"));
      var remind = Number(el.getAttribute("data-remind") || 0) * 1000;
      if (isNaN(due)) { continue; }
      var left = due - now;
      el.textContent = left < 0 ? "overdue by " + human(-left / 1000) : "due in " + human(left / 1000);
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left <= remind);
      el.classList.toggle("ok", left > remind);
    }
  }

  function titlePrefill() {
    var title = document.getElementById("title");
    if (!title || !title.getAttribute("data-template")) { return; }
    var template = title.getAttribute("data-template");
    var touched = false;
    title.addEventListener("input", function () { touched = title.value !== ""; });
    function fill() {
      if (touched) { return; }
      var names = [];
      var boxes = document.querySelectorAll("input[name=services]:checked");
      for (var i = 0; i < boxes.length; i++) { names.push(boxes[i].getAttribute("data-name")); }
      if (!names.length) { title.value = ""; return; }
      var prio = document.getElementById("priority");
      title.value = template.split("{services}").join(names.join(", ")).split("{service}").join(names.join(", "))
        .split("{priority}").join(prio ? prio.value : "").split("{title}").join("").trim();
    }
    document.addEventListener("change", function (e) {
      if (e.target && (e.target.name === "services" || e.target.id === "priority")) { fill(); }
    });
    document.body.addEventListener("htmx:afterSettle", fill);
    fill();
  }

  document.addEventListener("DOMContentLoaded", function () {
    syncOffset();
    tick();
    setInterval(tick, 1000);
    titlePrefill();
    document.body.addEventListener("htmx:afterSettle", function () { syncOffset(); tick(); });
  });
})();
