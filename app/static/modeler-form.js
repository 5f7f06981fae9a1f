/* Form editor: JSON Schema in a textarea, live preview rendered server-side by the inbox's renderer. */
(function () {
  'use strict';
  const cfg = JSON.parse(document.getElementById('form-config').textContent);
  const $ = (id) => document.getElementById(id);
  let timer = null;
  let seq = 0;

  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': cfg.csrf },
      body: JSON.stringify(body),
    });
  }

  async function refresh() {
    const mine = ++seq;
    const response = await post(cfg.previewUrl, { text: $('schema').value });
    const body = await response.json();
    if (mine !== seq) return; // a newer edit is already on its way
    $('preview-error').textContent = body.error || '';
    if (body.html !== null && body.html !== undefined) $('preview').innerHTML = body.html;
  }

  $('schema').addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(refresh, 300); });
  $('save').addEventListener('click', async () => {
    $('status').textContent = cfg.texts.saving;
    try {
      const response = await post(cfg.saveUrl, { text: $('schema').value, note: $('note').value });
      const body = await response.json();
      $('status').textContent = body.message + (body.issues ? ' ' + body.issues.map((i) => i.message).join('; ') : '');
    } catch (err) {
      $('status').textContent = cfg.texts.failed + ' ' + String(err.message || err);
    }
  });
})();
