"""The SQL models: one folder per group, one ``.sql`` file per model, column tests in ``schema.yml``."""
