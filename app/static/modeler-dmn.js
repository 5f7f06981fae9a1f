/* DMN editor: dmn-js decision table view, a try-it panel evaluated by the engine's code, save deploys. */
(function () {
  'use strict';
  const cfg = JSON.parse(document.getElementById('dmn-config').textContent);
  const $ = (id) => document.getElementById(id);
  const modeler = new DmnJS({ container: '#dmn' });
  window.dmnModeler = modeler;
  let timer = null;

  function numeric(type) { return ['integer', 'number', 'long', 'double'].includes((type || '').toLowerCase()); }
  function inputs() {
    const data = {};
    document.querySelectorAll('#tryit input[data-name]').forEach((input) => {
      const raw = input.value.trim();
      let value = raw === '' ? null : raw;
      if (raw !== '' && numeric(input.dataset.type) && !isNaN(Number(raw))) value = Number(raw);
      if ((input.dataset.type || '').toLowerCase() === 'boolean' && raw !== '') value = raw === 'true';
      data[input.dataset.name] = value;
    });
    return data;
  }

  async function tryIt() {
    try {
      const { xml } = await modeler.saveXML({ format: false });
      const response = await fetch(cfg.tryUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': cfg.csrf },
        body: JSON.stringify({ xml: xml, data: inputs() }),
      });
      const body = await response.json();
      if (!response.ok) {
        $('try-error').textContent = body.message || '';
        (body.issues || []).forEach((i) => { $('try-error').textContent += ' ' + i.message; });
        return;
      }
      $('try-error').textContent = body.error || '';
      $('try-output').textContent = body.outputs === null ? '' : JSON.stringify(body.outputs);
      $('try-matched').textContent = body.matched.length
        ? body.matched.map((m) => '#' + m.row + ' ' + m.rule_id + (m.description ? ' (' + m.description + ')' : '')).join('; ')
        : cfg.texts.none;
    } catch (err) {
      $('try-error').textContent = String(err.message || err);
    }
  }
  function later() { clearTimeout(timer); timer = setTimeout(tryIt, 250); }

  $('tryit').addEventListener('input', later);

  $('save').addEventListener('click', async () => {
    $('status').textContent = cfg.texts.saving;
    $('errors').innerHTML = '';
    try {
      const { xml } = await modeler.saveXML({ format: true });
      const response = await fetch(cfg.saveUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': cfg.csrf },
        body: JSON.stringify({ xml: xml, note: $('note').value }),
      });
      const body = await response.json();
      $('status').textContent = response.ok ? body.message : (cfg.texts.invalid + ' ' + (body.message || ''));
      (body.issues || []).forEach((issue) => {
        const li = document.createElement('li');
        li.textContent = (issue.process_id ? issue.process_id + ': ' : '') + (issue.element_id ? '[' + issue.element_id + '] ' : '') + issue.message;
        $('errors').appendChild(li);
      });
    } catch (err) {
      $('status').textContent = cfg.texts.failed + ' ' + String(err.message || err);
    }
  });

  modeler.importXML(cfg.xml).then(() => {
    const table = modeler.getViews().find((v) => v.type === 'decisionTable');
    return table ? modeler.open(table) : null;
  }).then(() => {
    modeler.on('views.changed', () => later());
    const viewer = modeler.getActiveViewer();
    if (viewer) viewer.on('elements.changed', later);
    document.getElementById('dmn').dataset.ready = 'true';
    tryIt();
  }).catch((err) => { $('status').textContent = String(err.message || err); });
})();
