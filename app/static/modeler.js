/* BPMN editor: bpmn-js Modeler, a side form for what our engine reads, save = validate then deploy. */
(function () {
  'use strict';
  const cfg = JSON.parse(document.getElementById('modeler-config').textContent);
  const SPIFF = 'http://spiffworkflow.org/bpmn/schema/1.0/core';
  const FORM_PROPERTY = 'formJsonSchemaFilename';
  const NAME_EN_PROPERTY = 'name.en';  // the element's (or a pool's process's) name in English
  const DOC_EN_PROPERTY = 'documentation.en';  // its documentation in English (the task page shows it)
  const $ = (id) => document.getElementById(id);
  const modeler = new BpmnJS({ container: '#canvas' });
  window.bpmnModeler = modeler;
  const modeling = modeler.get('modeling');
  const canvas = modeler.get('canvas');
  const moddle = modeler.get('moddle');
  const registry = modeler.get('elementRegistry');
  const selection = modeler.get('selection');
  let current = null;
  let marked = [];

  function localType(bo) { const t = bo.$type.split(':')[1]; return t.charAt(0).toLowerCase() + t.slice(1); }
  function findExt(bo, type) {
    const ee = bo.extensionElements;
    return ee ? (ee.values || []).find((v) => v.$type === type) : undefined;
  }
  function ensureExt(bo) {
    if (!bo.extensionElements) {
      bo.extensionElements = moddle.create('bpmn:ExtensionElements', { values: [] });
      bo.extensionElements.$parent = bo;
    }
    bo.extensionElements.values = bo.extensionElements.values || [];
    return bo.extensionElements;
  }
  function getProp(bo, name) {
    const ps = findExt(bo, 'spiffworkflow:properties');
    const p = ps && (ps.$children || []).find((c) => c.name === name);
    return p ? (p.value || '') : '';
  }
  // Sets a spiffworkflow property on `target` (default: the element's own business object; for a pool, its process).
  function setProp(el, name, value, target) {
    const bo = target || el.businessObject;
    const ee = ensureExt(bo);
    let ps = findExt(bo, 'spiffworkflow:properties');
    if (!ps) { ps = moddle.createAny('spiffworkflow:properties', SPIFF, { $children: [] }); ee.values.push(ps); }
    ps.$children = ps.$children || [];
    const p = ps.$children.find((c) => c.name === name);
    if (!value) { if (p) ps.$children.splice(ps.$children.indexOf(p), 1); }
    else if (!p) ps.$children.push(moddle.createAny('spiffworkflow:property', SPIFF, { name: name, value: value }));
    else p.value = value;
    if (bo === el.businessObject) modeling.updateProperties(el, { extensionElements: ee });
    else modeling.updateModdleProperties(el, bo, { extensionElements: ee });
  }
  // Whose English name the field edits: a pool's process (the process name), else the element itself.
  function nameTarget(el) {
    const bo = el.businessObject;
    return bo.$type === 'bpmn:Participant' ? bo.processRef : bo;
  }
  function eventDef(bo, type) { return (bo.eventDefinitions || []).find((d) => d.$type === type); }

  function show(kind, on) {
    document.querySelectorAll('#sel-form [data-for]').forEach((f) => {
      if (f.dataset.for.split(' ').includes(kind)) f.hidden = !on;
    });
  }

  function fill(el) {
    current = el;
    const bo = el && el.businessObject;
    const visible = bo && el.type !== 'label' && bo.$type !== 'bpmn:Process' && bo.$type !== 'bpmn:Collaboration';
    $('sel-none').hidden = !!visible;
    $('sel-form').hidden = !visible;
    if (!visible) return;
    const type = localType(bo);
    $('sel-id').textContent = bo.id;
    $('sel-type').textContent = type;
    $('p-name').value = bo.name || '';
    $('p-doc').value = (bo.documentation && bo.documentation[0] && bo.documentation[0].text) || '';
    document.querySelectorAll('#sel-form [data-for]').forEach((f) => { f.hidden = f.dataset.for !== 'doc'; });
    const target = nameTarget(el);
    show('nameEn', !!target && type !== 'lane' && type !== 'sequenceFlow');
    $('p-name-en').value = target ? getProp(target, NAME_EN_PROPERTY) : '';
    // Beside the documentation field, on the element itself (a pool's documentation is the participant's own).
    show('docEn', type !== 'lane' && type !== 'sequenceFlow' && type !== 'participant');
    $('p-doc-en').value = getProp(bo, DOC_EN_PROPERTY);
    if (type === 'lane') {
      show('doc', false); show('lane', true);
      const code = bo.id.startsWith('lane_') ? bo.id.slice(5) : bo.id;
      $('p-group').value = Array.from($('p-group').options).some((o) => o.value === code) ? code : '';
    }
    if (type === 'userTask' || type === 'startEvent') { show(type, true); $('p-form').value = getProp(bo, FORM_PROPERTY); }
    if (type === 'businessRuleTask') {
      const d = findExt(bo, 'spiffworkflow:calledDecisionId');
      $('p-decision').value = d ? (d.$body || '').trim() : '';
    }
    show('businessRuleTask', type === 'businessRuleTask');
    if (type === 'sequenceFlow') {
      show('sequenceFlow', true); show('doc', false);
      $('p-condition').value = bo.conditionExpression ? (bo.conditionExpression.body || '') : '';
    }
    const timer = eventDef(bo, 'bpmn:TimerEventDefinition');
    show('timer', !!timer);
    if (timer) {
      const kind = ['timeDuration', 'timeDate', 'timeCycle'].find((k) => timer[k]) || 'timeDuration';
      $('p-timer-kind').value = kind;
      $('p-timer').value = timer[kind] ? (timer[kind].body || '') : '';
    }
    const msg = eventDef(bo, 'bpmn:MessageEventDefinition');
    show('message', !!msg);
    if (msg) {
      const select = $('p-message');
      select.innerHTML = '<option value="">—</option>';
      modeler.getDefinitions().rootElements.filter((r) => r.$type === 'bpmn:Message').forEach((m) => {
        const o = document.createElement('option');
        o.value = m.id; o.textContent = m.id + ' · ' + (m.name || '');
        select.appendChild(o);
      });
      select.value = msg.messageRef ? msg.messageRef.id : '';
    }
  }

  function onChange(id, handler) { $(id).addEventListener('change', () => { if (current) handler(current); }); }
  onChange('p-name', (el) => modeling.updateProperties(el, { name: $('p-name').value }));
  onChange('p-name-en', (el) => setProp(el, NAME_EN_PROPERTY, $('p-name-en').value.trim(), nameTarget(el)));
  onChange('p-doc-en', (el) => setProp(el, DOC_EN_PROPERTY, $('p-doc-en').value.trim()));
  onChange('p-doc', (el) => {
    const text = $('p-doc').value;
    modeling.updateProperties(el, { documentation: text ? [moddle.create('bpmn:Documentation', { text: text })] : [] });
  });
  onChange('p-group', (el) => {
    const option = $('p-group').selectedOptions[0];
    const code = option.value;
    if (!code) return;
    const taken = (code === cfg.processId) || (registry.get(code) && registry.get(code) !== el);
    const props = { id: taken ? 'lane_' + code : code };
    if (option.dataset.name) props.name = option.dataset.name;
    modeling.updateProperties(el, props);
    fill(el);
  });
  onChange('p-form', (el) => setProp(el, FORM_PROPERTY, $('p-form').value));
  onChange('p-decision', (el) => {
    const bo = el.businessObject;
    const ee = ensureExt(bo);
    let d = findExt(bo, 'spiffworkflow:calledDecisionId');
    if (!d) { d = moddle.createAny('spiffworkflow:calledDecisionId', SPIFF, {}); ee.values.push(d); }
    d.$body = $('p-decision').value.trim();
    modeling.updateProperties(el, { extensionElements: ee });
  });
  onChange('p-condition', (el) => {
    const body = $('p-condition').value.trim();
    modeling.updateProperties(el, {
      conditionExpression: body ? moddle.create('bpmn:FormalExpression', { body: body }) : undefined,
    });
  });
  function setTimer(el) {
    const timer = eventDef(el.businessObject, 'bpmn:TimerEventDefinition');
    const kind = $('p-timer-kind').value;
    const props = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
    props[kind] = moddle.create('bpmn:FormalExpression', { body: $('p-timer').value.trim() });
    modeling.updateModdleProperties(el, timer, props);
  }
  onChange('p-timer', setTimer);
  onChange('p-timer-kind', setTimer);
  onChange('p-message', (el) => {
    const msg = eventDef(el.businessObject, 'bpmn:MessageEventDefinition');
    const ref = modeler.getDefinitions().rootElements.find((r) => r.id === $('p-message').value);
    modeling.updateModdleProperties(el, msg, { messageRef: ref });
  });

  modeler.on('selection.changed', (e) => fill(e.newSelection.length === 1 ? e.newSelection[0] : null));

  function clearErrors() {
    marked.forEach((id) => { if (registry.get(id)) canvas.removeMarker(id, 'has-error'); });
    marked = [];
    $('errors').innerHTML = '';
  }

  function showErrors(issues) {
    clearErrors();
    issues.forEach((issue) => {
      const li = document.createElement('li');
      const id = issue.element_id;
      li.textContent = (id ? '[' + id + '] ' : '') + issue.message;
      if (id) li.dataset.elementId = id;
      if (id && registry.get(id)) {
        canvas.addMarker(id, 'has-error');
        marked.push(id);
        li.classList.add('clickable');
        li.tabIndex = 0;
        const go = () => {
          const el = registry.get(id);
          selection.select(el);
          if (canvas.scrollToElement) canvas.scrollToElement(el);
        };
        li.addEventListener('click', go);
        li.addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
      }
      $('errors').appendChild(li);
    });
  }

  async function open(xml) {
    const result = await modeler.importXML(xml);
    canvas.zoom('fit-viewport');
    clearErrors();
    fill(null);
    return result;
  }

  $('upload').addEventListener('change', (e) => {
    const file = e.target.files[0];
    if (!file) return;
    file.text().then((text) => open(text)).then(() => { $('status').textContent = file.name; })
      .catch((err) => { $('status').textContent = String(err.message || err); });
  });

  $('save').addEventListener('click', async () => {
    $('status').textContent = cfg.texts.saving;
    $('save').disabled = true;
    try {
      const { xml } = await modeler.saveXML({ format: true });
      const response = await fetch(cfg.saveUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': cfg.csrf },
        body: JSON.stringify({ xml: xml, note: $('note').value }),
      });
      const body = await response.json();
      if (response.ok) {
        clearErrors();
        $('current-version').textContent = body.version;
        $('download').href = cfg.downloadUrl + body.version + '/bpmn';
        $('status').textContent = body.message;
      } else {
        $('status').textContent = response.status === 422 ? cfg.texts.invalid + ' ' + body.message : body.message || cfg.texts.failed;
        showErrors(body.issues || []);
      }
    } catch (err) {
      $('status').textContent = cfg.texts.failed + ' ' + String(err.message || err);
    } finally {
      $('save').disabled = false;
    }
  });

  open(cfg.xml).catch((err) => { $('status').textContent = String(err.message || err); });
})();
