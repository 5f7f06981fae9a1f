"""Browser assets come from node_modules (installed by npm ci), only for the allowed packages."""


def test_allowed_assets_are_served(client):
    response = client.get("/vendor/bpmn-js/bpmn-viewer.production.min.js")
    assert response.status_code == 200 and b"BpmnJS" in response.data[:200000]
    assert client.get("/vendor/dmn-js/dmn-modeler.production.min.js").status_code == 200
    assert client.get("/vendor/cytoscape/cytoscape.min.js").status_code == 200


def test_nothing_else_under_node_modules(client):
    assert client.get("/vendor/bpmn-js/../package.json").status_code == 404
    assert client.get("/vendor/min-dash/package.json").status_code == 404
    assert client.get("/vendor/bpmn-js/%2e%2e/package.json").status_code == 404
