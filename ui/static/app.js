// Reprise UI: live updates. The pages work without this script; with it, a
// page whose <body> names an event stream (data-events) re-reads itself when
// the stream reports a change and swaps in its #live part, leaving forms
// being filled in untouched. No dependencies, no build step.
(function () {
  "use strict";
  var src = document.body.getAttribute("data-events");
  if (!src || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var indicator = document.getElementById("live-indicator");
  var busy = false;
  var again = false;

  function swap(doc, id) {
    var fresh = doc.getElementById(id);
    var current = document.getElementById(id);
    if (fresh && current) {
      current.replaceWith(document.importNode(fresh, true));
    }
  }

  function refresh() {
    if (!document.getElementById("status") && document.getElementById("instance-id")) {
      // The instance did not exist when the page was drawn: draw it all.
      window.location.reload();
      return;
    }
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var shown = document.getElementById("status");
        var next = doc.getElementById("status");
        var statusChanged = !shown || !next ||
          shown.getAttribute("data-status") !== next.getAttribute("data-status");
        swap(doc, "live");
        if (statusChanged) {
          // The actions depend on the status; forms are left alone
          // otherwise, as someone may be filling them in.
          swap(doc, "actions");
        }
        if (!doc.body.getAttribute("data-events")) {
          // The instance finished: nothing more will change.
          stream.close();
          if (indicator) {
            indicator.hidden = true;
          }
        }
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  var stream = new EventSource(src);
  var first = true;
  stream.addEventListener("open", function () {
    if (indicator) {
      indicator.hidden = false;
    }
  });
  stream.addEventListener("error", function () {
    if (indicator) {
      indicator.hidden = true;
    }
  });
  stream.addEventListener("status", function (e) {
    // The first status is the one the page was rendered with, unless it
    // changed in between: compare before reloading.
    if (first) {
      first = false;
      var shown = document.getElementById("status");
      try {
        var st = JSON.parse(e.data);
        if (shown && shown.getAttribute("data-status") === st.status &&
            shown.getAttribute("data-updated") === st.updated_at) {
          return;
        }
      } catch (err) {
        // refresh below
      }
    }
    refresh();
  });
  stream.addEventListener("change", refresh);
})();
