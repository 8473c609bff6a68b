// Live updates for relay's status page: server-sent events, no build step, no inline script.
// Without JavaScript the pages work as they are; they just do not update by themselves.
"use strict";
(function () {
  if (!window.EventSource) { return; }
  var table = document.getElementById("deployments");
  var live = document.getElementById("live");
  var url = null;
  if (live && live.dataset.live) {
    url = "/ui/events?deployment=" + encodeURIComponent(live.dataset.live);
  } else if (table) {
    url = "/ui/events";
  }
  if (!url) { return; }
  var source = new EventSource(url);
  var note = document.getElementById("live-note");
  var fresh = 0;

  function fragment(html, tag) {
    var holder = document.createElement(tag);
    holder.innerHTML = html;
    return holder;
  }

  source.addEventListener("row", function (event) {
    var data = JSON.parse(event.data);
    var row = document.getElementById("dep-" + data.id);
    if (row) {
      var body = fragment("<table><tbody>" + data.html + "</tbody></table>", "div");
      var replacement = body.querySelector("tr");
      if (replacement) { row.replaceWith(replacement); }
    } else if (note && note.dataset.filtered === "no" && data.id > Number(note.dataset.newest || 0)) {
      // The unfiltered first page: a new deployment goes on top.
      var fresh_row = fragment("<table><tbody>" + data.html + "</tbody></table>", "div")
        .querySelector("tr");
      var tbody = table.tBodies[0];
      var empty = tbody.querySelector("td[colspan]");
      if (empty) { empty.parentNode.remove(); }
      if (fresh_row) { tbody.insertBefore(fresh_row, tbody.firstChild); }
      note.dataset.newest = String(data.id);
    } else if (note && data.id > Number(note.dataset.newest || 0)) {
      fresh += 1;
      note.dataset.newest = String(data.id);
      note.textContent = fresh + " new deployment" + (fresh === 1 ? "" : "s") +
        ": reload the page to see " + (fresh === 1 ? "it" : "them") + ".";
    }
  });
  source.addEventListener("deployment", function (event) {
    var data = JSON.parse(event.data);
    if (live) { live.innerHTML = data.html; }
    if (!data.open) { source.close(); }
  });
  source.addEventListener("reload", function () { source.close(); window.location.reload(); });
  window.addEventListener("pagehide", function () { source.close(); });
})();
