"""The only package that imports SpiffWorkflow: parsing, validation, running, serialising, sandbox, DMN."""
