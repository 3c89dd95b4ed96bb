"""The label-efficiency simulation, one concern per module: arms (what is compared), lab (model operations
through the service's own code), loop (rounds), records (resumable CSV), stats and report (tables, plots)."""
