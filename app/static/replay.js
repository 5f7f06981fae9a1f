/* Replay of one instance's event log over its own BPMN version (bpmn-js NavigatedViewer). */
(function () {
  "use strict";
  var root = document.getElementById("replay");
  if (!root) { return; }
  var labels = JSON.parse(root.getAttribute("data-labels") || "{}");
  // Times in the product's time zone and format (as on every other page), not the browser's: an auditor
  // compares them with the case page and the audit package.
  var zone = root.getAttribute("data-timezone") || undefined;
  var parts = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
                second: "2-digit", hourCycle: "h23", timeZone: zone };
  var dateTime = new Intl.DateTimeFormat("sv-SE", parts);  // sv-SE writes ISO order: 2026-11-26 14:45:47
  var timeOnly = new Intl.DateTimeFormat("sv-SE", { hour: "2-digit", minute: "2-digit", second: "2-digit",
                                                    hourCycle: "h23", timeZone: zone });
  var MARKERS = ["replay-completed", "replay-active", "replay-flow", "replay-current"];
  var viewer = new BpmnJS({ container: "#canvas" });
  var slider = document.getElementById("step-slider");
  var timeline = document.getElementById("timeline");
  var state = { index: 0, steps: [], marked: [] };
  window.replayState = state;

  function text(id, value) { document.getElementById(id).textContent = value == null ? "" : value; }
  function json(value) { return value == null ? "" : JSON.stringify(value, null, 1); }

  function mark(canvas, registry, id, marker) {
    if (id && registry.get(id)) { canvas.addMarker(id, marker); state.marked.push([id, marker]); }
  }

  function render(index) {
    if (!state.steps.length) { return; }
    index = Math.max(0, Math.min(index, state.steps.length - 1));
    state.index = index;
    var step = state.steps[index];
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    state.marked.forEach(function (m) { canvas.removeMarker(m[0], m[1]); });
    state.marked = [];
    step.completed.forEach(function (id) { mark(canvas, registry, id, "replay-completed"); });
    step.active.forEach(function (id) { mark(canvas, registry, id, "replay-active"); });
    step.flows.forEach(function (id) { mark(canvas, registry, id, "replay-flow"); });
    mark(canvas, registry, step.element, "replay-current");
    slider.value = String(index);
    root.setAttribute("data-step", String(index));
    root.setAttribute("data-seq", String(step.seq));
    text("step-label", (labels._step || "Step") + " " + (index + 1) + " / " + state.steps.length);
    text("d-type", labels[step.type] || step.type);
    text("d-element", step.name ? step.name + " (" + step.element + ")" : (step.element || ""));
    text("d-actor", step.actor || (labels._system || "system"));
    text("d-at", dateTime.format(new Date(step.at)));
    text("d-org", step.organisation);
    text("d-form", json(step.form_data));
    text("d-changes", json(step.changes));
    text("d-decision", json(step.decision));
    text("d-detail", json(step.detail));
    text("d-active", step.active.join(", "));
    var items = timeline.children;
    for (var i = 0; i < items.length; i++) { items[i].classList.toggle("current", i === index); }
    if (items[index] && items[index].scrollIntoView) { items[index].scrollIntoView({ block: "nearest" }); }
  }

  function fillTimeline() {
    state.steps.forEach(function (step, i) {
      var li = document.createElement("li");
      li.setAttribute("data-seq", String(step.seq));
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = timeOnly.format(new Date(step.at)) + " " + (labels[step.type] || step.type) +
        (step.name ? " · " + step.name : "") + (step.actor ? " · " + step.actor : "");
      b.addEventListener("click", function () { render(i); });
      li.appendChild(b);
      timeline.appendChild(li);
    });
  }

  function fillLinks(links) {
    var ul = document.getElementById("links");
    var base = root.getAttribute("data-link-base");
    links.forEach(function (l) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = base + l.instance_id + "?at=" + encodeURIComponent(l.at);
      a.textContent = (l.direction === "out" ? "→ " : "← ") + l.business_key + " (" + l.process_id + ", " + l.message + ")";
      a.setAttribute("data-link", l.business_key);
      li.appendChild(a);
      ul.appendChild(li);
    });
  }

  document.getElementById("step-back").addEventListener("click", function () { render(state.index - 1); });
  document.getElementById("step-forward").addEventListener("click", function () { render(state.index + 1); });
  slider.addEventListener("input", function () { render(parseInt(slider.value, 10)); });
  document.addEventListener("keydown", function (e) {
    var tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") { return; }
    if (e.key === "ArrowLeft") { render(state.index - 1); e.preventDefault(); }
    if (e.key === "ArrowRight") { render(state.index + 1); e.preventDefault(); }
  });

  fetch(root.getAttribute("data-src"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
    .then(function (data) {
      state.steps = data.steps;
      slider.max = String(Math.max(0, data.steps.length - 1));
      fillTimeline();
      fillLinks(data.links);
      return viewer.importXML(data.bpmn_xml).then(function () {
        viewer.get("canvas").zoom("fit-viewport");
        render(data.selected || 0);
        root.setAttribute("data-ready", "true");
      });
    })
    .catch(function (err) {
      root.setAttribute("data-error", String(err));
      text("step-label", String(err));
    });
}());
