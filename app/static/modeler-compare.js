/* Two versions side by side; added, removed and changed elements are marked. */
(function () {
  'use strict';
  const cfg = JSON.parse(document.getElementById('compare-config').textContent);
  async function show(container, url, marks) {
    const viewer = new BpmnJS({ container: container });
    const xml = await (await fetch(url)).text();
    await viewer.importXML(xml);
    const canvas = viewer.get('canvas');
    const registry = viewer.get('elementRegistry');
    canvas.zoom('fit-viewport');
    Object.entries(marks).forEach(([marker, ids]) => ids.forEach((id) => {
      if (registry.get(id)) canvas.addMarker(id, marker);
    }));
    document.querySelector(container).dataset.ready = 'true';
  }
  show('#left', cfg.left, { 'diff-removed': cfg.removed, 'diff-changed': cfg.changed });
  show('#right', cfg.right, { 'diff-added': cfg.added, 'diff-changed': cfg.changed });
})();
