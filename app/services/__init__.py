"""Business logic: one module per process plus shared services. Services flush; callers commit."""
