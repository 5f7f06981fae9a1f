(function () {
  var el = document.getElementById("cy");
  if (!el || typeof cytoscape === "undefined") { return; }
  fetch(el.dataset.src, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
    var impacted = {};
    (data.impacted || []).forEach(function (c) { impacted[c] = true; });
    data.nodes.forEach(function (n) { n.data.impacted = impacted[n.data.id] ? 1 : 0; n.data.root = n.data.root ? 1 : 0; });
    var cy = cytoscape({
      container: el,
      elements: data.nodes.concat(data.edges),
      style: [
        {selector: "node", style: {"label": "data(label)", "text-wrap": "wrap", "font-size": 10, "background-color": "#0b6e4f", "width": 24, "height": 24}},
        {selector: "node[impacted = 1]", style: {"background-color": "#b00020"}},
        {selector: "node[root = 1]", style: {"background-color": "#1d2733", "width": 34, "height": 34}},
        {selector: "edge", style: {"label": "data(label)", "font-size": 8, "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 1.5}}
      ],
      layout: {name: "breadthfirst", directed: true, padding: 20}
    });
    cy.on("tap", "node", function (evt) { window.location = "/cmdb/" + encodeURIComponent(evt.target.id()) + "/graph"; });
    el.setAttribute("data-ready", String(cy.nodes().length));
  });
})();
