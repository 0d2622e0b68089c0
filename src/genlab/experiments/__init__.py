"""Studies: one module per experiment stage, testable without DVC."""
