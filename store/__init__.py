"""The model store: the `Store` interface and its two backends (a local directory, MLflow's Model Registry)."""
