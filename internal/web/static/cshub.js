// cshub web interface: progressive enhancement only. Every page works without this script.
// It adds keyboard shortcuts ("/" focuses search) and, on the dashboard, a notice of new objects
// from the live stream with a link to reload.
(function () {
  "use strict";

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  // "/" focuses the search field of the page, or opens the search page.
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey || typing(document.activeElement)) {
      return;
    }
    var field = document.querySelector("[data-shortcut='/']");
    ev.preventDefault();
    if (field) {
      field.focus();
      field.select();
    } else if (document.querySelector("a[href='/search']")) {
      window.location.assign("/search");
    }
  });

  // The dashboard follows the live stream and says how many new objects arrived.
  var live = document.getElementById("live");
  if (!live || !window.EventSource) {
    return;
  }
  var count = 0;
  var src = new EventSource(live.getAttribute("data-src"));
  src.addEventListener("object", function () {
    count++;
    live.textContent = "";
    live.append(count === 1 ? "1 new object since this page loaded. " : count + " new objects since this page loaded. ");
    var a = document.createElement("a");
    a.href = "/";
    a.textContent = "Refresh the dashboard";
    live.append(a);
    live.hidden = false;
  });
})();
